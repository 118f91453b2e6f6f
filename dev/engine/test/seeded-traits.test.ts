import assert from "node:assert/strict";
import { it } from "node:test";
import { normaliseTraits, SEED_SPREAD, seededTraits, type VoiceTraits } from "../voice-settings.ts";

const VOICE: VoiceTraits = normaliseTraits({ variant: "f2", pitch: 50, range: 50, rate: 170 });

it("moves a voice by its seed, the same way every time, within the spread", () => {
  for (const seed of [0, 1, 2, 99, 2 ** 31 - 1]) {
    const t = seededTraits(VOICE, seed);
    assert.deepEqual(seededTraits(VOICE, seed), t, `seed ${seed} is repeatable`);
    assert.equal(t.variant, VOICE.variant, "a seed never changes who speaks");
    assert.ok(Math.abs(t.pitch - VOICE.pitch) <= SEED_SPREAD.pitch, `pitch ${t.pitch}`);
    assert.ok(Math.abs(t.range - VOICE.range) <= SEED_SPREAD.range, `range ${t.range}`);
    assert.ok(Math.abs(t.rate / VOICE.rate - 1) <= SEED_SPREAD.rate + 0.005, `rate ${t.rate}`);
  }
});

it("gives almost every seed its own take", () => {
  const seen = new Set<string>();
  for (let seed = 0; seed < 200; seed++) seen.add(JSON.stringify(seededTraits(VOICE, seed)));
  assert.ok(seen.size >= 190, `${seen.size} distinct takes of 200 seeds`);
});
