import type { ByteFeed, Parser } from "./byte-feed";
import { inspectionErrors } from "./inspection-error";
import type { ParsedAudio } from "./types";

/** Matroska element IDs (with their length markers, as written). */
const ID = {
  EBML: 0x1a45dfa3,
  DocType: 0x4282,
  Segment: 0x18538067,
  Info: 0x1549a966,
  TimecodeScale: 0x2ad7b1,
  Duration: 0x4489,
  Tracks: 0x1654ae6b,
  TrackEntry: 0xae,
  TrackNumber: 0xd7,
  TrackType: 0x83,
  CodecID: 0x86,
  DefaultDuration: 0x23e383,
  CodecDelay: 0x56aa,
  Audio: 0xe1,
  SamplingFrequency: 0xb5,
  Channels: 0x9f,
  Cluster: 0x1f43b675,
  Timecode: 0xe7,
  SimpleBlock: 0xa3,
  BlockGroup: 0xa0,
  Block: 0xa1,
  BlockDuration: 0x9b,
  DiscardPadding: 0x75a2,
} as const;

/** Masters whose children are read; every other element is skipped by its size. */
const ENTERED = new Set<number>([ID.EBML, ID.Segment, ID.Info, ID.Tracks, ID.TrackEntry, ID.Audio, ID.Cluster, ID.BlockGroup]);
/** Other masters that may have an unknown size (then they can only be walked into, not skipped). */
const OTHER_MASTERS = new Set<number>([0x114d9b74, 0x1c53bb6b, 0x1254c367, 0x1043a770, 0x1941a469]); // SeekHead, Cues, Tags, Chapters, Attachments
const VALUES = new Set<number>([
  ID.DocType,
  ID.TimecodeScale,
  ID.Duration,
  ID.TrackNumber,
  ID.TrackType,
  ID.CodecID,
  ID.DefaultDuration,
  ID.CodecDelay,
  ID.SamplingFrequency,
  ID.Channels,
  ID.Timecode,
  ID.BlockDuration,
  ID.DiscardPadding,
]);
const AUDIO_TRACK = 2;
const MAX_VALUE_BYTES = 64;

interface Track {
  number: number;
  type: number;
  codecId: string;
  /** Nanoseconds per frame, when the muxer says. */
  defaultDuration: number;
  /** Nanoseconds the decoder drops at the start (Opus pre-skip), included in the block times. */
  codecDelay: number;
  sampleRate?: number;
  channels?: number;
}

interface ElementHeader {
  id: number;
  /** Null: unknown size (MediaRecorder writes its Segment and Clusters this way while it streams). */
  size: number | null;
  length: number;
}

/**
 * WEBM/Matroska: walks the element tree as it streams by. The duration is Segment Info's Duration ×
 * TimecodeScale when the muxer wrote one. Browser MediaRecorder output has none (and unknown-size
 * Segment and Clusters), so otherwise it is measured from the blocks: from the first block's time
 * to the last one's end (cluster Timecode + the block's relative time + the block's own length:
 * its BlockDuration, the Opus packet length read from its first byte, the track's DefaultDuration,
 * or the gap before it, less any DiscardPadding), less the track's CodecDelay (Opus pre-skip).
 */
export function* parseWebm(feed: ByteFeed): Parser<ParsedAudio> {
  let docType: string | null = null;
  let timecodeScale = 1_000_000; // ns per tick: the Matroska default
  let durationTicks: number | null = null;
  const tracks: Track[] = [];
  let track: Track | undefined;
  let clusterTimecode = 0;
  // The open BlockGroup: its Block's end is settled once its BlockDuration and DiscardPadding (the
  // silence an encoder added to fill the last packet, in ns), which may come before or after it, are known.
  let group: { end: number; start: number | null; estimate: number; duration: number | null; discard: number } | null = null;
  let firstStart = Infinity;
  let lastEnd = -Infinity;
  let previousStart: number | null = null;
  let cutShort = false;

  const audioTrack = () => tracks.find((t) => t.type === AUDIO_TRACK || t.codecId.startsWith("A_"));
  const endGroup = () => {
    if (group?.start != null) lastEnd = Math.max(lastEnd, group.start + (group.duration ?? group.estimate) - group.discard);
    group = null;
  };

  for (;;) {
    if (group && feed.position >= group.end) endGroup();
    const head = yield* feed.peekUpTo(12);
    if (head.length === 0) break;
    let header: ElementHeader | null;
    try {
      header = readElementHeader(head);
    } catch (error) {
      if (firstStart < Infinity) break; // junk (or zero padding) after the audio
      throw error;
    }
    if (!header) {
      cutShort = true;
      break;
    }
    const { id, size } = header;
    feed.advance(header.length);

    if (ENTERED.has(id) || (size === null && OTHER_MASTERS.has(id))) {
      if (id === ID.Segment && docType === null) throw inspectionErrors.corrupt("webm", "its EBML header names no document type");
      if (id === ID.Segment && docType !== "webm" && docType !== "matroska") {
        throw inspectionErrors.unsupported("webm", `This file is an EBML "${docType}" document, not WEBM audio, so it cannot be used.`);
      }
      if (id === ID.TrackEntry) tracks.push((track = { number: 0, type: 0, codecId: "", defaultDuration: 0, codecDelay: 0 }));
      if (id === ID.Cluster) clusterTimecode = 0;
      if (id === ID.BlockGroup) {
        endGroup();
        if (size !== null) group = { end: feed.position + size, start: null, estimate: 0, duration: null, discard: 0 };
      }
      continue;
    }
    if (size === null) throw inspectionErrors.corrupt("webm", "an element other than a Segment or Cluster has an unknown size");

    if (VALUES.has(id) && size <= MAX_VALUE_BYTES) {
      const body = yield* feed.read(size);
      if (!body) {
        cutShort = true;
        break;
      }
      const value =
        id === ID.DocType || id === ID.CodecID ? ascii(body) : id === ID.Duration || id === ID.SamplingFrequency ? float(body) : uint(body);
      switch (id) {
        case ID.DocType:
          docType = value as string;
          break;
        case ID.TimecodeScale:
          if ((value as number) > 0) timecodeScale = value as number;
          break;
        case ID.Duration:
          durationTicks = value as number;
          break;
        case ID.Timecode:
          clusterTimecode = value as number;
          break;
        case ID.BlockDuration:
          if (group) group.duration = (value as number) * timecodeScale;
          break;
        case ID.DiscardPadding:
          // A signed integer; only a positive one (padding at the end) shortens the block.
          if (group && body.length <= 6 && !(body[0]! & 0x80)) group.discard = value as number;
          break;
        default:
          if (track) setTrackValue(track, id, value);
      }
      continue;
    }

    if (id === ID.SimpleBlock || id === ID.Block) {
      const block = readBlockHeader(yield* feed.peekUpTo(Math.min(size, 16)));
      const audio = audioTrack();
      if (block && (!audio || block.track === audio.number)) {
        const start = (clusterTimecode + block.timecode) * timecodeScale;
        let estimate = 0;
        if (block.opusPacketNs !== null && audio?.codecId === "A_OPUS") estimate = block.opusPacketNs;
        else if (audio?.defaultDuration) estimate = audio.defaultDuration * block.frames;
        else if (previousStart !== null) estimate = Math.max(0, start - previousStart);
        previousStart = start;
        firstStart = Math.min(firstStart, start);
        if (id === ID.Block && group) Object.assign(group, { start, estimate });
        else lastEnd = Math.max(lastEnd, start + estimate);
      }
    }
    if (!(yield* feed.skip(size))) {
      cutShort = true;
      break;
    }
  }
  endGroup();

  const audio = audioTrack();
  if (!audio) {
    if (cutShort || tracks.length === 0) throw inspectionErrors.truncated("webm", "its track list");
    throw inspectionErrors.unsupported("webm", "This WEBM file has no audio track, so it cannot be used.");
  }
  let durationSeconds: number;
  if (durationTicks !== null && durationTicks > 0) durationSeconds = (durationTicks * timecodeScale) / 1e9;
  else if (lastEnd > firstStart) durationSeconds = (lastEnd - firstStart - audio.codecDelay) / 1e9;
  else if (cutShort) throw inspectionErrors.truncated("webm", "its first audio block");
  else throw inspectionErrors.noDuration("webm");
  return { durationSeconds, sampleRate: audio.sampleRate, channels: audio.channels, codec: codecName(audio.codecId) };
}

function setTrackValue(track: Track, id: number, value: number | string): void {
  if (id === ID.TrackNumber) track.number = value as number;
  else if (id === ID.TrackType) track.type = value as number;
  else if (id === ID.CodecID) track.codecId = value as string;
  else if (id === ID.DefaultDuration) track.defaultDuration = value as number;
  else if (id === ID.CodecDelay) track.codecDelay = value as number;
  else if (id === ID.SamplingFrequency) track.sampleRate = Math.round(value as number);
  else if (id === ID.Channels) track.channels = value as number;
}

/** An element's ID and size from the start of `b`, or null if `b` ends inside them. */
function readElementHeader(b: Uint8Array): ElementHeader | null {
  const idLength = vintLength(b[0]!);
  if (idLength > 4) throw inspectionErrors.corrupt("webm", "an element ID is invalid");
  if (b.length < idLength + 1) return null;
  const sizeLength = vintLength(b[idLength]!);
  if (sizeLength > 8) throw inspectionErrors.corrupt("webm", "an element size is invalid");
  if (b.length < idLength + sizeLength) return null;
  let id = 0;
  for (let i = 0; i < idLength; i++) id = id * 256 + b[i]!;
  // The size's value bits: all ones means "unknown".
  const mask = 0xff >> sizeLength;
  let size = b[idLength]! & mask;
  let allOnes = size === mask;
  for (let i = 1; i < sizeLength; i++) {
    const byte = b[idLength + i]!;
    size = size * 256 + byte;
    allOnes &&= byte === 0xff;
  }
  return { id, size: allOnes ? null : size, length: idLength + sizeLength };
}

/** A variable-length integer's length from its first byte: the position of the first set bit (9 when there is none). */
function vintLength(first: number): number {
  return Math.clz32(first) - 23;
}

/** A Block's or SimpleBlock's header: track number, timecode relative to its cluster, frame count, Opus packet length. */
function readBlockHeader(b: Uint8Array): { track: number; timecode: number; frames: number; opusPacketNs: number | null } | null {
  const trackLength = vintLength(b[0] ?? 0);
  if (trackLength > 8 || b.length < trackLength + 3) return null;
  let track = b[0]! & (0xff >> trackLength);
  for (let i = 1; i < trackLength; i++) track = track * 256 + b[i]!;
  const timecode = new DataView(b.buffer, b.byteOffset + trackLength, 2).getInt16(0);
  const lacing = (b[trackLength + 2]! >> 1) & 3;
  const payload = trackLength + 3;
  if (lacing !== 0) return { track, timecode, frames: (b[payload] ?? 0) + 1, opusPacketNs: null };
  const toc = b[payload];
  return { track, timecode, frames: 1, opusPacketNs: toc === undefined ? null : opusPacketNs(toc, b[payload + 1]) };
}

/** An Opus packet's length from its TOC byte (RFC 6716 §3.1) and, for code 3, the frame-count byte after it. */
function opusPacketNs(toc: number, countByte: number | undefined): number {
  const config = toc >> 3;
  const frameMs = config < 12 ? [10, 20, 40, 60][config & 3]! : config < 16 ? [10, 20][config & 1]! : [2.5, 5, 10, 20][config & 3]!;
  const code = toc & 3;
  const frames = code === 0 ? 1 : code < 3 ? 2 : (countByte ?? 0) & 0x3f;
  return frameMs * frames * 1e6;
}

function uint(b: Uint8Array): number {
  let value = 0;
  for (const byte of b) value = value * 256 + byte;
  return value;
}

function float(b: Uint8Array): number {
  const view = new DataView(b.buffer, b.byteOffset, b.length);
  return b.length === 4 ? view.getFloat32(0) : b.length === 8 ? view.getFloat64(0) : 0;
}

function ascii(b: Uint8Array): string {
  return String.fromCharCode(...b).replace(/\0+$/, "");
}

const CODECS: Record<string, string> = { A_OPUS: "opus", A_VORBIS: "vorbis", A_FLAC: "flac", "A_MPEG/L3": "mp3", A_AC3: "ac3" };

function codecName(codecId: string): string {
  if (codecId.startsWith("A_AAC")) return "aac";
  if (codecId.startsWith("A_PCM")) return "pcm";
  return CODECS[codecId] ?? codecId.replace(/^A_/, "").toLowerCase();
}
