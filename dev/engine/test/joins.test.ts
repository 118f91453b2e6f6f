import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { runJob } from "../job-runner.ts";
import { DEFAULT_PAUSE_MS, MEASURED_PAUSE_MS, paragraphBreaksAfter, pauseSamples, sentencePauseMs } from "../joins.ts";
import { analyseSpeech } from "../speech-features.ts";
import { decodeWav, encodeWav } from "../wav-codec.ts";
import { espeakJobDeps } from "./support/espeak-deps.ts";
import { startFakeWorker, type FakeWorker } from "./support/fake-worker.ts";
import { syntheticSpeech } from "./support/synthetic-audio.ts";

// Issue 11, "natural joins": sentences and parts are followed by a pause, not butted together.

/** The silent stretches (|x| below -50 dBFS for at least 60 ms) inside the audio, in ms, in order. */
function silences(samples: Float32Array, rate: number): number[] {
  const quiet = 10 ** (-50 / 20);
  const min = Math.round(0.06 * rate);
  const first = samples.findIndex((v) => Math.abs(v) >= quiet);
  let last = samples.length - 1;
  while (last > 0 && Math.abs(samples[last]!) < quiet) last--;
  const out: number[] = [];
  let run = 0;
  for (let i = Math.max(0, first); i <= last; i++) {
    if (Math.abs(samples[i]!) < quiet) run++;
    else {
      if (run >= min) out.push(Math.round((run / rate) * 1000));
      run = 0;
    }
  }
  return out;
}

describe("joins", () => {
  it("takes the pause asked for, else the voice's own within natural bounds, else the default", () => {
    assert.equal(sentencePauseMs(0, 0.5), 0);
    assert.equal(sentencePauseMs(1200, 0.5), 1200);
    assert.equal(sentencePauseMs(undefined, 0.42), 420);
    assert.equal(sentencePauseMs(undefined, 3), MEASURED_PAUSE_MS.max);
    assert.equal(sentencePauseMs(undefined, 0.05), MEASURED_PAUSE_MS.min);
    assert.equal(sentencePauseMs(undefined, null), DEFAULT_PAUSE_MS);
    assert.equal(pauseSamples("sentence", 400, 24000), 9600);
    assert.equal(pauseSamples("paragraph", 400, 24000), 19200);
    assert.equal(pauseSamples("clause", 400, 24000), 3840, "a clause cut off the first sentence: 0.4 × the sentence pause");
    assert.equal(pauseSamples(null, 400, 24000), 0);
  });

  it("finds the paragraph breaks between parts cut from a text", () => {
    const text = "One. Two.\n\nThree.\n Four.\n  \n\tFive.";
    assert.deepEqual(paragraphBreaksAfter(text, ["One.", "Two.", "Three.", "Four.", "Five."]), [false, true, false, true, false]);
    assert.deepEqual(paragraphBreaksAfter(text, ["One. Two.", "Three.\n Four.", "Five."]), [true, true, false]);
  });

  it("measures a reference's pauses", () => {
    const rate = 16000;
    const speech = syntheticSpeech(140, 1.2, rate);
    const gap = (ms: number) => new Float32Array(Math.round((ms / 1000) * rate));
    const parts = [speech, gap(300), speech, gap(500), speech, gap(400), speech];
    const audio = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) {
      audio.set(p, at);
      at += p.length;
    }
    const pause = analyseSpeech(audio, rate).pauseSec!;
    assert.ok(Math.abs(pause - 0.5) < 0.06, `pause ${pause}`);
    assert.equal(analyseSpeech(speech, rate).pauseSec, null);
  });
});

describe("a job's joins", () => {
  let worker: FakeWorker | undefined;
  after(async () => worker?.close());
  const deps = espeakJobDeps();
  const TEXT = "The boat left the harbour at dawn. The gulls were still asleep.\n\nBy noon the sea had turned grey.";

  async function finalOf(pause_ms: number | undefined) {
    worker = await startFakeWorker({ reference: { status: 200, body: encodeWav(syntheticSpeech(140, 4, 24000), 24000), contentType: "audio/wav" } });
    try {
      const job = worker.job({ text: TEXT, ...(pause_ms !== undefined ? { pause_ms } : {}) });
      assert.equal(await runJob(job, deps, new AbortController()), "completed");
      return decodeWav(worker.uploads.get("final")!);
    } finally {
      await worker.close();
      worker = undefined;
    }
  }

  it("puts the pause asked for after each sentence, and twice it at a paragraph break", async () => {
    const { samples, sampleRate } = await finalOf(400);
    const gaps = silences(samples, sampleRate).filter((ms) => ms >= 300);
    assert.equal(gaps.length, 2, `gaps ${silences(samples, sampleRate)}`);
    assert.ok(Math.abs(gaps[0]! - 400) <= 60, `sentence pause ${gaps[0]} ms`);
    assert.ok(Math.abs(gaps[1]! - 800) <= 60, `paragraph pause ${gaps[1]} ms`);
  });

  it("butts sentences together only when asked to (pause_ms 0)", async () => {
    const { samples, sampleRate } = await finalOf(0);
    assert.deepEqual(silences(samples, sampleRate).filter((ms) => ms >= 200), []);
  });
});
