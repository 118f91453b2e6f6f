import { expect } from "vitest";
import { AudioInspectionError, createAudioInspector, type AudioInfo } from "../../../worker/lib/audio";

/** Bytes of an ASCII string. */
export function ascii(text: string): Uint8Array {
  return Uint8Array.from(text, (c) => c.charCodeAt(0));
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export function le32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n, true);
  return b;
}

/** A RIFF chunk: id, little-endian size (or `declaredSize`), body and the pad byte an odd size needs. */
export function riffChunk(id: string, body: Uint8Array, declaredSize = body.length): Uint8Array {
  return concat(ascii(id), le32(declaredSize), body, body.length % 2 ? new Uint8Array(1) : new Uint8Array(0));
}

export interface WavOptions {
  sampleRate?: number;
  channels?: number;
  bitsPerSample?: number;
  formatTag?: number;
  /** Use WAVE_FORMAT_EXTENSIBLE with this sub-format (1 PCM, 3 float). */
  extensibleSubFormat?: number;
  /** Chunks placed between fmt and data (and after data). */
  before?: Uint8Array[];
  after?: Uint8Array[];
  /** Size written in the data chunk header instead of the real one (0 or 0xFFFFFFFF for streaming writers). */
  dataSize?: number;
  riffSize?: number;
}

/** A WAV of `frames` sample frames of silence, built to order. */
export function buildWav(frames: number, o: WavOptions = {}): Uint8Array {
  const sampleRate = o.sampleRate ?? 8000;
  const channels = o.channels ?? 1;
  const bits = o.bitsPerSample ?? 16;
  const blockAlign = (channels * bits) / 8;
  const fmt = new DataView(new ArrayBuffer(o.extensibleSubFormat === undefined ? 16 : 40));
  fmt.setUint16(0, o.extensibleSubFormat === undefined ? (o.formatTag ?? 1) : 0xfffe, true);
  fmt.setUint16(2, channels, true);
  fmt.setUint32(4, sampleRate, true);
  fmt.setUint32(8, sampleRate * blockAlign, true);
  fmt.setUint16(12, blockAlign, true);
  fmt.setUint16(14, bits, true);
  if (o.extensibleSubFormat !== undefined) {
    fmt.setUint16(16, 22, true); // cbSize
    fmt.setUint16(18, bits, true); // valid bits
    fmt.setUint32(20, channels === 1 ? 0x4 : 0x3, true); // channel mask
    fmt.setUint16(24, o.extensibleSubFormat, true); // SubFormat GUID, first two bytes
    // The rest of KSDATAFORMAT_SUBTYPE_*: 0000-0010-8000-00aa00389b71
    new Uint8Array(fmt.buffer).set([0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xaa, 0x00, 0x38, 0x9b, 0x71], 26);
  }
  const data = new Uint8Array(frames * blockAlign);
  if (bits === 8) data.fill(0x80); // unsigned 8-bit silence
  const body = concat(
    ascii("WAVE"),
    riffChunk("fmt ", new Uint8Array(fmt.buffer)),
    ...(o.before ?? []),
    riffChunk("data", data, o.dataSize ?? data.length),
    ...(o.after ?? []),
  );
  return concat(ascii("RIFF"), le32(o.riffSize ?? body.length), body);
}

/** Splits `bytes` into chunks of `size` bytes (views, not copies). */
export function* chunks(bytes: Uint8Array, size: number): Generator<Uint8Array> {
  for (let at = 0; at < bytes.length; at += size) yield bytes.subarray(at, at + size);
}

/** Splits `bytes` into pseudo-random chunk sizes between 1 and `max` (deterministic for a seed). */
export function* randomChunks(bytes: Uint8Array, seed: number, max = 5000): Generator<Uint8Array> {
  let state = seed >>> 0 || 1;
  for (let at = 0; at < bytes.length;) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    const size = 1 + ((state >>> 0) % max);
    yield bytes.subarray(at, at + size);
    at += size;
  }
}

/** Inspects `bytes` pushed in the given chunks. */
export function inspect(bytes: Uint8Array, split: (b: Uint8Array) => Iterable<Uint8Array> = (b) => [b]): AudioInfo {
  const inspector = createAudioInspector();
  for (const chunk of split(bytes)) inspector.push(chunk);
  return inspector.finish();
}

/** The AudioInspectionError inspecting `bytes` throws (whether from push or finish). */
export function inspectionError(bytes: Uint8Array, chunkSize = 4096): AudioInspectionError {
  try {
    inspect(bytes, (b) => chunks(b, chunkSize));
  } catch (error) {
    expect(error).toBeInstanceOf(AudioInspectionError);
    return error as AudioInspectionError;
  }
  throw new Error("expected the inspection to fail");
}

/** A ReadableStream that hands out `parts` one pull at a time. */
export function streamOf(parts: Iterable<Uint8Array>, onCancel?: (reason: unknown) => void): ReadableStream<Uint8Array> {
  const it = parts[Symbol.iterator]();
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      const next = it.next();
      if (next.done) controller.close();
      else controller.enqueue(next.value);
    },
    cancel: onCancel,
  });
}
