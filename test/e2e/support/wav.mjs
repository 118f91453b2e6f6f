// A tiny PCM WAV writer and reader for the browser tests: the fake microphone
// is fed a file the test makes, and downloads are checked header by header.
import { writeFileSync } from "node:fs";

/**
 * Speech-like test signal: a 120–160 Hz voiced tone with harmonics whose
 * loudness follows a ~4 Hz syllable rhythm with short pauses, so the
 * recording has the envelope of speech rather than a flat hum.
 */
export function speechLikeSamples({ seconds, sampleRate = 48_000 }) {
  const n = Math.round(seconds * sampleRate);
  const out = new Float32Array(n);
  let phase = 0;
  for (let i = 0; i < n; i++) {
    const t = i / sampleRate;
    const f0 = 140 + 20 * Math.sin(2 * Math.PI * 0.7 * t); // gentle intonation
    phase += (2 * Math.PI * f0) / sampleRate;
    const voiced = Math.sin(phase) + 0.5 * Math.sin(2 * phase) + 0.25 * Math.sin(3 * phase) + 0.12 * Math.sin(5 * phase);
    const syllables = Math.max(0, Math.sin(2 * Math.PI * 4 * t)) ** 0.6; // 4 syllables a second
    const phrase = t % 3 < 2.6 ? 1 : 0.03; // a breath every 3 s
    out[i] = 0.35 * voiced * syllables * phrase;
  }
  return { samples: out, sampleRate };
}

export function encodeWav({ samples, sampleRate }) {
  const dataBytes = samples.length * 2;
  const buf = Buffer.alloc(44 + dataBytes);
  buf.write("RIFF", 0, "ascii");
  buf.writeUInt32LE(36 + dataBytes, 4);
  buf.write("WAVE", 8, "ascii");
  buf.write("fmt ", 12, "ascii");
  buf.writeUInt32LE(16, 16);
  buf.writeUInt16LE(1, 20); // PCM
  buf.writeUInt16LE(1, 22); // mono
  buf.writeUInt32LE(sampleRate, 24);
  buf.writeUInt32LE(sampleRate * 2, 28);
  buf.writeUInt16LE(2, 32);
  buf.writeUInt16LE(16, 34);
  buf.write("data", 36, "ascii");
  buf.writeUInt32LE(dataBytes, 40);
  for (let i = 0; i < samples.length; i++) {
    const s = Math.max(-1, Math.min(1, samples[i]));
    buf.writeInt16LE(Math.round(s * 32767), 44 + i * 2);
  }
  return buf;
}

export function writeSpeechLikeWav(path, seconds) {
  writeFileSync(path, encodeWav(speechLikeSamples({ seconds })));
  return path;
}

/** Parses a RIFF/WAVE header (walking the chunks) and returns its format and duration. Throws on anything malformed. */
export function parseWav(buf) {
  if (buf.length < 44) throw new Error(`too short for a WAV: ${buf.length} bytes`);
  if (buf.toString("ascii", 0, 4) !== "RIFF") throw new Error("no RIFF magic");
  if (buf.toString("ascii", 8, 12) !== "WAVE") throw new Error("no WAVE form type");
  const riffSize = buf.readUInt32LE(4);
  let offset = 12;
  let fmt = null;
  let data = null;
  while (offset + 8 <= buf.length) {
    const id = buf.toString("ascii", offset, offset + 4);
    const size = buf.readUInt32LE(offset + 4);
    const body = offset + 8;
    if (id === "fmt ") {
      fmt = {
        audioFormat: buf.readUInt16LE(body),
        channels: buf.readUInt16LE(body + 2),
        sampleRate: buf.readUInt32LE(body + 4),
        byteRate: buf.readUInt32LE(body + 8),
        blockAlign: buf.readUInt16LE(body + 12),
        bitsPerSample: buf.readUInt16LE(body + 14),
      };
    } else if (id === "data") {
      data = { offset: body, size };
      break;
    }
    offset = body + size + (size % 2);
  }
  if (!fmt) throw new Error("no fmt chunk");
  if (!data) throw new Error("no data chunk");
  const durationMs = (data.size / fmt.byteRate) * 1000;
  return { riffSize, fileSize: buf.length, ...fmt, dataBytes: data.size, dataOffset: data.offset, durationMs };
}
