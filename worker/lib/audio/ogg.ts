import type { ByteFeed, Parser } from "./byte-feed";
import { inspectionErrors } from "./inspection-error";
import type { ParsedAudio } from "./types";

const PAGE_HEADER = 27;
const BEGINNING_OF_STREAM = 0x02;
const END_OF_STREAM = 0x04;
/** Opus always decodes at 48 kHz, whatever rate the encoder was given; its granule positions count 48 kHz samples. */
const OPUS_RATE = 48_000;

interface AudioStream {
  codec: "opus" | "vorbis";
  sampleRate: number;
  channels: number;
  /** Opus: samples the decoder drops at the start (RFC 7845 §4.2), included in the granule positions. */
  preSkip: number;
  lastGranule: number | null;
  ended: boolean;
}

/**
 * OGG with Opus or Vorbis: reads every page header (27 bytes + segment table) and skips the page
 * bodies. The duration is the last complete page's granule position, in samples, of the audio
 * stream (minus Opus pre-skip). Chained files (one audio stream after another) add up.
 */
export function* parseOgg(feed: ByteFeed): Parser<ParsedAudio> {
  const chain: AudioStream[] = [];
  const streams = new Map<number, AudioStream | null>(); // by serial number; null: not an audio stream we measure
  let pages = 0;
  let otherCodec: string | null = null;

  for (;;) {
    const header = yield* feed.peekUpTo(PAGE_HEADER);
    if (header.length === 0) break;
    if (!startsWithCapture(header, 0)) {
      if (pages === 0) throw inspectionErrors.corrupt("ogg", "its first page is damaged");
      if (!(yield* resync(feed))) break;
      continue;
    }
    if (header.length < PAGE_HEADER) break; // a page header cut short at the end
    const view = new DataView(header.buffer, header.byteOffset, PAGE_HEADER);
    const flags = header[5]!;
    const granuleLow = view.getUint32(6, true);
    const granuleHigh = view.getUint32(10, true);
    // -1 means no packet ends on this page.
    const granule = granuleLow === 0xffffffff && granuleHigh === 0xffffffff ? null : granuleHigh * 2 ** 32 + granuleLow;
    const serial = view.getUint32(14, true);
    const segmentCount = header[26]!;
    feed.advance(PAGE_HEADER);
    const lacing = yield* feed.read(segmentCount);
    if (!lacing) break;
    let bodyLength = 0;
    for (let i = 0; i < segmentCount; i++) bodyLength += lacing[i]!;

    // A serial number seen before starts a new stream only once the old one has ended (files joined end to end).
    if (flags & BEGINNING_OF_STREAM && (!streams.has(serial) || streams.get(serial)?.ended)) {
      const stream = identify(yield* feed.peekUpTo(Math.min(bodyLength, 20)));
      if (stream === null || typeof stream === "string") {
        otherCodec ??= stream;
        streams.set(serial, null);
      } else if (chain.every((s) => s.ended)) {
        chain.push(stream);
        streams.set(serial, stream);
      } else {
        streams.set(serial, null); // a second audio stream playing alongside the first: measure one
      }
    }
    if (!(yield* feed.skip(bodyLength))) break; // the last page cut short: its granule position does not count
    pages++;
    const stream = streams.get(serial);
    if (stream) {
      if (granule !== null) stream.lastGranule = granule;
      if (flags & END_OF_STREAM) stream.ended = true;
    }
  }

  if (pages === 0) throw inspectionErrors.truncated("ogg", "its first page");
  const first = chain[0];
  if (!first) {
    const found = otherCodec ? ` (it holds ${otherCodec})` : "";
    throw inspectionErrors.unsupported("ogg", `This OGG file does not contain Opus or Vorbis audio${found}, so it cannot be used.`);
  }
  // Header pages carry granule position 0: only audio pages move it on.
  if (chain.every((s) => !s.lastGranule)) throw inspectionErrors.truncated("ogg", "its audio");
  let durationSeconds = 0;
  for (const s of chain) {
    if (s.lastGranule !== null) durationSeconds += Math.max(0, s.lastGranule - s.preSkip) / s.sampleRate;
  }
  return { durationSeconds, sampleRate: first.sampleRate, channels: first.channels, codec: first.codec };
}

/** The stream an identification header starts, the name of a codec we do not take, or null. */
function identify(packet: Uint8Array): AudioStream | string | null {
  const text = String.fromCharCode(...packet.subarray(0, 8));
  const view = new DataView(packet.buffer, packet.byteOffset, packet.length);
  if (text === "OpusHead" && packet.length >= 12) {
    return {
      codec: "opus",
      sampleRate: OPUS_RATE,
      channels: packet[9]!,
      preSkip: view.getUint16(10, true),
      lastGranule: null,
      ended: false,
    };
  }
  if (text.slice(0, 7) === "\x01vorbis" && packet.length >= 16) {
    const sampleRate = view.getUint32(12, true);
    if (sampleRate === 0) return null;
    return { codec: "vorbis", sampleRate, channels: packet[11]!, preSkip: 0, lastGranule: null, ended: false };
  }
  if (text.slice(1, 5) === "FLAC") return "FLAC";
  if (text.startsWith("Speex")) return "Speex";
  if (text.slice(1, 7) === "theora") return "Theora video";
  return null;
}

function startsWithCapture(b: Uint8Array, at: number): boolean {
  return b[at] === 0x4f && b[at + 1] === 0x67 && b[at + 2] === 0x67 && b[at + 3] === 0x53; // "OggS"
}

/** Skips to the next "OggS" capture pattern (after damage or before trailing junk); false if there is none. */
function* resync(feed: ByteFeed): Parser<boolean> {
  feed.advance(1);
  for (;;) {
    const view = yield* feed.peekUpTo(4096);
    for (let i = view.indexOf(0x4f); i >= 0 && i + 4 <= view.length; i = view.indexOf(0x4f, i + 1)) {
      if (startsWithCapture(view, i)) {
        feed.advance(i);
        return true;
      }
    }
    if (view.length < 4096) {
      feed.advance(view.length);
      return false;
    }
    feed.advance(view.length - 3);
  }
}
