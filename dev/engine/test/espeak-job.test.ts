import assert from "node:assert/strict";
import { after, it } from "node:test";
import { warmUpEspeak } from "../espeak-synth.ts";
import { runJob } from "../job-runner.ts";
import { analyseSpeech } from "../speech-features.ts";
import { encodeWav } from "../wav-codec.ts";
import { espeakJobDeps } from "./support/espeak-deps.ts";
import { startFakeWorker } from "./support/fake-worker.ts";
import { assertProtocolOrder } from "./support/sequence-checks.ts";
import { syntheticSpeech } from "./support/synthetic-audio.ts";

const PARAGRAPH =
  "The harbour was quiet at dawn. Fishing boats rocked gently against the pier, and the gulls had not yet begun their quarrels. " +
  "A woman in a yellow coat walked slowly along the water, stopping now and then to watch the light change on the waves. " +
  "Why do mornings feel so full of promise? Perhaps because nothing has gone wrong yet! ";

/** The whole product path with real eSpeak: a 5,000-character job, timed. */
it("runs a 5,000-character generate job with eSpeak end to end, in a voice near the reference's pitch", async (t) => {
  const worker = await startFakeWorker({
    reference: { status: 200, body: encodeWav(syntheticSpeech(210, 4, 24000), 24000), contentType: "audio/wav" },
  });
  after(() => worker.close());
  await warmUpEspeak();
  const text = PARAGRAPH.repeat(Math.ceil(5000 / PARAGRAPH.length)).slice(0, 5000);
  const deps = espeakJobDeps();
  const started = performance.now();
  const outcome = await runJob(worker.job({ text, output: { format: "wav", sample_rate: 24000 } }), deps, new AbortController());
  const seconds = (performance.now() - started) / 1000;
  assert.equal(outcome, "completed");
  assert.deepEqual(worker.violations, []);
  assertProtocolOrder(worker.steps);

  const completed = worker.events().at(-1)!;
  assert.ok(completed.type === "completed");
  const segments = worker.events().filter((e) => e.type === "segment").length;
  assert.ok(segments >= 10, `${segments} segments`);
  const final = worker.wav("final");
  const spoken = analyseSpeech(final.samples, final.sampleRate).f0Hz!;
  assert.ok(Math.abs(spoken - 210) / 210 < 0.2, `reference 210 Hz, final speaks at ${spoken.toFixed(0)} Hz`);
  t.diagnostic(
    `5,000 chars → ${segments} segments, ${(completed.duration_ms / 1000).toFixed(1)} s of audio in ${seconds.toFixed(2)} s: ` +
      `${Math.round(5000 / seconds)} chars/s, ${(completed.duration_ms / 1000 / seconds).toFixed(1)}x real time`,
  );
});

/** Same input, same seed → the same bytes (eSpeak's state is reset before every call: espeak-synth.ts). */
it("makes identical files for the same text, voice and seed, whatever ran in between", async () => {
  const reference = { status: 200, body: encodeWav(syntheticSpeech(140, 4, 24000), 24000), contentType: "audio/wav" };
  const deps = espeakJobDeps();
  const finals: Uint8Array[] = [];
  for (const text of [PARAGRAPH, "Something else entirely, in between.", PARAGRAPH, PARAGRAPH]) {
    const worker = await startFakeWorker({ reference });
    try {
      const job = worker.job({ text, seed: 7, output: { format: "wav", sample_rate: 24000 } });
      assert.equal(await runJob(job, deps, new AbortController()), "completed");
      if (text === PARAGRAPH) finals.push(worker.uploads.get("final")!);
    } finally {
      await worker.close();
    }
  }
  assert.equal(finals.length, 3);
  assert.ok(finals[0]!.length > 44);
  assert.deepEqual(finals[1], finals[0]);
  assert.deepEqual(finals[2], finals[0]);
});

/** Takes (ADR 0022): another seed is another take, audibly (pitch and pace move), and each seed stays repeatable. */
it("makes a different take for a different seed: another pitch or length, and the same bytes again for the same seed", async (t) => {
  const reference = { status: 200, body: encodeWav(syntheticSpeech(140, 4, 24000), 24000), contentType: "audio/wav" };
  const deps = espeakJobDeps();
  const render = async (seed: number | undefined) => {
    const worker = await startFakeWorker({ reference });
    try {
      const job = worker.job({ text: PARAGRAPH, ...(seed === undefined ? {} : { seed }), output: { format: "wav", sample_rate: 24000 } });
      assert.equal(await runJob(job, deps, new AbortController()), "completed");
      return { bytes: worker.uploads.get("final")!, wav: worker.wav("final") };
    } finally {
      await worker.close();
    }
  };
  const [a, b, a2] = [await render(1), await render(2), await render(1)];
  assert.deepEqual(a2.bytes, a.bytes, "seed 1 twice: byte-identical");
  assert.notDeepEqual(b.bytes, a.bytes, "seed 2 is another take");
  const f0 = (w: typeof a.wav) => analyseSpeech(w.samples, w.sampleRate).f0Hz!;
  const pitchMoved = Math.abs(f0(a.wav) - f0(b.wav)) / f0(a.wav);
  const lengthMoved = Math.abs(a.wav.samples.length - b.wav.samples.length) / a.wav.samples.length;
  t.diagnostic(`seed 1 → 2: F0 ${f0(a.wav).toFixed(0)} → ${f0(b.wav).toFixed(0)} Hz, length ${a.wav.samples.length} → ${b.wav.samples.length} samples`);
  assert.ok(pitchMoved > 0.01 || lengthMoved > 0.01, `pitch moved ${(pitchMoved * 100).toFixed(1)} %, length ${(lengthMoved * 100).toFixed(1)} %`);
});
