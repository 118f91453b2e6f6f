import type { ByteFeed, Parser } from "./byte-feed";
import { inspectionErrors } from "./inspection-error";
import type { ParsedAudio } from "./types";

const WAVE_FORMAT = { pcm: 0x0001, float: 0x0003, alaw: 0x0006, mulaw: 0x0007, extensible: 0xfffe } as const;

/** wFormatTag values whose data is one fixed-size block per sample frame, so bytes give the duration exactly. */
const BLOCK_CODECS = new Set<number>([WAVE_FORMAT.pcm, WAVE_FORMAT.float, WAVE_FORMAT.alaw, WAVE_FORMAT.mulaw]);

/** A data size that means "unknown, read to the end": what streaming writers leave when they cannot seek back. */
const UNKNOWN_SIZES = new Set([0, 0xffffffff]);

interface Fmt {
  formatTag: number;
  channels: number;
  sampleRate: number;
  byteRate: number;
  blockAlign: number;
  bitsPerSample: number;
}

/**
 * WAV (RIFF/WAVE, and RF64): walks the chunks; the duration is the data chunk's size over the
 * fmt chunk's block size (or the `fact` sample count for compressed data). A data chunk whose
 * size is 0 or 0xFFFFFFFF, or larger than what arrives, is measured by counting its bytes.
 */
export function* parseWav(feed: ByteFeed): Parser<ParsedAudio> {
  const riff = yield* feed.read(12);
  if (!riff) throw inspectionErrors.truncated("wav", "its RIFF header");
  const rf64 = riff[0] === 0x52 && riff[1] === 0x46 && riff[2] === 0x36; // "RF6"
  let fmt: Fmt | null = null;
  let factSamples: number | null = null;
  let ds64DataSize: number | null = null;
  let dataBytes: number | null = null;

  for (;;) {
    const header = yield* feed.read(8);
    if (!header) break; // the end, or fewer than 8 stray bytes after the last chunk
    const id = String.fromCharCode(header[0]!, header[1]!, header[2]!, header[3]!);
    const view = new DataView(header.buffer, header.byteOffset, 8);
    const size = view.getUint32(4, true);
    const padded = size + (size & 1); // chunks are word-aligned: an odd size is followed by a pad byte

    if (id === "data") {
      const declared = rf64 && size === 0xffffffff && ds64DataSize !== null ? ds64DataSize : size;
      if (UNKNOWN_SIZES.has(declared)) {
        dataBytes = yield* feed.skipToEnd();
        break;
      }
      const start = feed.position;
      if (!(yield* feed.skip(declared + (declared % 2)))) {
        dataBytes = Math.min(declared, feed.received - start); // cut short: measure what is there
        break;
      }
      dataBytes = declared;
      // Chunks may follow the data (LIST, id3, …); fmt may even come after it.
      continue;
    }
    if (id === "fmt " || id === "fact" || id === "ds64") {
      const body = yield* feed.read(Math.min(size, 40));
      if (!body || body.length < Math.min(size, 40)) throw inspectionErrors.truncated("wav", `its ${id.trim()} chunk`);
      const b = new DataView(body.buffer, body.byteOffset, body.length);
      if (id === "fmt ") {
        if (size < 16) throw inspectionErrors.corrupt("wav", "its fmt chunk is too short");
        fmt = {
          formatTag: b.getUint16(0, true),
          channels: b.getUint16(2, true),
          sampleRate: b.getUint32(4, true),
          byteRate: b.getUint32(8, true),
          blockAlign: b.getUint16(12, true),
          bitsPerSample: b.getUint16(14, true),
        };
        // WAVE_FORMAT_EXTENSIBLE: the real format is the first two bytes of the SubFormat GUID.
        if (fmt.formatTag === WAVE_FORMAT.extensible && size >= 26) fmt.formatTag = b.getUint16(24, true);
      } else if (id === "fact" && size >= 4) {
        factSamples = b.getUint32(0, true);
      } else if (id === "ds64" && size >= 24) {
        ds64DataSize = b.getUint32(16, true) + b.getUint32(20, true) * 2 ** 32;
      }
      if (!(yield* feed.skip(padded - Math.min(size, 40)))) break;
      continue;
    }
    if (!(yield* feed.skip(padded))) break;
  }

  if (!fmt) throw inspectionErrors.truncated("wav", "its fmt chunk");
  if (dataBytes === null) throw inspectionErrors.truncated("wav", "its data chunk");
  if (fmt.channels === 0 || fmt.sampleRate === 0) throw inspectionErrors.corrupt("wav", "its fmt chunk has no channels or no sample rate");

  let durationSeconds: number;
  if (BLOCK_CODECS.has(fmt.formatTag) && fmt.blockAlign > 0) {
    durationSeconds = Math.floor(dataBytes / fmt.blockAlign) / fmt.sampleRate;
  } else if (factSamples !== null) {
    durationSeconds = factSamples / fmt.sampleRate;
  } else if (fmt.byteRate > 0) {
    durationSeconds = dataBytes / fmt.byteRate;
  } else {
    throw inspectionErrors.noDuration("wav");
  }
  return { durationSeconds, sampleRate: fmt.sampleRate, channels: fmt.channels, codec: wavCodec(fmt) };
}

function wavCodec({ formatTag, bitsPerSample }: Fmt): string {
  switch (formatTag) {
    case WAVE_FORMAT.pcm:
      return bitsPerSample <= 8 ? "pcm_u8" : `pcm_s${bitsPerSample}le`;
    case WAVE_FORMAT.float:
      return `pcm_f${bitsPerSample}le`;
    case WAVE_FORMAT.alaw:
      return "pcm_alaw";
    case WAVE_FORMAT.mulaw:
      return "pcm_mulaw";
    case 0x0002:
      return "adpcm_ms";
    case 0x0011:
      return "adpcm_ima_wav";
    case 0x0055:
      return "mp3";
    default:
      return `wav_0x${formatTag.toString(16).padStart(4, "0")}`;
  }
}
