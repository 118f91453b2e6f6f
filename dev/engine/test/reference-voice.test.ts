import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { JobError } from "../job-errors.ts";
import { pitchForF0, sniffContainer, voiceFromReference } from "../reference-voice.ts";
import { analyseSpeech } from "../speech-features.ts";
import { FEMALE_VARIANTS, MALE_VARIANTS } from "../voice-settings.ts";
import { encodeWav } from "../wav-codec.ts";
import { syntheticSpeech } from "./support/synthetic-audio.ts";

const fixture = (name: string) => new Uint8Array(readFileSync(new URL(`../../../test/fixtures/audio/${name}`, import.meta.url)));

describe("analyseSpeech", () => {
  it("finds the fundamental frequency of voiced sound, at any sample rate", () => {
    for (const [f0, rate] of [
      [110, 16000],
      [220, 44100],
      [180, 48000],
      [95, 8000],
    ] as const) {
      const features = analyseSpeech(syntheticSpeech(f0, 4, rate), rate);
      assert.ok(features.f0Hz !== null && Math.abs(features.f0Hz - f0) / f0 < 0.03, `expected ~${f0} Hz, got ${features.f0Hz}`);
      assert.ok(features.voicedRatio > 0.8, `voiced ratio ${features.voicedRatio}`);
    }
  });

  it("reports faster syllable rates for faster speech", () => {
    const slow = analyseSpeech(syntheticSpeech(150, 6, 16000, 2.5), 16000);
    const fast = analyseSpeech(syntheticSpeech(150, 6, 16000, 5.5), 16000);
    // Peaks per second of the whole span, pauses included: one syllable in six is a pause in syntheticSpeech.
    assert.ok(Math.abs(slow.syllableRate - (2.5 * 5) / 6) < 0.5, `slow ${slow.syllableRate}`);
    assert.ok(Math.abs(fast.syllableRate - (5.5 * 5) / 6) < 0.8, `fast ${fast.syllableRate}`);
  });

  it("finds nothing voiced in silence or noise", () => {
    assert.equal(analyseSpeech(new Float32Array(16000), 16000).f0Hz, null);
    let seed = 1;
    const noise = Float32Array.from({ length: 32000 }, () => ((seed = (seed * 16807) % 2147483647) / 2147483647 - 0.5) * 0.5);
    assert.ok(analyseSpeech(noise, 16000).voicedRatio < 0.2);
  });

  it("tracks the eSpeak voice in the repository's speech fixture (a male en-us voice)", () => {
    const { features } = voiceFromReference(fixture("speech-12s.wav"));
    assert.ok(features?.f0Hz && features.f0Hz > 80 && features.f0Hz < 160, `f0 ${features?.f0Hz}`);
  });
});

describe("voiceFromReference", () => {
  it("gives two WAV references of different pitch different voices: low → male, high → female", () => {
    const low = voiceFromReference(encodeWav(syntheticSpeech(105, 5, 24000), 24000));
    const high = voiceFromReference(encodeWav(syntheticSpeech(230, 5, 24000), 24000));
    assert.equal(low.method, "analysed");
    assert.ok((MALE_VARIANTS as readonly string[]).includes(low.traits.variant), low.traits.variant);
    assert.ok((FEMALE_VARIANTS as readonly string[]).includes(high.traits.variant), high.traits.variant);
    assert.notDeepEqual(low.traits, high.traits);
  });

  it("sets the eSpeak pitch so the chosen variant speaks near the reference's F0", () => {
    const { traits } = voiceFromReference(encodeWav(syntheticSpeech(130, 5, 16000), 16000));
    assert.ok(Math.abs(traits.pitch - pitchForF0(traits.variant, 130)) <= 1);
    const lowPitch = voiceFromReference(encodeWav(syntheticSpeech(90, 5, 16000), 16000)).traits;
    const highPitch = voiceFromReference(encodeWav(syntheticSpeech(150, 5, 16000), 16000)).traits;
    assert.ok(pitchForF0(lowPitch.variant, 90) < pitchForF0(highPitch.variant, 150));
  });

  it("speaks faster for a faster reference", () => {
    const slow = voiceFromReference(encodeWav(syntheticSpeech(120, 6, 16000, 3), 16000)).traits;
    const fast = voiceFromReference(encodeWav(syntheticSpeech(120, 6, 16000, 5.5), 16000)).traits;
    assert.ok(fast.rate > slow.rate + 30, `slow ${slow.rate} wpm, fast ${fast.rate} wpm`);
  });

  it("uses the transcript for pace when there is one", () => {
    const wav = encodeWav(syntheticSpeech(120, 10, 16000), 16000);
    const few = voiceFromReference(wav, { referenceText: "one two three four five six seven eight nine ten eleven twelve" }).traits;
    const many = voiceFromReference(wav, { referenceText: Array.from({ length: 32 }, () => "word").join(" ") }).traits;
    assert.ok(many.rate > few.rate, `${few.rate} vs ${many.rate}`);
  });

  it("analyses compressed formats too, with a timbre that stays the same per file", () => {
    const mp3 = voiceFromReference(fixture("speech-12s-cbr.mp3"));
    const ogg = voiceFromReference(fixture("speech-12s-opus.ogg"));
    assert.equal(mp3.method, "analysed");
    assert.equal(mp3.container, "mp3");
    assert.equal(ogg.container, "ogg");
    assert.deepEqual(voiceFromReference(fixture("speech-12s-cbr.mp3")).traits, mp3.traits);
  });

  it("names containers from their magic bytes", () => {
    assert.equal(sniffContainer(fixture("speech-12s.flac")), "flac");
    assert.equal(sniffContainer(fixture("speech-12s-opus.webm")), "webm");
    assert.equal(sniffContainer(fixture("speech-12s.m4a")), "m4a");
    assert.equal(sniffContainer(fixture("speech-12s.wav")), "wav");
  });

  it("rejects an empty or unreadable reference as reference_unusable", () => {
    for (const bytes of [new Uint8Array(), new TextEncoder().encode("RIFF\0\0\0\0WAVEjunkjunk")]) {
      assert.throws(
        () => voiceFromReference(bytes),
        (err: unknown) => err instanceof JobError && err.code === "reference_unusable" && !err.retryable,
      );
    }
  });
});
