import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { espeakLanguage, guessLanguage } from "../language.ts";
import { voiceFromDescription } from "../voice-description.ts";
import { FEMALE_VARIANTS, MALE_VARIANTS } from "../voice-settings.ts";

const isMale = (variant: string) => (MALE_VARIANTS as readonly string[]).includes(variant);
const isFemale = (variant: string) => (FEMALE_VARIANTS as readonly string[]).includes(variant);

describe("voiceFromDescription", () => {
  it("maps gender words to male and female variants", () => {
    assert.ok(isMale(voiceFromDescription("A friendly man reading the news").traits.variant));
    assert.ok(isFemale(voiceFromDescription("A friendly woman reading the news").traits.variant));
    assert.ok(isMale(voiceFromDescription("a rich baritone").traits.variant));
    assert.ok(isFemale(voiceFromDescription("a clear soprano").traits.variant));
  });

  it("makes a deep, slow voice lower and slower than a bright, excited one", () => {
    const deep = voiceFromDescription("A deep, slow and calm male narrator").traits;
    const bright = voiceFromDescription("A bright, fast, excited young woman").traits;
    assert.ok(deep.pitch < bright.pitch, `${deep.pitch} vs ${bright.pitch}`);
    assert.ok(deep.rate < bright.rate - 50, `${deep.rate} vs ${bright.rate}`);
  });

  it("leans on pitch words when no gender is named", () => {
    assert.ok(isMale(voiceFromDescription("deep and gravelly").traits.variant));
    assert.ok(isFemale(voiceFromDescription("high and squeaky").traits.variant));
  });

  it("uses eSpeak's elderly and whisper variants", () => {
    assert.equal(voiceFromDescription("an elderly man telling a story").traits.variant, "grandpa");
    assert.equal(voiceFromDescription("an old woman").traits.variant, "grandma");
    assert.equal(voiceFromDescription("a woman whispering secrets").traits.variant, "whisperf");
  });

  it("widens intonation for dramatic voices and flattens it for monotone ones", () => {
    const dramatic = voiceFromDescription("a dramatic, expressive actor").traits;
    const flat = voiceFromDescription("a monotone, robotic actor").traits;
    assert.ok(dramatic.range > flat.range + 40);
  });

  it("gives different descriptions different voices, and the same one the same voice", () => {
    const a = voiceFromDescription("a male pirate captain");
    const b = voiceFromDescription("a male lighthouse keeper");
    assert.notDeepEqual(a.traits, b.traits);
    assert.deepEqual(voiceFromDescription("a male pirate captain"), a);
  });

  it("falls back to a hash for descriptions with no known word", () => {
    const a = voiceFromDescription("Zorblax of the nebula");
    const b = voiceFromDescription("qwerty uiop");
    assert.deepEqual(a.matched, []);
    assert.notDeepEqual(a.traits, b.traits);
    assert.deepEqual(voiceFromDescription("Zorblax of the nebula").traits, a.traits);
  });

  it("keeps every setting inside eSpeak's bounds, whatever piles up", () => {
    const extreme = voiceFromDescription("fast fast fast rapid hurried quick high high squeaky squeaky child").traits;
    assert.ok(extreme.pitch <= 99 && extreme.rate <= 260 && extreme.range <= 99);
    const low = voiceFromDescription("slow slow slow sleepy deep deep bass bass monotone monotone").traits;
    assert.ok(low.pitch >= 0 && low.rate >= 110 && low.range >= 0);
  });
});

describe("language mapping", () => {
  it("maps protocol codes to eSpeak voices", () => {
    assert.equal(espeakLanguage("en", "x"), "en-us");
    assert.equal(espeakLanguage("zh", "x"), "cmn");
    assert.equal(espeakLanguage("pt", "x"), "pt-br");
    assert.equal(espeakLanguage("de", "x"), "de");
  });

  it("guesses auto from the script", () => {
    assert.equal(guessLanguage("Hello there"), "en");
    assert.equal(guessLanguage("你好，世界"), "zh");
    assert.equal(guessLanguage("今日は良い天気です"), "ja");
    assert.equal(guessLanguage("안녕하세요"), "ko");
    assert.equal(guessLanguage("Привет, мир"), "ru");
    assert.equal(espeakLanguage("auto", "Привет"), "ru");
  });
});
