import { AudioDecodeError, decodeWithFfmpeg } from "./audio-decode.ts";
import { JobError } from "./job-errors.ts";
import { analyseSpeech, type SpeechFeatures } from "./speech-features.ts";
import { hashUnits, normaliseTraits, traitsFromHash, variantFor, type Gender, type VoiceTraits } from "./voice-settings.ts";
import { decodeWav, isWav, WavFormatError } from "./wav-codec.ts";

/**
 * "Cloning" for the dev engine: the reference recording is turned into eSpeak
 * settings that resemble it, so two cloned voices sound different and a low
 * voice stays low. Every accepted format is decoded to PCM (WAV here, the
 * rest with ffmpeg: audio-decode.ts) and analysed for pitch, intonation and
 * pace; only the timbre (eSpeak variant) comes from a hash of the bytes.
 */
export type ReferenceVoice = {
  traits: VoiceTraits;
  /** How the traits were found: measured from PCM, or (silence, no voiced frame) hashed from the bytes. */
  method: "analysed" | "hashed";
  container: string;
  features?: SpeechFeatures;
};

/**
 * Median F0 (Hz) eSpeak produces for each variant at pitch 0, 25, 50, 75, 99,
 * measured with speech-features.ts on two English sentences (range 50, rate
 * 175). Inverting it picks the pitch that reproduces the reference's F0.
 */
const VARIANT_F0: Record<string, readonly number[]> = {
  m1: [66, 75, 94, 120, 158],
  m2: [65, 78, 101, 133, 177],
  m3: [71, 85, 105, 134, 173],
  m4: [69, 77, 94, 119, 152],
  m5: [69, 82, 102, 132, 171],
  m6: [67, 80, 101, 131, 171],
  m7: [75, 88, 106, 134, 171],
  m8: [67, 71, 86, 109, 140],
  f1: [115, 142, 180, 234, 306],
  f2: [129, 157, 196, 251, 325],
  f3: [146, 174, 211, 266, 337],
  f4: [113, 141, 180, 235, 308],
  f5: [130, 162, 206, 268, 351],
};
const PITCH_POINTS = [0, 25, 50, 75, 99] as const;

/** eSpeak range → measured F0 spread (semitones) at range 0, 50, 99; same method as above. */
const RANGE_SPREAD = { range: [0, 50, 99], spread: [0.17, 1.79, 3.01] } as const;
/**
 * eSpeak rate (wpm) → syllable peaks per second of speech span (speech-features.ts), measured on
 * three English sentences with the npm eSpeak NG (variant m1, pitch 50, range 50). Inverted to turn a
 * reference's peak rate into the eSpeak rate that reproduces it.
 */
const SYLLABLES_AT = { rate: [110, 150, 200, 260], perSecond: [3.25, 4.17, 5.02, 5.62] } as const;
/** eSpeak's words per minute over the speech span come out ~1.27x its nominal rate. */
const SPAN_WPM_PER_RATE = 1.27;

/** Below this median F0 a voice is treated as male, above as female. */
const GENDER_SPLIT_HZ = 160;

/** Piecewise-linear interpolation of y at x (xs ascending), clamped at the ends. */
function interpolate(x: number, xs: readonly number[], ys: readonly number[]): number {
  if (x <= xs[0]!) return ys[0]!;
  for (let i = 1; i < xs.length; i++) {
    if (x <= xs[i]!) {
      const t = (x - xs[i - 1]!) / (xs[i]! - xs[i - 1]!);
      return ys[i - 1]! + t * (ys[i]! - ys[i - 1]!);
    }
  }
  return ys[ys.length - 1]!;
}

/** The eSpeak pitch at which `variant` speaks at `f0Hz` (interpolated in log frequency). */
export function pitchForF0(variant: string, f0Hz: number): number {
  const table = VARIANT_F0[variant];
  if (!table) return 50;
  return interpolate(Math.log(f0Hz), table.map(Math.log), PITCH_POINTS);
}

export function traitsFromFeatures(features: SpeechFeatures, seed: Uint8Array, referenceText?: string): VoiceTraits {
  const fallback = traitsFromHash(seed);
  const [, variantUnit = 0] = hashUnits(seed);
  if (features.f0Hz === null) return { ...fallback, rate: rateFromFeatures(features, referenceText) ?? fallback.rate };
  const gender: Gender = features.f0Hz < GENDER_SPLIT_HZ ? "male" : "female";
  // Timbre (the variant) cannot be measured cheaply; the hash keeps it stable per reference.
  const variant = variantFor(gender, variantUnit);
  return normaliseTraits({
    variant,
    pitch: pitchForF0(variant, features.f0Hz),
    range: interpolate(features.f0SpreadSemitones, RANGE_SPREAD.spread, RANGE_SPREAD.range),
    rate: rateFromFeatures(features, referenceText) ?? fallback.rate,
  });
}

/**
 * Pace: with a transcript, words per minute over the speech span is direct;
 * without one, syllable-like energy peaks per second stand in for it.
 */
function rateFromFeatures(f: SpeechFeatures, referenceText?: string): number | undefined {
  const words = referenceText?.trim() ? referenceText.trim().split(/\s+/u).length : 0;
  if (words >= 5 && f.speechSpanSec >= 2) return words / (f.speechSpanSec / 60) / SPAN_WPM_PER_RATE;
  if (f.syllableRate > 0) return interpolate(f.syllableRate, SYLLABLES_AT.perSecond, SYLLABLES_AT.rate);
  return undefined;
}

/** Names the container from its magic bytes (the Content-Type header is only a hint). */
export function sniffContainer(bytes: Uint8Array, contentType = ""): string {
  const head = String.fromCharCode(...bytes.subarray(0, 12));
  if (isWav(bytes)) return "wav";
  if (head.startsWith("fLaC")) return "flac";
  if (head.startsWith("OggS")) return "ogg";
  if (head.startsWith("ID3") || (bytes[0] === 0xff && ((bytes[1] ?? 0) & 0xe0) === 0xe0)) return "mp3";
  if (bytes[0] === 0x1a && bytes[1] === 0x45 && bytes[2] === 0xdf && bytes[3] === 0xa3) return "webm";
  if (head.slice(4, 8) === "ftyp") return "m4a";
  return contentType.split(";")[0]?.trim() || "unknown";
}

export function voiceFromReference(bytes: Uint8Array, options: { contentType?: string; referenceText?: string } = {}): ReferenceVoice {
  if (bytes.length === 0) throw new JobError("reference_unusable", "the reference audio is empty", false);
  const container = sniffContainer(bytes, options.contentType);
  const decoded = decodeReference(bytes, container);
  if (decoded.samples.length === 0) throw new JobError("reference_unusable", `the reference ${container} holds no audio`, false);
  const features = analyseSpeech(decoded.samples, decoded.sampleRate);
  return {
    traits: traitsFromFeatures(features, bytes, options.referenceText),
    method: features.f0Hz === null ? "hashed" : "analysed",
    container,
    features,
  };
}

/** WAV with our own reader (fast, no process); anything else, or a WAV codec it does not know, with ffmpeg. */
function decodeReference(bytes: Uint8Array, container: string): { samples: Float32Array; sampleRate: number } {
  let wavError: WavFormatError | undefined;
  if (container === "wav") {
    try {
      return decodeWav(bytes);
    } catch (err) {
      if (!(err instanceof WavFormatError)) throw err;
      wavError = err;
    }
  }
  try {
    return decodeWithFfmpeg(bytes);
  } catch (err) {
    if (!(err instanceof AudioDecodeError)) throw err;
    // A missing ffmpeg is the machine's fault and fixable: retryable, and the message says what to install.
    const what = wavError ? `the reference WAV cannot be read (${wavError.message}); ${err.message}` : `the reference ${container} cannot be read: ${err.message}`;
    throw new JobError("reference_unusable", what, err.missingDecoder, { cause: err });
  }
}
