import { createHash } from "node:crypto";

/**
 * What makes one dev-engine voice sound unlike another. eSpeak cannot clone a
 * voice, so a cloned or designed voice becomes a point in eSpeak's small
 * parameter space: a variant (which carries gender and timbre), a pitch, a
 * pitch range and a speaking rate. The language is chosen per job, not per
 * voice (see language.ts).
 */
export type VoiceTraits = {
  /** eSpeak variant file in `voices/!v`, e.g. "m3", "f2", "grandpa", "whisperf". */
  variant: string;
  /** eSpeak pitch, 0–99 (50 is the variant's own base pitch). */
  pitch: number;
  /** eSpeak pitch range (intonation), 0–99. */
  range: number;
  /** Words per minute (eSpeak accepts 80–450; we keep to natural speech). */
  rate: number;
};

export const MALE_VARIANTS = ["m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8"] as const;
export const FEMALE_VARIANTS = ["f1", "f2", "f3", "f4", "f5"] as const;
export type Gender = "male" | "female";

export const RATE_MIN = 110;
export const RATE_MAX = 260;

export function clamp(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, value));
}

/** Rounds and clamps every trait into the range eSpeak accepts. */
export function normaliseTraits(t: VoiceTraits): VoiceTraits {
  return {
    variant: t.variant,
    pitch: Math.round(clamp(t.pitch, 0, 99)),
    range: Math.round(clamp(t.range, 0, 99)),
    rate: Math.round(clamp(t.rate, RATE_MIN, RATE_MAX)),
  };
}

/** Picks a gender variant deterministically from a unit number in [0, 1). */
export function variantFor(gender: Gender, unit: number): string {
  const list = gender === "male" ? MALE_VARIANTS : FEMALE_VARIANTS;
  return list[Math.min(list.length - 1, Math.floor(unit * list.length))]!;
}

/**
 * Deterministic numbers in [0, 1) derived from arbitrary bytes or text, so the
 * same reference or description always yields the same voice while different
 * ones spread over the parameter space.
 */
export function hashUnits(input: Uint8Array | string, count = 8): number[] {
  const digest = createHash("sha256").update(input).digest();
  const units: number[] = [];
  for (let i = 0; i < count; i++) units.push(digest.readUInt32BE((i * 4) % 28) / 2 ** 32);
  return units;
}

/** A whole voice from a hash: used when nothing better can be read from the input. */
export function traitsFromHash(input: Uint8Array | string): VoiceTraits {
  const [g = 0, v = 0, p = 0, r = 0, w = 0] = hashUnits(input);
  const gender: Gender = g < 0.5 ? "male" : "female";
  return normaliseTraits({
    variant: variantFor(gender, v),
    pitch: 25 + p * 50,
    range: 30 + r * 50,
    rate: 150 + w * 50,
  });
}

/** How far a seed moves a voice: eSpeak pitch units, pitch-range units, and a fraction of the rate. */
export const SEED_SPREAD = { pitch: 4, range: 8, rate: 0.05 } as const;

/**
 * A take's variation (ADR 0022): eSpeak has no sampler to seed, so a seed moves the voice a little
 * (pitch ± 4, intonation range ± 8, pace ± 5 %), the way two takes of a neural model differ. The same
 * seed always moves it the same way; different seeds almost always differently.
 */
export function seededTraits(t: VoiceTraits, seed: number): VoiceTraits {
  const [p = 0, r = 0, w = 0] = hashUnits(`take-seed:${seed}`);
  return normaliseTraits({
    variant: t.variant,
    pitch: t.pitch + (2 * p - 1) * SEED_SPREAD.pitch,
    range: t.range + (2 * r - 1) * SEED_SPREAD.range,
    rate: t.rate * (1 + (2 * w - 1) * SEED_SPREAD.rate),
  });
}
