import { describe, expect, it } from "vitest";
import fixture from "../fixtures/engine-protocol/speech-units.json";
import { CHARACTERS_PER_CREDIT, generationCost, speechUnits } from "../../worker/services/pricing";
import { hasSpeakableText } from "../../worker/services/speakable";

describe("credits in the engine's speech units", () => {
  it.each(fixture.cases)("speechUnits($text) = $units, as the Python engine counts", ({ text, units }) => {
    expect(speechUnits(text)).toBe(units);
  });

  it("charges CJK text by the GPU time it takes, not by its character count", () => {
    expect(generationCost("a".repeat(100))).toBe(1);
    expect(generationCost("a".repeat(101))).toBe(2);
    // 100 ideographs take the engine about as long as 300 letters.
    expect(generationCost("我".repeat(100))).toBe(3);
    expect(generationCost("한".repeat(34))).toBe(2);
    expect(generationCost("日".repeat(Math.floor(CHARACTERS_PER_CREDIT / 3)))).toBe(1);
  });
});

describe("speakable text", () => {
  it.each(["\u200b", "\u200b\u200c\u200d\ufeff", "\u200e\u200f", "\u202a\u202b\u202c\u202d\u202e", "\u2066\u2067\u2068\u2069", "   \u200b  ", "...!?"])(
    "refuses %j",
    (t) => expect(hasSpeakableText(t)).toBe(false),
  );
  it.each(["Hi", "你好", "42", "\u200bHi\u200b", "Привет"])("accepts %j", (t) => expect(hasSpeakableText(t)).toBe(true));
});
