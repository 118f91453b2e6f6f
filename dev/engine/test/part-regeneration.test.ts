import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Alignment } from "../../../worker/engine/alignment.ts";
import { crossfadeSamples, runJob, type JobDeps } from "../job-runner.ts";
import { warmUpEspeak, type Synthesizer } from "../espeak-synth.ts";
import { decodeWav, encodeWav } from "../wav-codec.ts";
import { espeakJobDeps } from "./support/espeak-deps.ts";
import { startFakeWorker, type FakeWorker } from "./support/fake-worker.ts";
import { syntheticSpeech } from "./support/synthetic-audio.ts";

/**
 * A part regeneration (ADR 0026) with real eSpeak: render only the listed part, read the others back,
 * restitch the final (unchanged outside the part), and keep word timings for every part.
 */
const TEXT =
  "The harbour was quiet at dawn, and the boats rocked gently against the old stone pier. " +
  "A woman in a yellow coat walked slowly along the water, stopping now and then to watch the light. " +
  "Far out at sea a ship sounded its horn, and the gulls rose from the roofs all at once. " +
  "By the time the bakery opened its doors the whole town was awake and the day had begun.";
const SEGMENTS = { minChars: 60, maxChars: 110 };

const workers: FakeWorker[] = [];
after(async () => {
  for (const w of workers) await w.close();
});
before(() => warmUpEspeak());

async function fakeWorker() {
  const w = await startFakeWorker({
    reference: { status: 200, body: encodeWav(syntheticSpeech(150, 4, 24000), 24000), contentType: "audio/wav" },
  });
  workers.push(w);
  return w;
}

/** Records what the synthesiser is asked to speak, for audio and for timings only. */
function recording(inner: Synthesizer) {
  const rendered: string[] = [];
  const timed: string[] = [];
  const synthesize: Synthesizer = async (req) => {
    (req.purpose === "timings" ? timed : rendered).push(req.text);
    return inner(req);
  };
  return { synthesize, rendered, timed };
}

function deps(synthesize?: Synthesizer): JobDeps {
  const base = espeakJobDeps();
  return { ...base, segmentOptions: SEGMENTS, ...(synthesize ? { synthesize } : {}) };
}

const segmentPaths = (w: FakeWorker) => [...w.uploads.keys()].filter((k) => k.startsWith("segments/")).sort();

describe("part regeneration (ADR 0026)", () => {
  it("renders only the listed part, reads the others back, and restitches a final that differs only there", async () => {
    const source = await fakeWorker();
    assert.equal(await runJob(source.jobV2({ job_id: "job_source", text: TEXT, seed: 1 }), deps(), new AbortController()), "completed");
    assert.deepEqual(source.violations, []);
    const total = segmentPaths(source).length;
    assert.ok(total >= 3, `${total} parts`);
    const k = 1;

    // The part take's tracker starts with the source's other parts as durable artifacts (shared keys).
    const take = await fakeWorker();
    for (let i = 0; i < total; i++) if (i !== k) take.uploads.set(`segments/${i}`, source.uploads.get(`segments/${i}`)!);
    const rec = recording(deps().synthesize);
    const job = take.jobV2({ job_id: "job_part", text: TEXT, seed: 99, render_parts: { indices: [k], segments_total: total } });
    assert.equal(await runJob(job, deps(rec.synthesize), new AbortController()), "completed");
    assert.deepEqual(take.violations, []);

    // Only part k was spoken for its audio, uploaded and streamed; every other part was read back.
    const uploaded = take.steps.flatMap((s) => (s.op === "upload" ? [s.path] : []));
    assert.deepEqual(
      uploaded.filter((p) => p.startsWith("segments/")),
      [`segments/${k}`],
    );
    assert.deepEqual(
      take.reads,
      Array.from({ length: total }, (_, i) => i)
        .filter((i) => i !== k)
        .map((i) => `segments/${i}`),
    );
    assert.ok(take.frames.length > 0 && take.frames.every((f) => f.segment === k), "only the regenerated part is streamed");
    assert.ok(rec.rendered.length > 0);
    const partText = (await segmentTexts(total))[k]!;
    assert.ok(
      rec.rendered.every((t) => partText.includes(t.trim())),
      `only part ${k}'s text is rendered: ${rec.rendered.join(" | ")}`,
    );
    // Every part is announced, so the Worker keeps them all for this take.
    const announced = take.events().flatMap((e) => (e.type === "segment" ? [e.index] : []));
    assert.deepEqual(
      announced,
      Array.from({ length: total }, (_, i) => i),
    );

    // The final: the same samples before part k's join and after the next one's, new in between.
    const fade = crossfadeSamples(24000);
    const lengths = (w: FakeWorker) => Array.from({ length: total }, (_, i) => w.wav(`segments/${i}`).samples.length);
    const [oldLens, newLens] = [lengths(source), lengths(take)];
    const start = oldLens.slice(0, k).reduce((a, b) => a + b, 0) - k * fade;
    const tail = oldLens.slice(k + 1).reduce((a, b) => a + b, 0) - (total - 1 - k) * fade - fade;
    const [oldFinal, newFinal] = [pcm16(source, "final"), pcm16(take, "final")];
    assert.equal(newFinal.length, newLens.reduce((a, b) => a + b, 0) - (total - 1) * fade);
    assert.deepEqual(newFinal.subarray(0, start), oldFinal.subarray(0, start), "unchanged before the part");
    assert.deepEqual(newFinal.subarray(newFinal.length - tail), oldFinal.subarray(oldFinal.length - tail), "unchanged after the part");
    assert.notDeepEqual(
      newFinal.subarray(start, newFinal.length - tail),
      oldFinal.subarray(start, oldFinal.length - tail),
      "new inside the part",
    );

    // Subtitles survive: every word of the text is timed, in order, inside the audio.
    const alignment = Alignment.parse(JSON.parse(new TextDecoder().decode(take.uploads.get("alignment.json")!)));
    assert.equal(alignment.words.map((w) => w.text).join(" "), TEXT.replace(/\s+/g, " ").trim());
    const duration = newFinal.length / 24000;
    assert.ok(Math.abs(alignment.duration - duration) < 0.001);
    const sourceAlignment = Alignment.parse(JSON.parse(new TextDecoder().decode(source.uploads.get("alignment.json")!)));
    // A part before the regenerated one keeps its timings (read back, timed again by eSpeak with a scale).
    const firstWord = (a: typeof alignment) => a.words[0]!;
    assert.ok(Math.abs(firstWord(alignment).start - firstWord(sourceAlignment).start) < 0.05);
    for (const [i, w] of alignment.words.entries()) {
      assert.ok(w.end <= duration + 0.05, `word ${i} inside the audio`);
      if (i > 0) assert.ok(w.start >= alignment.words[i - 1]!.start, `word ${i} in order`);
    }
  });

  it("fails non-retryably when the text splits into another number of parts than the take had", async () => {
    const w = await fakeWorker();
    const job = w.jobV2({ job_id: "job_mismatch", text: TEXT, render_parts: { indices: [0], segments_total: 9 } });
    assert.equal(await runJob(job, deps(), new AbortController()), "failed");
    const last = w.events().at(-1)!;
    assert.ok(last.type === "failed" && last.error.code === "invalid_input" && !last.error.retryable);
    assert.match(last.type === "failed" ? last.error.message : "", /not the 9/);
    assert.deepEqual(segmentPaths(w), [], "nothing rendered");
  });
});

/** The text of each part as the engine splits it. */
async function segmentTexts(_total: number): Promise<string[]> {
  const { segmentText } = await import("../segmentation.ts");
  return segmentText(TEXT, SEGMENTS);
}

function pcm16(w: FakeWorker, path: string): Int16Array {
  const decoded = decodeWav(w.uploads.get(path)!);
  return Int16Array.from(decoded.samples, (s) => Math.round(s < 0 ? s * 0x8000 : s * 0x7fff));
}
