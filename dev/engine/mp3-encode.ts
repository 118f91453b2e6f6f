/**
 * The lamejs encode itself, synchronous. Runs inside the MP3 worker thread
 * (mp3-worker.ts); kept apart so it can be read and tested without a thread.
 */
import { Mp3Encoder } from "@breezystack/lamejs";

const FRAME = 1152;
export const MP3_KBPS = 64;

export function encodeMp3Sync(samples: Float32Array, sampleRate: number): Uint8Array {
  const encoder = new Mp3Encoder(1, sampleRate, MP3_KBPS);
  const pcm = new Int16Array(samples.length);
  for (let i = 0; i < samples.length; i++) pcm[i] = Math.max(-32768, Math.min(32767, Math.round(samples[i]! * 32767)));
  const parts: Uint8Array[] = [];
  const slice = FRAME * 64;
  for (let i = 0; i < pcm.length; i += slice) parts.push(encoder.encodeBuffer(pcm.subarray(i, i + slice)));
  parts.push(encoder.flush());
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}
