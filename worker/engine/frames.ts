/**
 * Binary audio frames (ADR 0009): a 16-byte little-endian header, then PCM
 * s16le mono. The Durable Object reads only the header and relays the frame
 * byte-for-byte. The one codec: the development engine (`dev/engine/v2-wire.ts`) and the
 * browser's player (`app/lib/live-stream.ts`) import it too. Pinned by
 * `test/fixtures/engine-protocol/v2/frames.json`. No imports at all.
 */

export const FRAME_VERSION = 1;
export const FRAME_HEADER_BYTES = 16;
/** 4 s at 24 kHz, s16le mono. */
export const FRAME_MAX_PAYLOAD_BYTES = 192_000;
export const FRAME_FLAG_LAST_IN_SEGMENT = 0x01;
const KNOWN_FLAGS = FRAME_FLAG_LAST_IN_SEGMENT;

export interface FrameHeader {
  version: number;
  flags: number;
  segment: number;
  frame: number;
  segment_offset: number;
  stream_offset: number;
  last_in_segment: boolean;
  /** Payload length in bytes (samples × 2). */
  payload_bytes: number;
}

export type FrameProblem = "short" | "version" | "flags" | "odd" | "too_large";
export type FrameDecode = { ok: true; header: FrameHeader } | { ok: false; reason: FrameProblem };

function view(bytes: ArrayBuffer | ArrayBufferView): DataView {
  return bytes instanceof ArrayBuffer ? new DataView(bytes) : new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Reads and checks a frame's header without copying its payload. */
export function decodeFrameHeader(bytes: ArrayBuffer | ArrayBufferView): FrameDecode {
  const v = view(bytes);
  if (v.byteLength < FRAME_HEADER_BYTES) return { ok: false, reason: "short" };
  const version = v.getUint8(0);
  if (version !== FRAME_VERSION) return { ok: false, reason: "version" };
  const flags = v.getUint8(1);
  if ((flags & ~KNOWN_FLAGS) !== 0) return { ok: false, reason: "flags" };
  const payload = v.byteLength - FRAME_HEADER_BYTES;
  if (payload > FRAME_MAX_PAYLOAD_BYTES) return { ok: false, reason: "too_large" };
  if (payload % 2 !== 0) return { ok: false, reason: "odd" };
  return {
    ok: true,
    header: {
      version,
      flags,
      segment: v.getUint16(2, true),
      frame: v.getUint32(4, true),
      segment_offset: v.getUint32(8, true),
      stream_offset: v.getUint32(12, true),
      last_in_segment: (flags & FRAME_FLAG_LAST_IN_SEGMENT) !== 0,
      payload_bytes: payload,
    },
  };
}

/** A whole frame: its header and its payload (a view into `bytes`, PCM s16le, not copied). */
export type DecodedFrame = { ok: true; header: FrameHeader; pcm: Uint8Array } | { ok: false; reason: FrameProblem };

export function decodeFrame(bytes: ArrayBuffer | ArrayBufferView): DecodedFrame {
  const decoded = decodeFrameHeader(bytes);
  if (!decoded.ok) return decoded;
  const all = bytes instanceof ArrayBuffer ? new Uint8Array(bytes) : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { ok: true, header: decoded.header, pcm: all.subarray(FRAME_HEADER_BYTES) };
}

/** The frame's samples (a copy), for players and tests. */
export function frameSamples(bytes: ArrayBuffer | ArrayBufferView): Int16Array {
  const v = view(bytes);
  const out = new Int16Array((v.byteLength - FRAME_HEADER_BYTES) >> 1);
  for (let i = 0; i < out.length; i++) out[i] = v.getInt16(FRAME_HEADER_BYTES + i * 2, true);
  return out;
}

export interface FrameFields {
  segment: number;
  frame: number;
  segment_offset: number;
  stream_offset: number;
  last_in_segment?: boolean;
}

function frameWithHeader(fields: FrameFields, payloadBytes: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(FRAME_HEADER_BYTES + payloadBytes);
  const v = new DataView(out.buffer);
  v.setUint8(0, FRAME_VERSION);
  v.setUint8(1, fields.last_in_segment ? FRAME_FLAG_LAST_IN_SEGMENT : 0);
  v.setUint16(2, fields.segment, true);
  v.setUint32(4, fields.frame, true);
  v.setUint32(8, fields.segment_offset, true);
  v.setUint32(12, fields.stream_offset, true);
  return out;
}

/** Builds a frame: header + the samples as s16le; any length, even one the DO refuses (tests send those). */
export function encodeFrame(fields: FrameFields, samples: Int16Array | readonly number[]): Uint8Array<ArrayBuffer> {
  const out = frameWithHeader(fields, samples.length * 2);
  const v = new DataView(out.buffer);
  for (let i = 0; i < samples.length; i++) v.setInt16(FRAME_HEADER_BYTES + i * 2, samples[i]!, true);
  return out;
}

/** An engine's frame from PCM that is already s16le bytes, copied once; never one the DO would refuse. */
export function encodeFramePcm(fields: FrameFields, pcm: Uint8Array): Uint8Array<ArrayBuffer> {
  if (pcm.length % 2 !== 0) throw new RangeError("PCM s16le needs an even number of bytes");
  if (pcm.length > FRAME_MAX_PAYLOAD_BYTES) throw new RangeError(`frame payload ${pcm.length} > ${FRAME_MAX_PAYLOAD_BYTES} bytes`);
  const out = frameWithHeader(fields, pcm.length);
  out.set(pcm, FRAME_HEADER_BYTES);
  return out;
}

/**
 * Listener messages may carry several frames at once (ADR 0027):
 * when frames arrive faster than the Durable Object can send them to every listener, the ones
 * waiting are sent together, in one message per listener, instead of one message per frame each.
 * A batch is `[u8 2][u8 flags][u16 count]` then, per frame, `[u32 byte length][the frame]`, little-endian;
 * its frames are whole frames as above, in order. With flag bit 0 set (ADR 0031) a text trailer
 * follows the frames, `[u32 byte length][UTF-8 text]`: a listener's text message (one server message,
 * or an array of them) that is handled right after the frames, as if it had come as its own message
 * next. No other flag is defined. Engines never send batches (the DO refuses them).
 */
export const FRAME_BATCH_VERSION = 2;
export const FRAME_BATCH_HEADER_BYTES = 4;
/** The most frames one batch carries. */
export const FRAME_BATCH_MAX_FRAMES = 64;
/** Flag bit: a text trailer follows the frames. */
export const FRAME_BATCH_FLAG_TEXT = 1;
// One of each for the module: the tracker encodes a trailer per pass (per listener when it takes part of one).
const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder("utf-8", { fatal: true });

/** One message carrying `frames` (each a whole frame) in order, then `text` (a listener text message) when given. */
export function encodeFrameBatch(frames: readonly (ArrayBuffer | ArrayBufferView)[], text?: string): ArrayBuffer {
  if (frames.length < 1 || frames.length > FRAME_BATCH_MAX_FRAMES) throw new RangeError(`a batch holds 1 to ${FRAME_BATCH_MAX_FRAMES} frames`);
  const trailer = text === undefined ? null : utf8Encoder.encode(text);
  let size = FRAME_BATCH_HEADER_BYTES + (trailer ? 4 + trailer.byteLength : 0);
  for (const f of frames) size += 4 + f.byteLength;
  const out = new Uint8Array(size);
  const v = new DataView(out.buffer);
  v.setUint8(0, FRAME_BATCH_VERSION);
  v.setUint8(1, trailer ? FRAME_BATCH_FLAG_TEXT : 0);
  v.setUint16(2, frames.length, true);
  let at = FRAME_BATCH_HEADER_BYTES;
  for (const f of frames) {
    v.setUint32(at, f.byteLength, true);
    out.set(f instanceof ArrayBuffer ? new Uint8Array(f) : new Uint8Array(f.buffer, f.byteOffset, f.byteLength), at + 4);
    at += 4 + f.byteLength;
  }
  if (trailer) {
    v.setUint32(at, trailer.byteLength, true);
    out.set(trailer, at + 4);
  }
  return out.buffer;
}

/** A binary listener message taken apart: its frames, and the text message that follows them (or null). */
export interface ListenerBinary {
  frames: Uint8Array[];
  text: string | null;
}

/**
 * One binary listener message: a single frame, or each frame of a batch (views into `bytes`, not
 * copies) and its text trailer. Null when a batch is malformed (lengths that do not add up, an
 * unknown flag, a trailer that is not UTF-8); single frames are returned as they are, for
 * `decodeFrame` to check.
 */
export function listenerBinaryOf(bytes: ArrayBuffer | ArrayBufferView): ListenerBinary | null {
  const all = bytes instanceof ArrayBuffer ? new Uint8Array(bytes) : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (all.byteLength < 1 || all[0] !== FRAME_BATCH_VERSION) return { frames: [all], text: null };
  if (all.byteLength < FRAME_BATCH_HEADER_BYTES) return null;
  const v = new DataView(all.buffer, all.byteOffset, all.byteLength);
  const flags = v.getUint8(1);
  if ((flags & ~FRAME_BATCH_FLAG_TEXT) !== 0) return null;
  const count = v.getUint16(2, true);
  if (count < 1 || count > FRAME_BATCH_MAX_FRAMES) return null;
  const frames: Uint8Array[] = [];
  let at = FRAME_BATCH_HEADER_BYTES;
  const part = () => {
    if (at + 4 > all.byteLength) return null;
    const len = v.getUint32(at, true);
    if (at + 4 + len > all.byteLength) return null;
    const got = all.subarray(at + 4, at + 4 + len);
    at += 4 + len;
    return got;
  };
  for (let i = 0; i < count; i++) {
    const frame = part();
    if (!frame) return null;
    frames.push(frame);
  }
  let text: string | null = null;
  if (flags & FRAME_BATCH_FLAG_TEXT) {
    const trailer = part();
    if (!trailer) return null;
    try {
      text = utf8Decoder.decode(trailer);
    } catch {
      return null;
    }
  }
  return at === all.byteLength ? { frames, text } : null;
}

/** The frames of one binary listener message (its text trailer left out); null when it is malformed. */
export function framesOfMessage(bytes: ArrayBuffer | ArrayBufferView): Uint8Array[] | null {
  return listenerBinaryOf(bytes)?.frames ?? null;
}
