/**
 * MP3 of the final audio, for the download button (the protocol's optional
 * `final.mp3`). lamejs is pure JavaScript (LGPL-3.0, like eSpeak it stays in
 * this separate process) and slow — about 70× real time here — so it runs
 * after `completed`, in slices that yield to the event loop so other jobs'
 * heartbeats and uploads keep flowing.
 */
import { Mp3Encoder } from "@breezystack/lamejs";

const FRAME = 1152;
const FRAMES_PER_SLICE = 64;
export const MP3_KBPS = 64;

export type Mp3EncodeFn = (samples: Float32Array, sampleRate: number) => Promise<Uint8Array>;

export const encodeMp3: Mp3EncodeFn = async (samples, sampleRate) => {
  const encoder = new Mp3Encoder(1, sampleRate, MP3_KBPS);
  const pcm = new Int16Array(samples.length);
  for (let i = 0; i < samples.length; i++) pcm[i] = Math.max(-32768, Math.min(32767, Math.round(samples[i]! * 32767)));
  const parts: Uint8Array[] = [];
  const slice = FRAME * FRAMES_PER_SLICE;
  for (let i = 0; i < pcm.length; i += slice) {
    parts.push(encoder.encodeBuffer(pcm.subarray(i, i + slice)));
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  parts.push(encoder.flush());
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
};
