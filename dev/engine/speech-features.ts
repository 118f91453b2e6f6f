import { resample } from "./audio-dsp.ts";

/**
 * A few numbers that describe how a recorded voice sounds, cheap enough to
 * compute on every job: fundamental frequency (how high), its spread (how
 * animated) and a speaking-rate proxy (how fast).
 */
export type SpeechFeatures = {
  durationSec: number;
  /** Seconds from the first to the last frame with speech energy. */
  speechSpanSec: number;
  /** Seconds of frames with speech energy. */
  activeSec: number;
  /** Share of active frames that are voiced (periodic). */
  voicedRatio: number;
  /** Median F0 of voiced frames in Hz; null when no frame was voiced. */
  f0Hz: number | null;
  /** Standard deviation of F0 around the median, in semitones. */
  f0SpreadSemitones: number;
  /**
   * Energy-envelope peaks per second of the speech span (pauses included): roughly syllables per
   * second. Per span, not per active second: a browser's noise suppression silences the pauses
   * between words, which shortens the "active" time by 10–20 % and made the pace read that much faster.
   */
  syllableRate: number;
  /**
   * How long this speaker pauses between phrases and sentences: the 75th percentile of the silent
   * stretches of at least MIN_PAUSE_SEC inside the speech span, in seconds; null with fewer than two.
   */
  pauseSec: number | null;
};

/** Analysis runs at 8 kHz: plenty for F0 (60–400 Hz) and ~6x cheaper than 48 kHz. */
const ANALYSIS_RATE = 8000;
const FRAME = 320; // 40 ms: two periods of the lowest F0 we look for
const HOP = 80; // 10 ms
const F0_MIN = 60;
const F0_MAX = 400;
/** Normalised autocorrelation a frame needs to count as voiced. */
const VOICING_THRESHOLD = 0.5;
/** References can be five minutes long; the first minute says enough about a voice. */
const MAX_ANALYSED_SECONDS = 60;
/** Pitch is tracked on at most this many frames, evenly spread, to bound the cost (~0.2 s). */
const MAX_PITCH_FRAMES = 1500;
/** Silences shorter than this are stops inside words, not pauses. */
const MIN_PAUSE_SEC = 0.15;

export function analyseSpeech(input: Float32Array, sampleRate: number): SpeechFeatures {
  const durationSec = input.length / sampleRate;
  const head = input.subarray(0, Math.min(input.length, Math.round(MAX_ANALYSED_SECONDS * sampleRate)));
  const x = sampleRate === ANALYSIS_RATE ? head : resample(head, sampleRate, ANALYSIS_RATE);
  const frameCount = x.length >= FRAME ? Math.floor((x.length - FRAME) / HOP) + 1 : 0;

  const rms = new Float32Array(frameCount);
  for (let f = 0; f < frameCount; f++) {
    let e = 0;
    for (let i = f * HOP; i < f * HOP + FRAME; i++) e += x[i]! * x[i]!;
    rms[f] = Math.sqrt(e / FRAME);
  }
  // Speech energy: within 30 dB of the loud frames (95th percentile), above an absolute floor.
  const loud = percentile(rms, 0.95);
  const gate = Math.max(1e-4, loud * 10 ** (-30 / 20));
  const active = Array.from(rms, (r) => r > gate);
  const activeFrames = active.filter(Boolean).length;
  const first = active.indexOf(true);
  const last = active.lastIndexOf(true);

  const stride = Math.max(1, Math.ceil(activeFrames / MAX_PITCH_FRAMES));
  const f0s: number[] = [];
  let tracked = 0;
  for (let f = 0, seen = 0; f < frameCount; f++) {
    if (!active[f] || seen++ % stride !== 0) continue;
    tracked++;
    const f0 = frameF0(x.subarray(f * HOP, f * HOP + FRAME));
    if (f0 !== null) f0s.push(f0);
  }

  const hopSec = HOP / ANALYSIS_RATE;
  const activeSec = activeFrames * hopSec;
  const f0Hz = f0s.length > 0 ? median(f0s) : null;
  return {
    durationSec,
    speechSpanSec: first < 0 ? 0 : (last - first + 1) * hopSec,
    activeSec,
    voicedRatio: tracked > 0 ? f0s.length / tracked : 0,
    f0Hz,
    f0SpreadSemitones: f0Hz === null ? 0 : semitoneSpread(f0s, f0Hz),
    syllableRate: first < 0 ? 0 : countSyllablePeaks(rms, active) / ((last - first + 1) * hopSec),
    pauseSec: pauseLength(active, first, last, hopSec),
  };
}

/** The 75th percentile of the inactive runs of at least MIN_PAUSE_SEC between `first` and `last`. */
function pauseLength(active: boolean[], first: number, last: number, hopSec: number): number | null {
  if (first < 0) return null;
  const runs: number[] = [];
  let run = 0;
  for (let f = first; f <= last; f++) {
    if (!active[f]) {
      run++;
      continue;
    }
    if (run * hopSec >= MIN_PAUSE_SEC) runs.push(run * hopSec);
    run = 0;
  }
  if (runs.length < 2) return null;
  runs.sort((a, b) => a - b);
  return runs[Math.min(runs.length - 1, Math.floor(runs.length * 0.75))]!;
}

/**
 * F0 of one frame by normalised autocorrelation, or null if unvoiced. Takes
 * the shortest lag whose correlation is close to the best one, because every
 * multiple of the true period also correlates well (the octave-down error).
 */
export function frameF0(frame: Float32Array): number | null {
  const n = frame.length;
  let mean = 0;
  for (let i = 0; i < n; i++) mean += frame[i]!;
  mean /= n;
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = frame[i]! - mean;

  const minLag = Math.floor(ANALYSIS_RATE / F0_MAX);
  const maxLag = Math.min(n - 2, Math.ceil(ANALYSIS_RATE / F0_MIN));
  const r = new Float32Array(maxLag + 2);
  let best = 0;
  for (let lag = minLag - 1; lag <= maxLag + 1; lag++) {
    let xy = 0;
    let xx = 0;
    let yy = 0;
    for (let i = 0; i + lag < n; i++) {
      xy += x[i]! * x[i + lag]!;
      xx += x[i]! * x[i]!;
      yy += x[i + lag]! * x[i + lag]!;
    }
    r[lag] = xx > 0 && yy > 0 ? xy / Math.sqrt(xx * yy) : 0;
    if (lag >= minLag && lag <= maxLag) best = Math.max(best, r[lag]!);
  }
  if (best < VOICING_THRESHOLD) return null;
  for (let lag = minLag; lag <= maxLag; lag++) {
    const here = r[lag]!;
    if (here >= 0.85 * best && here >= r[lag - 1]! && here >= r[lag + 1]!) {
      // Parabolic interpolation around the peak: sub-sample period, so F0 is not quantised to 8000/lag.
      const a = r[lag - 1]!;
      const c = r[lag + 1]!;
      const denom = a - 2 * here + c;
      const shift = denom !== 0 ? (0.5 * (a - c)) / denom : 0;
      return ANALYSIS_RATE / (lag + Math.max(-0.5, Math.min(0.5, shift)));
    }
  }
  return null;
}

/**
 * Counts envelope peaks (syllable nuclei, roughly): the 10 ms energy track is
 * smoothed over 50 ms, and a peak counts when it rises at least 3 dB above the
 * dip since the previous peak and is at least 100 ms after it.
 */
function countSyllablePeaks(rms: Float32Array, active: boolean[]): number {
  const smooth = new Float32Array(rms.length);
  for (let i = 0; i < rms.length; i++) {
    let sum = 0;
    let n = 0;
    for (let j = Math.max(0, i - 2); j <= Math.min(rms.length - 1, i + 2); j++, n++) sum += rms[j]!;
    smooth[i] = sum / n;
  }
  const rise = 10 ** (3 / 20);
  let peaks = 0;
  let dip = Infinity;
  let lastPeak = -Infinity;
  for (let i = 1; i < smooth.length - 1; i++) {
    const v = smooth[i]!;
    dip = Math.min(dip, v);
    const isPeak = active[i] && v >= smooth[i - 1]! && v > smooth[i + 1]!;
    if (isPeak && v >= dip * rise && i - lastPeak >= 10) {
      peaks++;
      lastPeak = i;
      dip = v;
    }
  }
  return peaks;
}

function semitoneSpread(f0s: number[], centre: number): number {
  // Ignore octave errors and stray frames: they are not intonation.
  const st = f0s.map((f) => 12 * Math.log2(f / centre)).filter((s) => Math.abs(s) <= 12);
  if (st.length < 2) return 0;
  const mean = st.reduce((a, b) => a + b, 0) / st.length;
  return Math.sqrt(st.reduce((a, b) => a + (b - mean) ** 2, 0) / st.length);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function percentile(values: Float32Array, p: number): number {
  if (values.length === 0) return 0;
  const sorted = Float32Array.from(values).sort();
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}
