// Small PCM WAV helpers: audio the bench makes itself, and durations of what it downloads.

function header(v, sampleRate, dataBytes) {
  const w = (o, s) => [...s].forEach((ch, i) => v.setUint8(o + i, ch.charCodeAt(0)));
  w(0, "RIFF");
  v.setUint32(4, 36 + dataBytes, true);
  w(8, "WAVE");
  w(12, "fmt ");
  v.setUint32(16, 16, true);
  v.setUint16(20, 1, true); // PCM
  v.setUint16(22, 1, true); // mono
  v.setUint32(24, sampleRate, true);
  v.setUint32(28, sampleRate * 2, true);
  v.setUint16(32, 2, true);
  v.setUint16(34, 16, true);
  w(36, "data");
  v.setUint32(40, dataBytes, true);
}

/** 16-bit mono WAV from a sample function f(t seconds) → -1..1. */
export function makeWav(durationMs, sampleRate, f) {
  const n = Math.round((durationMs / 1000) * sampleRate);
  const buf = new ArrayBuffer(44 + n * 2);
  const v = new DataView(buf);
  header(v, sampleRate, n * 2);
  for (let i = 0; i < n; i++) v.setInt16(44 + i * 2, Math.round(Math.max(-1, Math.min(1, f(i / sampleRate))) * 32767), true);
  return new Uint8Array(buf);
}

export const toneWav = (durationMs, sampleRate = 24_000, freq = 220) =>
  makeWav(durationMs, sampleRate, (t) => 0.3 * Math.sin(2 * Math.PI * freq * t));

/**
 * A voice-like reference: a gliding ~120 Hz harmonic source shaped into
 * ~4 syllables a second with short pauses between "phrases", so a pitch or
 * pace analysis finds something speech-shaped.
 */
export function speechLikeWav(durationMs = 12_000, sampleRate = 16_000) {
  let phase = 0;
  let last = 0;
  return makeWav(durationMs, sampleRate, (t) => {
    const f0 = 120 + 15 * Math.sin(2 * Math.PI * 0.3 * t) + 8 * Math.sin(2 * Math.PI * 4 * t);
    phase += 2 * Math.PI * f0 * (t - last);
    last = t;
    let s = 0;
    for (let h = 1; h <= 8; h++) s += Math.sin(h * phase) / h;
    const syllable = Math.max(0, Math.sin(Math.PI * 4 * t)) ** 2;
    const phrase = t % 3 < 2.6 ? 1 : 0; // a pause every 3 s
    return 0.25 * s * syllable * phrase;
  });
}

/** Duration of a PCM WAV in ms, walking its chunks (fmt for the byte rate, data for the size). */
export function wavDurationMs(bytes) {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let off = 12;
  let byteRate = 0;
  while (off + 8 <= bytes.byteLength) {
    const id = String.fromCharCode(...bytes.subarray(off, off + 4));
    const size = v.getUint32(off + 4, true);
    if (id === "fmt ") byteRate = v.getUint32(off + 16, true);
    if (id === "data") {
      const data = Math.min(size, bytes.byteLength - off - 8);
      return byteRate ? (data / byteRate) * 1000 : NaN;
    }
    off += 8 + size + (size % 2);
  }
  return NaN;
}
