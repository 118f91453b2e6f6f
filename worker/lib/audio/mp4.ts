import type { ByteFeed, Parser } from "./byte-feed";
import { inspectionErrors } from "./inspection-error";
import type { ParsedAudio } from "./types";

/** Boxes whose children matter; every other box is skipped by its size. */
const CONTAINERS = new Set(["moov", "trak", "mdia", "minf", "stbl", "edts", "mvex", "moof", "traf"]);
/** Small boxes read whole (up to this many bytes: enough for all the fields used). */
const READ_BOXES = new Set(["mvhd", "tkhd", "mdhd", "hdlr", "stsd", "mehd", "trex", "tfhd"]);
const SMALL_BOX_BYTES = 4096;
/** trun sample entries read per step. */
const TRUN_BATCH = 1024;
/** Top-level boxes that hold the audio or its index: a file that ends inside one is incomplete. */
const MEDIA_BOXES = new Set(["moov", "mdat", "moof"]);

interface Track {
  id: number;
  handler: string;
  /** mdhd: media time units per second, and the media's length in them. */
  timescale: number;
  mediaDuration: number;
  /** tkhd: the presented length (after edit lists, e.g. minus AAC priming) in movie time units. */
  presentationDuration: number;
  /** Sum of the sample durations in movie fragments (moof/trun), in media time units. */
  fragmentDuration: number;
  sampleRate?: number;
  channels?: number;
  codec?: string;
}

interface Fragment {
  track: Track | undefined;
  defaultSampleDuration: number;
}

/**
 * M4A/MP4/MOV: walks the box tree as it streams by, reading only the few small boxes that describe
 * timing and skipping everything else, including an `mdat` of any size, without buffering it (so
 * `moov` may come before or after the media data). The duration is the audio track's presented
 * length (tkhd, which honours edit lists), else its media length (mdhd); for fragmented files (an
 * empty moov, as Safari's MediaRecorder writes) the sample durations of every `trun`.
 */
export function* parseMp4(feed: ByteFeed): Parser<ParsedAudio> {
  const parents: { type: string; end: number }[] = [];
  const tracks: Track[] = [];
  const defaultDurations = new Map<number, number>(); // trex, by track id
  let movie: { timescale: number; duration: number } | null = null;
  let fragmentedDuration = 0; // mehd, in movie time units
  let track: Track | undefined;
  let fragment: Fragment | undefined;
  // The top-level box the stream ended inside. Ending inside anything but the media boxes (junk or
  // a cut-off "free" box after a complete file) is harmless.
  let cutInside: string | null = null;

  for (;;) {
    while (parents.length && feed.position >= parents[parents.length - 1]!.end) parents.pop();
    const parent = parents[parents.length - 1];
    const head = yield* feed.peekUpTo(16);
    if (head.length === 0) break;
    if (head.length < 8) {
      if (head.some((b) => b !== 0)) cutInside = parents[0]?.type ?? "";
      break;
    }
    const view = new DataView(head.buffer, head.byteOffset, head.length);
    const type = String.fromCharCode(head[4]!, head[5]!, head[6]!, head[7]!);
    let size = view.getUint32(0);
    let headerSize = 8;
    if (size === 1) {
      if (head.length < 16) {
        cutInside = parents[0]?.type ?? type;
        break;
      }
      size = view.getUint32(8) * 2 ** 32 + view.getUint32(12);
      headerSize = 16;
    } else if (size === 0) {
      size = Infinity; // the box runs to the end of its parent (at the top level, the file)
    }
    if (size < headerSize) {
      if (movie && !parent) break; // junk after a complete file
      throw inspectionErrors.corrupt("m4a", `its ${printable(type)} box has an impossible size`);
    }
    const end = Math.min(feed.position + size, parent?.end ?? Infinity);
    feed.advance(headerSize);

    if (CONTAINERS.has(type)) {
      parents.push({ type, end });
      if (type === "trak")
        tracks.push((track = { id: 0, handler: "", timescale: 0, mediaDuration: 0, presentationDuration: 0, fragmentDuration: 0 }));
      if (type === "traf") fragment = undefined;
      continue;
    }
    if (READ_BOXES.has(type)) {
      const wanted = Math.min(end - feed.position, SMALL_BOX_BYTES);
      const body = yield* feed.peekUpTo(wanted);
      if (body.length < wanted) {
        cutInside = parents[0]?.type ?? type;
        break;
      }
      const b = new DataView(body.buffer, body.byteOffset, body.length);
      const v1 = body[0] === 1; // version 1 boxes have 64-bit times
      const need = (n: number) => {
        if (body.length < n) throw inspectionErrors.corrupt("m4a", `its ${type} box is too short`);
      };
      switch (type) {
        case "mvhd":
          need(v1 ? 32 : 20);
          movie = { timescale: b.getUint32(v1 ? 20 : 12), duration: v1 ? u64(b, 24) : known32(b.getUint32(16)) };
          break;
        case "tkhd":
          need(v1 ? 36 : 24);
          if (track) {
            track.id = b.getUint32(v1 ? 20 : 12);
            track.presentationDuration = v1 ? u64(b, 28) : known32(b.getUint32(20));
          }
          break;
        case "mdhd":
          need(v1 ? 32 : 20);
          if (track) {
            track.timescale = b.getUint32(v1 ? 20 : 12);
            track.mediaDuration = v1 ? u64(b, 24) : known32(b.getUint32(16));
          }
          break;
        case "hdlr":
          need(12);
          // Only mdia's handler names the track's kind (QuickTime also puts a data-reference hdlr in minf).
          if (track && parent?.type === "mdia") track.handler = String.fromCharCode(body[8]!, body[9]!, body[10]!, body[11]!);
          break;
        case "stsd":
          if (track) Object.assign(track, readSampleEntry(body));
          break;
        case "mehd":
          need(v1 ? 12 : 8);
          fragmentedDuration = v1 ? u64(b, 4) : b.getUint32(4);
          break;
        case "trex":
          need(16);
          defaultDurations.set(b.getUint32(4), b.getUint32(12));
          break;
        case "tfhd": {
          need(8);
          const flags = b.getUint32(0) & 0xffffff;
          const trackId = b.getUint32(4);
          // Optional fields, in order: base data offset (8), sample description index (4), default duration (4).
          const at = 8 + (flags & 0x1 ? 8 : 0) + (flags & 0x2 ? 4 : 0);
          if (flags & 0x8) need(at + 4);
          fragment = {
            track: tracks.find((t) => t.id === trackId),
            defaultSampleDuration: flags & 0x8 ? b.getUint32(at) : (defaultDurations.get(trackId) ?? 0),
          };
          break;
        }
      }
    } else if (type === "trun" && fragment?.track) {
      const duration = yield* readTrunDuration(feed, end, fragment.defaultSampleDuration);
      if (duration === null) {
        cutInside = parents[0]?.type ?? type;
        break;
      }
      fragment.track.fragmentDuration += duration;
    }

    if (end === Infinity) {
      yield* feed.skipToEnd();
      break;
    }
    if (!(yield* feed.skip(end - feed.position))) {
      cutInside = parents[0]?.type ?? type;
      break;
    }
  }

  if (!movie) throw inspectionErrors.truncated("m4a", "its index (the moov box, which some apps write last)");
  if (cutInside !== null && MEDIA_BOXES.has(cutInside)) throw inspectionErrors.truncated("m4a", "the end of its audio data");
  const audio = tracks.find((t) => t.handler === "soun");
  if (!audio) throw inspectionErrors.unsupported("m4a", "This M4A/MP4 file has no audio track, so it cannot be used.");

  let durationSeconds = 0;
  if (audio.fragmentDuration > 0 && audio.timescale > 0) {
    durationSeconds = (audio.mediaDuration + audio.fragmentDuration) / audio.timescale;
  } else if (audio.presentationDuration > 0 && movie.timescale > 0) {
    durationSeconds = audio.presentationDuration / movie.timescale;
  } else if (audio.mediaDuration > 0 && audio.timescale > 0) {
    durationSeconds = audio.mediaDuration / audio.timescale;
  } else if (movie.timescale > 0) {
    durationSeconds = (movie.duration || fragmentedDuration) / movie.timescale;
  }
  if (!(durationSeconds > 0)) throw inspectionErrors.noDuration("m4a");
  return {
    durationSeconds,
    sampleRate: audio.sampleRate || audio.timescale || undefined,
    channels: audio.channels,
    codec: audio.codec,
  };
}

/** Sum of the sample durations a `trun` box lists (from its body start to `end`), or null if the stream ends first. */
function* readTrunDuration(feed: ByteFeed, end: number, defaultDuration: number): Parser<number | null> {
  const head = yield* feed.read(8);
  if (!head) return null;
  const view = new DataView(head.buffer, head.byteOffset, 8);
  const flags = view.getUint32(0) & 0xffffff;
  const count = view.getUint32(4);
  if (!(flags & 0x100)) return count * defaultDuration;
  // Optional data offset (4) and first-sample flags (4), then per sample: duration, size, flags, composition offset.
  if (!(yield* feed.skip((flags & 0x1 ? 4 : 0) + (flags & 0x4 ? 4 : 0)))) return null;
  const entrySize = 4 * [0x100, 0x200, 0x400, 0x800].filter((bit) => flags & bit).length;
  if (feed.position + count * entrySize > end) throw inspectionErrors.corrupt("m4a", "a trun box lists more samples than it holds");
  let total = 0;
  for (let done = 0; done < count;) {
    const n = Math.min(TRUN_BATCH, count - done);
    const entries = yield* feed.read(n * entrySize);
    if (!entries) return null;
    const e = new DataView(entries.buffer, entries.byteOffset, entries.length);
    for (let i = 0; i < n; i++) total += e.getUint32(i * entrySize);
    done += n;
  }
  return total;
}

/** Channels, sample rate and codec from the first sample entry of an `stsd` box. */
function readSampleEntry(body: Uint8Array): Pick<Track, "sampleRate" | "channels" | "codec"> {
  const e = 8; // after version/flags and entry count
  if (body.length < e + 36) return {};
  const b = new DataView(body.buffer, body.byteOffset, body.length);
  const format = String.fromCharCode(body[e + 4]!, body[e + 5]!, body[e + 6]!, body[e + 7]!);
  // Audio sample entry: 8 reserved/data-reference bytes, a QuickTime version, then channels (2), bits (2), …, rate (16.16).
  const version = b.getUint16(e + 16);
  const channels = b.getUint16(e + 24);
  const sampleRate = b.getUint32(e + 32) >>> 16;
  const childrenAt = e + 36 + (version === 1 ? 16 : version === 2 ? 36 : 0);
  const entry = { channels: channels || undefined, sampleRate: sampleRate || undefined };
  if (format !== "mp4a") return { ...entry, codec: CODECS[format] ?? printable(format).trim() };
  const { codec, channels: configured } = mp4aDetails(body.subarray(childrenAt, e + b.getUint32(e)));
  return { ...entry, codec, channels: configured ?? entry.channels };
}

const CODECS: Record<string, string> = {
  alac: "alac",
  Opus: "opus",
  fLaC: "flac",
  ".mp3": "mp3",
  "ac-3": "ac3",
  "ec-3": "eac3",
  samr: "amr_nb",
  sawb: "amr_wb",
  sowt: "pcm_s16le",
  twos: "pcm_s16be",
  in24: "pcm_s24be",
  fl32: "pcm_f32be",
  lpcm: "pcm",
  ulaw: "pcm_mulaw",
  alaw: "pcm_alaw",
};

/**
 * Codec and channel count from an mp4a entry's esds box. The entry's own channel count is often a
 * fixed 2 (ffmpeg, ISO template); the AudioSpecificConfig inside esds has the real one.
 */
function mp4aDetails(children: Uint8Array): { codec: string; channels?: number } {
  for (let at = 0; at + 8 <= children.length;) {
    const size = new DataView(children.buffer, children.byteOffset + at, 8).getUint32(0);
    if (size < 8) break;
    if (String.fromCharCode(...children.subarray(at + 4, at + 8)) === "esds") {
      return readEsds(children.subarray(at + 12, at + size)); // after the box header and version/flags
    }
    at += size;
  }
  return { codec: "aac" };
}

/** ES_Descriptor (tag 3) → DecoderConfigDescriptor (tag 4: object type) → DecoderSpecificInfo (tag 5: AudioSpecificConfig). */
function readEsds(d: Uint8Array): { codec: string; channels?: number } {
  let at = 0;
  const descriptor = (tag: number): boolean => {
    if (d[at] !== tag) return false;
    at++;
    // Length: up to 4 bytes of 7 bits, the top bit meaning "more follows".
    for (let i = 0; i < 4 && at < d.length && d[at++]! & 0x80; i++);
    return true;
  };
  if (!descriptor(0x03)) return { codec: "aac" };
  const esFlags = d[at + 2] ?? 0; // after the 2-byte ES_ID
  at += 3;
  if (esFlags & 0x80) at += 2; // dependsOn_ES_ID
  if (esFlags & 0x40) at += 1 + (d[at] ?? 0); // URL
  if (esFlags & 0x20) at += 2; // OCR_ES_Id
  if (!descriptor(0x04)) return { codec: "aac" };
  const objectType = d[at];
  if (objectType === 0x69 || objectType === 0x6b) return { codec: "mp3" };
  at += 13; // object type, stream type, buffer size, max and average bitrate
  if (!descriptor(0x05)) return { codec: "aac" };
  return { codec: "aac", channels: audioSpecificConfigChannels(d.subarray(at)) };
}

/** channelConfiguration from an AudioSpecificConfig (ISO 14496-3 §1.6.2.1), when it is a plain count. */
function audioSpecificConfigChannels(asc: Uint8Array): number | undefined {
  let bit = 0;
  const read = (n: number) => {
    let value = 0;
    for (let i = 0; i < n; i++, bit++) value = (value << 1) | (((asc[bit >> 3] ?? 0) >> (7 - (bit & 7))) & 1);
    return value;
  };
  if (read(5) === 31) read(6); // escaped audio object type
  if (read(4) === 15) read(24); // explicit sampling frequency
  const config = read(4);
  return config >= 1 && config <= 6 ? config : config === 7 ? 8 : undefined;
}

function u64(b: DataView, at: number): number {
  const high = b.getUint32(at);
  const low = b.getUint32(at + 4);
  return high === 0xffffffff && low === 0xffffffff ? 0 : high * 2 ** 32 + low;
}

/** All ones in a 32-bit duration means "unknown". */
function known32(value: number): number {
  return value === 0xffffffff ? 0 : value;
}

function printable(fourcc: string): string {
  return fourcc.replace(/[^\x20-\x7e]/g, "?");
}
