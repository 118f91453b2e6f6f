import { hashUnits, normaliseTraits, traitsFromHash, variantFor, type Gender, type VoiceTraits } from "./voice-settings.ts";

/**
 * Voice design for the dev engine: the words of a description ("a deep, calm
 * old man") nudge eSpeak's settings, so different descriptions sound
 * different and roughly as described. A hash of the description adds a little
 * jitter, so two descriptions that match the same words still differ; a
 * description with no known word is voiced entirely from its hash.
 */
type Effect = {
  /** Evidence for a gender: negative male, positive female. */
  gender?: number;
  pitch?: number;
  rate?: number;
  range?: number;
  age?: "old" | "young" | "child";
  whisper?: true;
};

const LEXICON: Record<string, Effect> = {};
function words(list: string, effect: Effect): void {
  for (const word of list.split(" ")) LEXICON[word] = { ...LEXICON[word], ...effect };
}

// Gender. Voice-type words also carry pitch.
words("male man men boy guy gentleman masculine father dad grandfather grandpa son brother husband king prince he his him", { gender: -1 });
words("female woman women girl lady feminine mother mom mum grandmother grandma daughter sister wife queen princess she her", {
  gender: 1,
});
words("baritone tenor", { gender: -1, pitch: -12 });
words("bass", { gender: -1, pitch: -25 });
words("soprano falsetto", { gender: 1, pitch: 22 });
words("alto mezzo", { gender: 1, pitch: -8 });
// Pitch.
words("deep low gravelly husky dark booming resonant rumbling gruff", { pitch: -20 });
words("high squeaky shrill", { pitch: 22 });
words("bright light airy thin", { pitch: 12 });
// Pace and liveliness.
words("slow sleepy meditative leisurely", { rate: -40 });
words("calm relaxed soothing deliberate", { rate: -25, range: -10 });
words("gentle measured soft", { rate: -15 });
words("fast rapid hurried", { rate: 45 });
words("quick brisk", { rate: 35 });
words("energetic excited enthusiastic lively", { rate: 30, range: 20 });
words("upbeat cheerful nervous anxious", { rate: 20, range: 10 });
words("monotone flat robotic bored", { range: -40 });
words("dramatic expressive animated theatrical", { range: 30 });
// Age.
words("old elderly aged senior ancient grandfather grandmother grandpa grandma", { age: "old" });
words("young youthful teen teenage teenager", { age: "young" });
words("child kid little childlike", { age: "child" });
// Style.
words("whisper whispering whispered whispery breathy", { whisper: true });

export type DescribedVoice = { traits: VoiceTraits; matched: string[] };

export function voiceFromDescription(description: string): DescribedVoice {
  const tokens = description.toLowerCase().match(/\p{L}+/gu) ?? [];
  const matched = tokens.filter((t) => t in LEXICON);
  if (matched.length === 0) return { traits: traitsFromHash(description), matched };

  const [genderUnit = 0, variantUnit = 0, pitchJitter = 0, rateJitter = 0, rangeJitter = 0] = hashUnits(description);
  let genderScore = 0;
  let pitch = 50 + (pitchJitter - 0.5) * 12;
  let rate = 170 + (rateJitter - 0.5) * 20;
  let range = 50 + (rangeJitter - 0.5) * 16;
  let age: Effect["age"];
  let whisper = false;
  for (const word of matched) {
    const e = LEXICON[word]!;
    genderScore += e.gender ?? 0;
    pitch += e.pitch ?? 0;
    rate += e.rate ?? 0;
    range += e.range ?? 0;
    age = e.age ?? age;
    whisper ||= e.whisper ?? false;
  }
  // Without a gender word, low-pitch words suggest a man and high ones a woman; else the hash decides.
  const pitchLean = pitch < 42 ? -1 : pitch > 58 ? 1 : 0;
  const gender: Gender = (genderScore || pitchLean || genderUnit - 0.5) < 0 ? "male" : "female";

  let variant = variantFor(gender, variantUnit);
  if (age === "old") {
    variant = gender === "male" ? "grandpa" : "grandma";
    rate -= 25;
  } else if (age === "young") {
    pitch += 8;
    rate += 10;
  } else if (age === "child") {
    pitch += 25;
    rate += 5;
  }
  if (whisper) variant = gender === "male" ? "whisper" : "whisperf";
  return { traits: normaliseTraits({ variant, pitch, range, rate }), matched };
}
