import type { ByteFeed, Parser } from "./byte-feed";
import { inspectionErrors } from "./inspection-error";
import type { ParsedAudio } from "./types";

const STREAMINFO = 0;

/**
 * FLAC: the duration is STREAMINFO's total samples over its sample rate. The other metadata blocks
 * are skipped to check that audio frames follow them; the frames themselves are not read.
 */
export function* parseFlac(feed: ByteFeed): Parser<ParsedAudio> {
  yield* feed.skip(4); // "fLaC", checked by the sniffer
  const blockHeader = yield* feed.read(4);
  if (!blockHeader) throw inspectionErrors.truncated("flac", "its STREAMINFO block");
  if ((blockHeader[0]! & 0x7f) !== STREAMINFO) throw inspectionErrors.corrupt("flac", "STREAMINFO is not its first block");
  let last = (blockHeader[0]! & 0x80) !== 0;
  const blockLength = (blockHeader[1]! << 16) | (blockHeader[2]! << 8) | blockHeader[3]!;
  if (blockLength < 34) throw inspectionErrors.corrupt("flac", "its STREAMINFO block is too short");
  const info = yield* feed.read(34);
  if (!info) throw inspectionErrors.truncated("flac", "its STREAMINFO block");
  if (!(yield* feed.skip(blockLength - 34))) throw inspectionErrors.truncated("flac", "its STREAMINFO block");

  // Bit layout from byte 10: sample rate (20 bits), channels − 1 (3), bits per sample − 1 (5), total samples (36).
  const sampleRate = (info[10]! << 12) | (info[11]! << 4) | (info[12]! >> 4);
  const channels = ((info[12]! >> 1) & 0x07) + 1;
  const totalSamples = (info[13]! & 0x0f) * 2 ** 32 + new DataView(info.buffer, info.byteOffset + 14, 4).getUint32(0);
  if (sampleRate === 0) throw inspectionErrors.corrupt("flac", "its sample rate is 0");
  // 0 means "unknown" (a live encoder that could not seek back); counting frames is not worth it here.
  if (totalSamples === 0) throw inspectionErrors.noDuration("flac");

  while (!last) {
    const header = yield* feed.read(4);
    if (!header) throw inspectionErrors.truncated("flac", "its audio");
    last = (header[0]! & 0x80) !== 0;
    if (!(yield* feed.skip((header[1]! << 16) | (header[2]! << 8) | header[3]!))) throw inspectionErrors.truncated("flac", "its audio");
  }
  const sync = yield* feed.peek(2);
  if (!sync) throw inspectionErrors.truncated("flac", "its audio");
  // Every FLAC frame starts with the 14-bit sync code 0b11111111111110.
  if (sync[0] !== 0xff || (sync[1]! & 0xfe) !== 0xf8) throw inspectionErrors.corrupt("flac", "no audio frame follows its metadata");
  return { durationSeconds: totalSamples / sampleRate, sampleRate, channels, codec: "flac" };
}
