/**
 * The little signal processing the engine needs: resampling eSpeak's 22,050 Hz
 * output to the job's rate, stitching segments with short crossfades, and
 * loudness normalisation. Mono Float32 throughout.
 */

export function int16ToFloat32(pcm: Int16Array): Float32Array {
  const out = new Float32Array(pcm.length);
  for (let i = 0; i < pcm.length; i++) out[i] = pcm[i]! / 0x8000;
  return out;
}

export function durationMs(samples: number, sampleRate: number): number {
  return Math.round((samples * 1000) / sampleRate);
}

export function padWithSilence(samples: Float32Array, minLength: number): Float32Array {
  if (samples.length >= minLength) return samples;
  const out = new Float32Array(minLength);
  out.set(samples);
  return out;
}

/** Zero crossings of the sinc on each side of the centre: the resampler's quality/speed knob. */
const SINC_ZERO_CROSSINGS = 12;
/** Kernel table resolution (steps per unit of the sinc argument); linear interpolation between steps. */
const TABLE_STEPS = 256;

/** Hann-windowed sinc, tabulated once: sin() per tap would dominate the cost. */
const KERNEL = (() => {
  const n = SINC_ZERO_CROSSINGS * TABLE_STEPS;
  const table = new Float32Array(n + 2);
  for (let i = 0; i <= n; i++) {
    const x = i / TABLE_STEPS;
    const sinc = x === 0 ? 1 : Math.sin(Math.PI * x) / (Math.PI * x);
    table[i] = sinc * (0.5 + 0.5 * Math.cos((Math.PI * x) / SINC_ZERO_CROSSINGS));
  }
  return table;
})();

function kernel(x: number): number {
  const pos = Math.abs(x) * TABLE_STEPS;
  const i = Math.floor(pos);
  if (i >= SINC_ZERO_CROSSINGS * TABLE_STEPS) return 0;
  const frac = pos - i;
  return KERNEL[i]! + (KERNEL[i + 1]! - KERNEL[i]!) * frac;
}

/**
 * Band-limited resampling (windowed sinc). When lowering the rate the kernel is
 * widened so its cut-off sits at the new Nyquist frequency, which keeps
 * eSpeak's upper harmonics from aliasing at 8–16 kHz. The output has exactly
 * round(length × to / from) samples, which the duration bookkeeping relies on.
 */
export function resample(input: Float32Array, fromRate: number, toRate: number): Float32Array {
  if (fromRate === toRate) return input.slice();
  const out = new Float32Array(Math.round((input.length * toRate) / fromRate));
  const cutoff = Math.min(1, toRate / fromRate);
  const half = Math.ceil(SINC_ZERO_CROSSINGS / cutoff); // taps each side of the centre
  // Output sample i sits at input position i × step / phases. For the usual rates that fraction
  // cycles through few values (22,050 → 24,000: 160), so each phase's taps are computed once.
  const divisor = gcd(fromRate, toRate);
  const phases = toRate / divisor;
  const step = fromRate / divisor;
  const taps = 2 * half;
  const table = phases <= 4096 ? phaseTable(phases, half, cutoff) : undefined;
  let phase = 0; // (i × step) mod phases, kept incrementally: no division in the loop
  let centre = 0; // floor(i × step / phases)
  for (let i = 0; i < out.length; i++) {
    const first = centre - half + 1; // input index of tap 0
    const from = Math.max(0, -first);
    const to = Math.min(taps, input.length - first);
    let acc = 0;
    let weights = 0;
    if (table) {
      const row = phase * taps;
      for (let k = from; k < to; k++) {
        const w = table[row + k]!;
        acc += input[first + k]! * w;
        weights += w;
      }
    } else {
      for (let k = from; k < to; k++) {
        const w = kernel((k - half + 1 - phase / phases) * cutoff);
        acc += input[first + k]! * w;
        weights += w;
      }
    }
    // Dividing by the weight sum keeps unity gain, also at the edges where the kernel is cut off.
    out[i] = weights > 1e-9 ? acc / weights : 0;
    phase += step;
    while (phase >= phases) {
      phase -= phases;
      centre++;
    }
  }
  return out;
}

function phaseTable(phases: number, half: number, cutoff: number): Float32Array {
  const taps = 2 * half;
  const table = new Float32Array(phases * taps);
  for (let p = 0; p < phases; p++) {
    for (let k = 0; k < taps; k++) table[p * taps + k] = kernel((k - half + 1 - p / phases) * cutoff);
  }
  return table;
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

/**
 * Joins segments, overlapping each neighbouring pair by `fadeSamples` with a
 * linear crossfade (gains sum to 1, so a steady signal passes unchanged).
 * Length = Σ lengths − (n − 1) × fadeSamples: the final file is shorter than
 * the sum of its segments by exactly one crossfade per join.
 */
export function crossfadeConcat(segments: Float32Array[], fadeSamples: number): Float32Array {
  if (segments.length === 0) return new Float32Array(0);
  for (const s of segments) {
    if (s.length < fadeSamples) throw new RangeError(`segment of ${s.length} samples is shorter than the ${fadeSamples}-sample crossfade`);
  }
  const total = segments.reduce((n, s) => n + s.length, 0) - (segments.length - 1) * fadeSamples;
  const out = new Float32Array(total);
  let offset = 0;
  segments.forEach((segment, index) => {
    const fadeIn = index > 0 ? fadeSamples : 0;
    const fadeOut = index < segments.length - 1 ? fadeSamples : 0;
    for (let i = 0; i < segment.length; i++) {
      let gain = 1;
      if (i < fadeIn) gain *= (i + 0.5) / fadeIn;
      const fromEnd = segment.length - 1 - i;
      if (fromEnd < fadeOut) gain *= (fromEnd + 0.5) / fadeOut;
      out[offset + i]! += segment[i]! * gain;
    }
    offset += segment.length - fadeSamples;
  });
  return out;
}

/** Short linear fades at the very start and end, so playback never begins or stops on a step. Same length out. */
export function fadeEdges(samples: Float32Array, fadeSamples: number): Float32Array {
  const out = samples.slice();
  const n = Math.min(fadeSamples, Math.floor(out.length / 2));
  for (let i = 0; i < n; i++) {
    const gain = (i + 0.5) / n;
    out[i]! *= gain;
    out[out.length - 1 - i]! *= gain;
  }
  return out;
}

export type LoudnessOptions = {
  /** Target RMS of the speech (gated), in dBFS. */
  targetDbfs: number;
  /** Peaks never exceed this, in dBFS. */
  peakCeilingDbfs: number;
  /** Never amplify by more than this, so near-silence is not blown up into noise. */
  maxGainDb: number;
};
/** -18 dBFS gated RMS is about where the production engine's -16 LUFS lands for speech. */
export const DEFAULT_LOUDNESS: LoudnessOptions = { targetDbfs: -18, peakCeilingDbfs: -1, maxGainDb: 20 };

const dbToGain = (db: number) => 10 ** (db / 20);

/**
 * Speech RMS, measured on 20 ms blocks louder than -50 dBFS: a crude version of
 * loudness gating, so pauses between sentences do not make a segment look
 * quiet. Returns 0 for silence.
 */
export function gatedRms(samples: Float32Array, sampleRate: number): number {
  const block = Math.max(1, Math.round(sampleRate * 0.02));
  const gate = dbToGain(-50) ** 2;
  let sum = 0;
  let count = 0;
  for (let start = 0; start < samples.length; start += block) {
    const end = Math.min(samples.length, start + block);
    let energy = 0;
    for (let i = start; i < end; i++) energy += samples[i]! * samples[i]!;
    if (energy / (end - start) > gate) {
      sum += energy;
      count += end - start;
    }
  }
  return count > 0 ? Math.sqrt(sum / count) : 0;
}

export function peak(samples: Float32Array): number {
  let max = 0;
  for (let i = 0; i < samples.length; i++) max = Math.max(max, Math.abs(samples[i]!));
  return max;
}

/** Scales to the target loudness without letting peaks pass the ceiling. Returns a new array. */
export function normaliseLoudness(samples: Float32Array, sampleRate: number, options: LoudnessOptions = DEFAULT_LOUDNESS): Float32Array {
  const rms = gatedRms(samples, sampleRate);
  const top = peak(samples);
  if (rms === 0 || top === 0) return samples.slice();
  const gain = Math.min(dbToGain(options.targetDbfs) / rms, dbToGain(options.peakCeilingDbfs) / top, dbToGain(options.maxGainDb));
  const out = new Float32Array(samples.length);
  for (let i = 0; i < samples.length; i++) out[i] = samples[i]! * gain;
  return out;
}
