import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { Alignment } from "../../../worker/engine/alignment.ts";
import { buildAlignment, escapeSsmlWithMap, espeakWords, type EspeakEvent } from "../alignment.ts";
import { warmUpEspeak } from "../espeak-synth.ts";
import { runJob } from "../job-runner.ts";
import { encodeWav } from "../wav-codec.ts";
import { espeakJobDeps } from "./support/espeak-deps.ts";
import { startFakeWorker } from "./support/fake-worker.ts";
import { syntheticSpeech } from "./support/synthetic-audio.ts";

describe("word timings from eSpeak's events (ADR 0021)", () => {
  it("maps eSpeak's positions in the escaped text back to the text's own offsets", () => {
    const text = "Fish & 🐟 <chips>";
    const { escaped, map } = escapeSsmlWithMap(text);
    assert.equal(escaped, "Fish &amp; 🐟 &lt;chips&gt;");
    // Code points of the escaped text → UTF-16 offsets of the original.
    assert.equal(map[5], 5); // "&" of "&amp;"
    assert.equal(map[9], 5); // ";" of "&amp;"
    assert.equal(map[11], 7); // the fish (two UTF-16 units)
    assert.equal(map[13], 10); // "&" of "&lt;"
    assert.equal(text.slice(map[17]!), "chips>");
  });

  it("makes words that keep their punctuation, start at their event and end at the next pause", () => {
    const text = "Hello there, world. Again";
    const { map } = escapeSsmlWithMap(text);
    const events: EspeakEvent[] = [
      { type: "word", text_position: 1, audio_position: 0 },
      { type: "word", text_position: 7, audio_position: 300 },
      { type: "phoneme", text_position: 12, audio_position: 700, id: "" },
      { type: "word", text_position: 14, audio_position: 850 },
      { type: "end", text_position: 19, audio_position: 1300 },
      { type: "word", text_position: 21, audio_position: 1400 },
    ];
    assert.deepEqual(espeakWords(text, map, events, 2), [
      { text: "Hello", start: 0, end: 0.3 },
      { text: "there,", start: 0.3, end: 0.7 },
      { text: "world.", start: 0.85, end: 1.3 },
      { text: "Again", start: 1.4, end: 2 },
    ]);
  });

  it("moves each segment's words to where the stitching put it, with char offsets into the job's text", () => {
    const text = "One two. Three four.";
    const a = buildAlignment(
      text,
      [
        [
          { text: "One", start: 0, end: 0.2 },
          { text: "two.", start: 0.2, end: 0.5 },
        ],
        [
          { text: "Three", start: 0.1, end: 0.3 },
          { text: "four.", start: 0.3, end: 0.6 },
        ],
      ],
      [0, 0.99],
      1.6,
    );
    assert.deepEqual(
      a.words.map((w) => [w.text, w.start, w.end, text.slice(w.char_start, w.char_end)]),
      [
        ["One", 0, 0.2, "One"],
        ["two.", 0.2, 0.5, "two."],
        ["Three", 1.09, 1.29, "Three"],
        ["four.", 1.29, 1.59, "four."],
      ],
    );
  });
});

const TEXT =
  "The harbour was quiet at dawn, and the boats rocked gently against the old stone pier. The gulls had not yet begun their quarrels! " +
  "A woman in a yellow coat walked slowly along the water.\n\nWhy do mornings feel so full of promise? Perhaps because nothing has gone wrong yet. " +
  "She smiled, turned & went home for breakfast, which was toast.";

function rms(samples: Float32Array, rate: number, from: number, to: number): number {
  const a = Math.max(0, Math.round(from * rate));
  const b = Math.min(samples.length, Math.round(to * rate));
  let sum = 0;
  for (let i = a; i < b; i++) sum += samples[i]! * samples[i]!;
  return b > a ? Math.sqrt(sum / (b - a)) : 0;
}

it("uploads an alignment of a real eSpeak job that lines up with the final file, pauses and crossfades included", async (t) => {
  const worker = await startFakeWorker({
    reference: { status: 200, body: encodeWav(syntheticSpeech(150, 4, 24000), 24000), contentType: "audio/wav" },
  });
  after(() => worker.close());
  await warmUpEspeak();
  const outcome = await runJob(
    worker.jobV2({ text: TEXT, output: { format: "wav", sample_rate: 24000 } }),
    espeakJobDeps(),
    new AbortController(),
  );
  assert.equal(outcome, "completed");
  assert.deepEqual(worker.violations, []);
  const segments = worker.events().filter((e) => e.type === "segment").length;
  assert.ok(segments >= 2, `${segments} segments: the joins are exercised`);

  const body = worker.uploads.get("alignment.json");
  assert.ok(body, "the alignment was uploaded");
  const alignment = Alignment.parse(JSON.parse(new TextDecoder().decode(body)));
  const final = worker.wav("final");
  const duration = final.samples.length / final.sampleRate;
  assert.equal(alignment.source, "espeak");
  assert.ok(Math.abs(alignment.duration - duration) < 0.001, `alignment ${alignment.duration} s, file ${duration} s`);

  // Every word of the text, in order, each where the text has it.
  assert.equal(
    alignment.words
      .map((w) => w.text)
      .join(" ")
      .replace(/\s+/g, " "),
    TEXT.replace(/\s+/g, " "),
  );
  let prev = 0;
  for (const w of alignment.words) {
    assert.ok(w.start >= prev, `"${w.text}" starts at ${w.start} after ${prev}`);
    assert.ok(w.end >= w.start && w.end <= duration, `"${w.text}" ends at ${w.end} inside ${duration}`);
    assert.equal(TEXT.slice(w.char_start, w.char_end), w.text);
    prev = w.start;
  }
  const last = alignment.words.at(-1)!;
  assert.ok(duration - last.end < 0.25, `the last word ends at ${last.end} s, the file at ${duration} s`);

  // The times are where the sound is: words are voiced, the pauses between sentences silent.
  const rate = final.sampleRate;
  const spoken = alignment.words.filter((w) => w.end - w.start > 0.15);
  const voiced = spoken.filter(
    (w) => rms(final.samples, rate, w.start + 0.25 * (w.end - w.start), w.end - 0.25 * (w.end - w.start)) > 0.02,
  );
  const gaps = alignment.words.slice(1).flatMap((w, i) => {
    const before = alignment.words[i]!;
    return w.start - before.end > 0.15 ? [{ from: before.end, to: w.start }] : [];
  });
  assert.ok(gaps.length >= 4, `${gaps.length} sentence pauses`);
  const silent = gaps.filter((g) => rms(final.samples, rate, g.from + 0.25 * (g.to - g.from), g.to - 0.25 * (g.to - g.from)) < 0.005);
  t.diagnostic(
    `${alignment.words.length} words, ${voiced.length}/${spoken.length} voiced, ${silent.length}/${gaps.length} pauses silent, ${segments} segments`,
  );
  assert.ok(voiced.length >= 0.9 * spoken.length, `${voiced.length} of ${spoken.length} words are voiced where the alignment puts them`);
  assert.equal(silent.length, gaps.length, "every pause the alignment shows is silence in the file");
});
