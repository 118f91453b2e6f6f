/**
 * WAV in and out. The engine writes the protocol's format (PCM 16-bit mono,
 * 44-byte header); it reads whatever PCM a browser or a user's file may hold
 * (8/16/24/32-bit integer or 32-bit float, any rate, any channel count), mixed
 * down to mono, because that is all reference analysis needs.
 */
export const WAV_HEADER_BYTES = 44;

export type DecodedWav = {
  sampleRate: number;
  channels: number;
  /** Mono mix-down in [-1, 1]. */
  samples: Float32Array;
};

export class WavFormatError extends Error {
  override name = "WavFormatError";
}

export function isWav(bytes: Uint8Array): boolean {
  return bytes.length >= 12 && ascii(bytes, 0, 4) === "RIFF" && ascii(bytes, 8, 4) === "WAVE";
}

function ascii(bytes: Uint8Array, offset: number, length: number): string {
  return String.fromCharCode(...bytes.subarray(offset, offset + length));
}

/** Encodes mono float samples as PCM 16-bit WAV (clipped to [-1, 1]). */
export function encodeWav(samples: Float32Array, sampleRate: number): Uint8Array {
  const dataBytes = samples.length * 2;
  const out = new Uint8Array(WAV_HEADER_BYTES + dataBytes);
  const view = new DataView(out.buffer);
  const writeAscii = (offset: number, text: string) => {
    for (let i = 0; i < text.length; i++) out[offset + i] = text.charCodeAt(i);
  };
  writeAscii(0, "RIFF");
  view.setUint32(4, 36 + dataBytes, true);
  writeAscii(8, "WAVE");
  writeAscii(12, "fmt ");
  view.setUint32(16, 16, true);
  view.setUint16(20, 1, true); // PCM
  view.setUint16(22, 1, true); // mono
  view.setUint32(24, sampleRate, true);
  view.setUint32(28, sampleRate * 2, true);
  view.setUint16(32, 2, true);
  view.setUint16(34, 16, true);
  writeAscii(36, "data");
  view.setUint32(40, dataBytes, true);
  for (let i = 0; i < samples.length; i++) {
    const s = Math.max(-1, Math.min(1, samples[i]!));
    view.setInt16(WAV_HEADER_BYTES + i * 2, Math.round(s < 0 ? s * 0x8000 : s * 0x7fff), true);
  }
  return out;
}

type Format = { tag: number; channels: number; sampleRate: number; bits: number; blockAlign: number };

export function decodeWav(bytes: Uint8Array): DecodedWav {
  if (!isWav(bytes)) throw new WavFormatError("not a RIFF/WAVE file");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let format: Format | undefined;
  let offset = 12;
  while (offset + 8 <= bytes.length) {
    const id = ascii(bytes, offset, 4);
    const size = view.getUint32(offset + 4, true);
    const body = offset + 8;
    if (id === "fmt ") {
      if (size < 16 || body + 16 > bytes.length) throw new WavFormatError("fmt chunk too short");
      let tag = view.getUint16(body, true);
      // WAVE_FORMAT_EXTENSIBLE keeps the real format in the first two bytes of its sub-format GUID.
      if (tag === 0xfffe && size >= 40) tag = view.getUint16(body + 24, true);
      format = {
        tag,
        channels: view.getUint16(body + 2, true),
        sampleRate: view.getUint32(body + 4, true),
        blockAlign: view.getUint16(body + 12, true),
        bits: view.getUint16(body + 14, true),
      };
    } else if (id === "data") {
      if (!format) throw new WavFormatError("data chunk before fmt chunk");
      // Streamed recorders leave the size at 0 or 0xFFFFFFFF: read what is there.
      const end = size === 0 || body + size > bytes.length ? bytes.length : body + size;
      return { sampleRate: format.sampleRate, channels: format.channels, samples: readSamples(view, body, end, format) };
    }
    offset = body + size + (size % 2); // chunks are word-aligned
  }
  throw new WavFormatError("no data chunk");
}

function readSamples(view: DataView, start: number, end: number, f: Format): Float32Array {
  const bytesPerSample = f.bits / 8;
  if (f.channels < 1 || f.sampleRate < 1 || f.blockAlign !== f.channels * bytesPerSample) {
    throw new WavFormatError(`unsupported layout: ${f.channels} channels, ${f.bits} bits, block ${f.blockAlign}`);
  }
  const read = sampleReader(view, f);
  const frames = Math.floor((end - start) / f.blockAlign);
  const out = new Float32Array(frames);
  for (let i = 0; i < frames; i++) {
    let sum = 0;
    for (let c = 0; c < f.channels; c++) sum += read(start + i * f.blockAlign + c * bytesPerSample);
    out[i] = sum / f.channels;
  }
  return out;
}

function sampleReader(view: DataView, f: Format): (offset: number) => number {
  if (f.tag === 3 && f.bits === 32) return (o) => view.getFloat32(o, true);
  if (f.tag !== 1) throw new WavFormatError(`unsupported WAV format tag ${f.tag}`);
  switch (f.bits) {
    case 8:
      return (o) => (view.getUint8(o) - 128) / 128;
    case 16:
      // The inverse of encodeWav's scaling (0x8000 below zero, 0x7fff above), so a part read back
      // and written again is sample for sample what was stored (ADR 0026).
      return (o) => {
        const v = view.getInt16(o, true);
        return v < 0 ? v / 0x8000 : v / 0x7fff;
      };
    case 24:
      return (o) => (view.getUint8(o) | (view.getUint8(o + 1) << 8) | (view.getInt8(o + 2) << 16)) / 0x800000;
    case 32:
      return (o) => view.getInt32(o, true) / 0x80000000;
    default:
      throw new WavFormatError(`unsupported PCM bit depth ${f.bits}`);
  }
}
