/** Builds a 16-bit PCM mono WAV of a sine tone: small, exact test audio made by the tests themselves. */
export function makeWav(durationMs: number, opts: { sampleRate?: number; freq?: number; amplitude?: number } = {}): Uint8Array<ArrayBuffer> {
  const sampleRate = opts.sampleRate ?? 24_000;
  const freq = opts.freq ?? 220;
  const amp = opts.amplitude ?? 0.3;
  const samples = Math.round((durationMs / 1000) * sampleRate);
  const buf = new ArrayBuffer(44 + samples * 2);
  const v = new DataView(buf);
  const w = (o: number, s: string) => [...s].forEach((ch, i) => v.setUint8(o + i, ch.charCodeAt(0)));
  w(0, "RIFF");
  v.setUint32(4, 36 + samples * 2, true);
  w(8, "WAVE");
  w(12, "fmt ");
  v.setUint32(16, 16, true);
  v.setUint16(20, 1, true);
  v.setUint16(22, 1, true);
  v.setUint32(24, sampleRate, true);
  v.setUint32(28, sampleRate * 2, true);
  v.setUint16(32, 2, true);
  v.setUint16(34, 16, true);
  w(36, "data");
  v.setUint32(40, samples * 2, true);
  for (let i = 0; i < samples; i++) v.setInt16(44 + i * 2, Math.round(Math.sin((2 * Math.PI * freq * i) / sampleRate) * amp * 32767), true);
  return new Uint8Array(buf);
}

/** Duration of a PCM WAV from its header (for checking what the Worker served). */
export function wavDurationMs(bytes: Uint8Array): number {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const byteRate = v.getUint32(28, true);
  const dataSize = v.getUint32(40, true);
  return (dataSize / byteRate) * 1000;
}
