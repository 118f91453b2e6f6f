import type { Synthesizer } from "../../espeak-synth.ts";
import { encodeWav } from "../../wav-codec.ts";

/**
 * Voice-like test signals: a harmonic tone at `f0Hz` (five harmonics, falling
 * in level like a glottal source) whose loudness rises and falls
 * `syllablesPerSecond` times a second, with a short pause every few syllables.
 */
export function syntheticSpeech(f0Hz: number, seconds: number, sampleRate: number, syllablesPerSecond = 4): Float32Array {
  const out = new Float32Array(Math.round(seconds * sampleRate));
  for (let i = 0; i < out.length; i++) {
    const t = i / sampleRate;
    let tone = 0;
    for (let h = 1; h <= 5; h++) tone += Math.sin(2 * Math.PI * f0Hz * h * t) / h;
    const syllable = Math.floor(t * syllablesPerSecond);
    const pause = syllable % 6 === 5; // a breath every sixth syllable
    const envelope = pause ? 0 : Math.sin(Math.PI * ((t * syllablesPerSecond) % 1)) ** 2;
    out[i] = 0.3 * tone * envelope;
  }
  return out;
}

export const TONE_RATE = 22050;

/**
 * Stands in for eSpeak in job tests: 20 ms of tone per character at 22,050 Hz,
 * so durations are predictable and tests run in milliseconds.
 */
export function toneSynthesizer(calls: string[] = []): Synthesizer {
  return async ({ text, traits }) => {
    calls.push(text);
    return { samples: syntheticSpeech(100 + traits.pitch * 2, text.length * 0.02, TONE_RATE), sampleRate: TONE_RATE };
  };
}

/** What the fake Worker serves as a voice's reference: 3 s of `syntheticSpeech` as a 16 kHz WAV. */
export const referenceWav = (f0 = 120) => ({ status: 200, body: encodeWav(syntheticSpeech(f0, 3, 16000), 16000), contentType: "audio/wav" });

/** Prose of exactly `chars` characters, in sentences, so a job splits into parts. */
export function longText(chars: number): string {
  let text = "";
  for (let i = 0; text.length < chars; i++) text += `Sentence number ${i} is here to make the text longer, as long texts are split. `;
  return text.slice(0, chars);
}
