import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";
import type { SubmitRequest } from "../../../worker/engine/protocol.ts";
import { Peaks } from "../../../worker/engine/peaks.ts";
import { runJob, type JobDeps } from "../job-runner.ts";
import { silentLogger } from "../log.ts";
import type { Synthesizer } from "../espeak-synth.ts";
import { startFakeWorker, type FakeWorker } from "./support/fake-worker.ts";
import { longText, referenceWav, toneSynthesizer } from "./support/synthetic-audio.ts";
import { virtualClock, type VirtualClock } from "./support/virtual-clock.ts";

/** Long-form (ADR 0023): a resumed attempt renders only the unfinished parts; the peaks artifact. */

let worker: FakeWorker | undefined;
afterEach(async () => {
  await worker?.close();
  worker = undefined;
});

/** Counts what the synthesiser is asked to speak: a re-rendered part would show up here. */
function countingSynth(): { synthesize: Synthesizer; texts: string[] } {
  const inner = toneSynthesizer();
  const texts: string[] = [];
  return {
    texts,
    synthesize: async (req) => {
      // A part read back is spoken again only for its word timings (purpose "timings"): not a render.
      if (req.purpose !== "timings") texts.push(req.text);
      return inner(req);
    },
  };
}

function deps(clock: VirtualClock, overrides: Partial<JobDeps> = {}): JobDeps {
  return {
    fetch: globalThis.fetch,
    clock,
    synthesize: toneSynthesizer(),
    log: silentLogger,
    retry: { attempts: 3, baseDelayMs: 20, maxDelayMs: 100, timeoutMs: 5000 },
    heartbeatMs: 5000,
    segmentDelayMs: 0,
    reconnect: { attempts: 4, baseDelayMs: 100, maxDelayMs: 1000 },
    ...overrides,
  };
}

const segmentsOf = (w: FakeWorker) => [...w.uploads.keys()].filter((k) => k.startsWith("segments/")).length;

describe("long-form: resume from the last finished part (ADR 0023)", () => {
  for (const protocol of [2, 1] as const) {
    it(`protocol ${protocol}: a forced failure at 60 % fails retryably; the resume renders only the unfinished parts`, async () => {
      const clock = virtualClock();
      worker = await startFakeWorker({ reference: referenceWav(), clock });
      const job = protocol === 2 ? worker.jobV2({ text: longText(3000) }) : worker.job({ text: longText(3000) });
      const first = countingSynth();
      assert.equal(await runJob(job, deps(clock, { synthesize: first.synthesize, failAt: 0.6 }), new AbortController()), "failed");
      const failed = worker.events().at(-1)!;
      assert.equal(failed.type, "failed");
      assert.ok(failed.type === "failed" && failed.error.retryable && failed.error.code === "generation_failed");
      const total = (worker.events()[0] as { segments_total?: number }).segments_total!;
      const done = segmentsOf(worker);
      assert.equal(done, Math.floor(total * 0.6), "the first attempt stopped at 60 %");
      const kept = new Map([...worker.uploads].filter(([k]) => k.startsWith("segments/")));

      // What the Worker resubmits: the same job, from the first unfinished part.
      worker.resumeTask();
      const nextSeq = worker.events().at(-1)!.seq + 1;
      const lastFrame = worker.frames.length;
      const streamed = worker.frames.reduce((n, f) => n + f.pcm.length / 2, 0);
      const resume: SubmitRequest["resume_from"] = { attempt: 1, segment: done, next_seq: nextSeq, ...(protocol === 2 ? { stream_offset: streamed } : {}) };
      const stepsBefore = worker.steps.length;
      const second = countingSynth();
      assert.equal(await runJob({ ...job, resume_from: resume }, deps(clock, { synthesize: second.synthesize, failAt: 0.6 }), new AbortController()), "completed");
      assert.deepEqual(worker.violations, []);

      // Only the unfinished parts were spoken again; the finished ones were read back, not re-uploaded.
      const later = worker.steps.slice(stepsBefore);
      const uploaded = later.flatMap((s) => (s.op === "upload" ? [s.path] : []));
      assert.deepEqual(
        uploaded.filter((p) => p.startsWith("segments/")),
        Array.from({ length: total - done }, (_, i) => `segments/${done + i}`),
      );
      assert.deepEqual(worker.reads, Array.from({ length: done }, (_, i) => `segments/${i}`));
      // Every sentence is numbered, so no sentence spoken in the first attempt is spoken again.
      assert.ok(second.texts.length > 0);
      assert.deepEqual(second.texts.filter((t) => first.texts.includes(t)), [], "no finished part is spoken again");
      for (const [k, v] of kept) assert.deepEqual(worker.uploads.get(k), v, `${k} is not overwritten`);
      const events = worker.events();
      assert.deepEqual(
        events.map((e) => e.seq),
        events.map((_, i) => i),
        "seqs run on across the resume",
      );
      assert.equal(events.filter((e) => e.type === "started").length, 1, "no second started");
      assert.equal(events.at(-1)!.type, "completed");
      if (protocol === 2) {
        // Frames go on where the stream stopped: numbers and offsets continue, no finished part is streamed again.
        const fresh = worker.frames.slice(lastFrame);
        assert.equal(fresh[0]!.frame, lastFrame);
        assert.equal(fresh[0]!.stream_offset, streamed);
        assert.ok(fresh.every((f) => f.segment >= done));
      }
      // The final holds every part.
      const parts = Array.from({ length: total }, (_, i) => worker!.wav(`segments/${i}`).samples.length);
      const final = worker.wav("final").samples.length;
      assert.ok(Math.abs(final - (parts.reduce((a, b) => a + b, 0) - (total - 1) * 240)) <= 2, "the final is every part, crossfaded");
    });
  }

  it("a part that cannot be read back fails the resume retryably, never re-renders it silently", async () => {
    const clock = virtualClock();
    worker = await startFakeWorker({ reference: referenceWav(), clock, serveArtifacts: false });
    const job = worker.job({ text: longText(1500) });
    assert.equal(await runJob(job, deps(clock, { failAt: 0.5 }), new AbortController()), "failed");
    worker.resumeTask();
    const resume = { attempt: 1, segment: segmentsOf(worker), next_seq: worker.events().at(-1)!.seq + 1 };
    assert.equal(await runJob({ ...job, resume_from: resume }, deps(clock), new AbortController()), "failed");
    const last = worker.events().at(-1)!;
    assert.ok(last.type === "failed" && last.error.code === "engine_unavailable" && last.error.retryable);
    assert.match(last.type === "failed" ? last.error.message : "", /could not be read back/);
  });
});

describe("long-form: the peaks artifact (ADR 0023)", () => {
  it("a v2 generate job uploads peaks of its final audio after the final and before completed", async () => {
    const clock = virtualClock();
    worker = await startFakeWorker({ reference: referenceWav(), clock });
    assert.equal(await runJob(worker.jobV2({ text: longText(600) }), deps(clock), new AbortController()), "completed");
    assert.deepEqual(worker.violations, []);
    const order = worker.steps.map((s) => (s.op === "upload" ? s.path : s.value.type));
    assert.ok(order.indexOf("final") < order.indexOf("peaks") && order.indexOf("peaks") < order.indexOf("completed"), order.join(","));
    const peaks = Peaks.parse(JSON.parse(new TextDecoder().decode(worker.uploads.get("peaks")!)));
    const final = worker.wav("final");
    assert.equal(peaks.length, final.samples.length);
    assert.equal(peaks.sample_rate, final.sampleRate);
    const loudest = final.samples.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
    assert.ok(Math.abs(Math.max(...peaks.peaks) - loudest) < 0.002, "the peaks are the final's amplitudes");
  });

  it("a v1 job (no socket) uploads no peaks, as before", async () => {
    const clock = virtualClock();
    worker = await startFakeWorker({ reference: referenceWav(), clock });
    assert.equal(await runJob(worker.job({ text: longText(300) }), deps(clock), new AbortController()), "completed");
    assert.equal(worker.uploads.has("peaks"), false);
  });
});
