import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createEspeakSynthesizer, ESPEAK_TEXT_CAPACITY } from "../espeak-synth.ts";
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

  // The memory restore once freed the glue's string buffer behind its back: from the third call of a
  // process on, a long text was cut after its first few words (espeak-synth.ts, loadEspeak).
  it("speaks the whole of a long text on every call, however many came before", async () => {
    const long =
      "The harbour was quiet at dawn, and the boats rocked gently against the pier. A woman in a yellow coat " +
      "walked along the water — « ça coûte 5 € & plus » — stopping now and then to watch the light change on the waves.";
    const lengths: number[] = [];
    for (let call = 0; call < 6; call++) {
      const other = await synth({ text: `${call} ${sentence} ${sentence}`, language: "en-us", traits: neutral });
      assert.ok(other.samples.length / other.sampleRate > 5, `call ${call}: the text in between lasts ${other.samples.length} samples`);
      const out = await synth({ text: long, language: "en-us", traits: neutral });
      lengths.push(out.samples.length);
    }
    assert.ok(lengths[0]! / 22050 > 10, `${lengths[0]} samples for ${long.length} characters`);
    assert.deepEqual(lengths, lengths.map(() => lengths[0]), "every call speaks the same, whole text");
  });

  it("refuses a text longer than its buffer instead of writing past it", async () => {
    await assert.rejects(
      synth({ text: "a".repeat(ESPEAK_TEXT_CAPACITY), language: "en-us", traits: neutral }),
      (error: unknown) => error instanceof JobError && error.code === "generation_failed" && !error.retryable,
    );
    const after = await synth({ text: sentence, language: "en-us", traits: neutral });
    assert.ok(after.samples.length / after.sampleRate > 2);
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
