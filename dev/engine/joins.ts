/**
 * Natural joins (issue 11): sentences and parts are not butted together. eSpeak, called one
 * sentence at a time (so the first sound leaves sooner), trims its own pauses; each sentence gets
 * the silence the job asks for (`pause_ms`), or the voice's own pause measured from its reference,
 * and a paragraph break twice it. The silence is part of the segment's audio, so the live stream,
 * the segment artifacts and the final file agree sample for sample.
 */
import { clamp } from "./voice-settings.ts";

/** When the voice says nothing about its pauses (a designed voice, a reference without two pauses). */
export const DEFAULT_PAUSE_MS = 350;
/** A measured pause is kept within natural speech: a hesitant reference must not make every join a full stop. */
export const MEASURED_PAUSE_MS = { min: 200, max: 900 } as const;
/** A paragraph break gets this many times the sentence pause. */
export const PARAGRAPH_FACTOR = 2;

/** A clause cut off the front of a sentence (the job's first sound, job-runner.ts) gets this much of the sentence pause. */
export const CLAUSE_FACTOR = 0.4;

export type JoinAfter = "clause" | "sentence" | "paragraph" | null;

/** The sentence pause in ms: asked for, else the voice's own (clamped), else the default. */
export function sentencePauseMs(requested: number | undefined, voicePauseSec: number | null | undefined): number {
  if (requested !== undefined) return requested;
  if (voicePauseSec == null) return DEFAULT_PAUSE_MS;
  return clamp(Math.round(voicePauseSec * 1000), MEASURED_PAUSE_MS.min, MEASURED_PAUSE_MS.max);
}

export function pauseSamples(after: JoinAfter, sentenceMs: number, rate: number): number {
  if (after === null) return 0;
  const factor = after === "paragraph" ? PARAGRAPH_FACTOR : after === "clause" ? CLAUSE_FACTOR : 1;
  return Math.round((factor * sentenceMs * rate) / 1000);
}

/**
 * For parts cut from `whole` in order (each a trimmed substring of it): whether a blank line
 * separates each part from the next. The last part has no next: false.
 */
export function paragraphBreaksAfter(whole: string, parts: readonly string[]): boolean[] {
  const breaks: boolean[] = [];
  let from = 0;
  const starts = parts.map((part) => {
    const at = whole.indexOf(part, from);
    if (at >= 0) from = at + part.length;
    return at;
  });
  for (let i = 0; i < parts.length; i++) {
    const end = starts[i]! >= 0 ? starts[i]! + parts[i]!.length : -1;
    const next = starts[i + 1];
    breaks.push(end >= 0 && next !== undefined && next >= end ? /\n[^\S\n]*\n/u.test(whole.slice(end, next)) : false);
  }
  return breaks;
}

/** Samples followed by `count` samples of silence. */
export function withSilence(samples: Float32Array, count: number): Float32Array {
  if (count <= 0) return samples;
  const out = new Float32Array(samples.length + count);
  out.set(samples);
  return out;
}
