/**
 * The `peaks` artifact (ADR 0023): the final audio's waveform, precomputed by
 * the engine, so the player draws an hour of audio without decoding it (it
 * streams the WAV through an <audio> element with Range requests instead).
 * Defined once here; mirrored in Python by `modal/utter_engine/peaks.py`, and
 * both compute it the same way (`computePeaks` / `compute_peaks`). Free of
 * Worker-only imports: the development engine imports it.
 */
import * as z from "zod";

/** At most this many peaks, whatever the length: a waveform is a few thousand pixels wide. */
export const MAX_PEAKS = 8000;
/** Peaks per second of audio for short files (then fewer, so there are never more than MAX_PEAKS). */
export const PEAKS_PER_SECOND = 50;

export const Peaks = z
  .object({
    version: z.literal(1),
    sample_rate: z.number().int().min(8000).max(48000),
    /** Samples of audio in the file the peaks describe. */
    length: z.number().int().min(1),
    /** Samples each peak covers (the last may cover fewer). */
    samples_per_peak: z.number().int().min(1),
    /** The largest absolute amplitude in each window, 0–1, three decimals. */
    peaks: z.array(z.number().min(0).max(1)).min(1).max(MAX_PEAKS),
  })
  .strict()
  .superRefine((p, ctx) => {
    const expected = Math.ceil(p.length / p.samples_per_peak);
    if (p.peaks.length !== expected) {
      ctx.addIssue({ code: "custom", path: ["peaks"], message: `expected ceil(length / samples_per_peak) = ${expected} peaks, got ${p.peaks.length}` });
    }
  });
export type Peaks = z.infer<typeof Peaks>;

/** Samples per peak for `length` samples at `sampleRate`: PEAKS_PER_SECOND, or coarser to stay within MAX_PEAKS. */
export function samplesPerPeak(length: number, sampleRate: number): number {
  return Math.max(Math.ceil(sampleRate / PEAKS_PER_SECOND), Math.ceil(length / MAX_PEAKS), 1);
}

/** The peaks of mono samples in −1…1 (what the engine wrote to the final WAV). */
export function computePeaks(samples: Float32Array, sampleRate: number): Peaks {
  const length = Math.max(1, samples.length);
  const step = samplesPerPeak(length, sampleRate);
  const peaks: number[] = [];
  for (let start = 0; start < length; start += step) {
    let max = 0;
    const end = Math.min(samples.length, start + step);
    for (let i = start; i < end; i++) {
      const a = Math.abs(samples[i]!);
      if (a > max) max = a;
    }
    peaks.push(Math.round(Math.min(1, max) * 1000) / 1000);
  }
  return { version: 1, sample_rate: sampleRate, length, samples_per_peak: step, peaks };
}
