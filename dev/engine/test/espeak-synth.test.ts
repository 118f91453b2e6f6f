import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createEspeakSynthesizer } from "../espeak-synth.ts";
import { JobError } from "../job-errors.ts";
import { espeakLanguage } from "../language.ts";
import { voiceFromReference } from "../reference-voice.ts";
import { analyseSpeech } from "../speech-features.ts";
import { FEMALE_VARIANTS, MALE_VARIANTS } from "../voice-settings.ts";
import { encodeWav } from "../wav-codec.ts";
import { syntheticSpeech } from "./support/synthetic-audio.ts";

const synth = createEspeakSynthesizer();
const neutral = { variant: "m3", pitch: 50, range: 50, rate: 175 };
const sentence = "The quick brown fox jumps over the lazy dog, and then it runs back home.";

describe("eSpeak synthesizer", () => {
  it("speaks every protocol language", async () => {
    const samples: Record<string, string> = {
      en: "Hello world.",
      zh: "你好，世界。",
      ja: "こんにちは。",
      ko: "안녕하세요.",
      de: "Guten Tag.",
      fr: "Bonjour le monde.",
      ru: "Привет, мир.",
      pt: "Olá mundo.",
      es: "Hola mundo.",
      it: "Ciao mondo.",
    };
    for (const [code, text] of Object.entries(samples)) {
      const out = await synth({ text, language: espeakLanguage(code as "en", text), traits: neutral });
      assert.equal(out.sampleRate, 22050);
      assert.ok(out.samples.length / out.sampleRate > 0.3, `${code}: ${out.samples.length} samples`);
    }
  });

  it("has every variant the voice mapping can choose, each sounding different", async () => {
    const signatures = new Set<number>();
    for (const variant of [...MALE_VARIANTS, ...FEMALE_VARIANTS, "grandpa", "grandma", "whisper", "whisperf"]) {
      const out = await synth({ text: "Good morning.", language: "en-us", traits: { ...neutral, variant } });
      assert.ok(out.samples.length > 0, variant);
      signatures.add(out.samples.reduce((a, v) => a + Math.abs(v), 0));
    }
    assert.ok(signatures.size >= 15, `${signatures.size} distinct outputs`);
  });

  it("speaks markup characters as text instead of reading them as SSML", async () => {
    const out = await synth({ text: "a <b> & c", language: "en-us", traits: neutral });
    assert.ok(out.samples.length > 0);
  });

  it("makes a clone of a low reference lower than a clone of a high one, close to each reference's F0", async () => {
    for (const f0 of [100, 220]) {
      const { traits } = voiceFromReference(encodeWav(syntheticSpeech(f0, 5, 16000), 16000));
      const out = await synth({ text: sentence, language: "en-us", traits });
      const spoken = analyseSpeech(out.samples, out.sampleRate).f0Hz!;
      assert.ok(
        Math.abs(spoken - f0) / f0 < 0.2,
        `reference ${f0} Hz, clone speaks at ${spoken.toFixed(0)} Hz (${JSON.stringify(traits)})`,
      );
    }
  });

  it("speaks faster at a higher rate", async () => {
    const slow = await synth({ text: sentence, language: "en-us", traits: { ...neutral, rate: 120 } });
    const fast = await synth({ text: sentence, language: "en-us", traits: { ...neutral, rate: 240 } });
    assert.ok(fast.samples.length < slow.samples.length * 0.7);
  });

  it("fails with generation_failed for a language eSpeak lacks", async () => {
    await assert.rejects(
      synth({ text: "hi", language: "xx-nope", traits: neutral }),
      (err: unknown) => err instanceof JobError && err.code === "generation_failed",
    );
  });
});
