import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";
import type { SubmitRequest } from "../../../worker/engine/protocol.ts";
import { durationMs } from "../audio-dsp.ts";
import type { SynthRequest } from "../espeak-synth.ts";
import { CROSSFADE_SECONDS, runJob, type JobDeps } from "../job-runner.ts";
import { silentLogger } from "../log.ts";
import { JOB_TOKEN, startFakeWorker, type FakeWorker, type FakeWorkerOptions } from "./support/fake-worker.ts";
import { assertProtocolOrder } from "./support/sequence-checks.ts";
import { longText, referenceWav, toneSynthesizer } from "./support/synthetic-audio.ts";
import { virtualClock, type VirtualClock } from "./support/virtual-clock.ts";


let worker: FakeWorker | undefined;
/** Time in these tests is virtual: it passes only when the job waits (heartbeats, delays, backoff). */
let clock: VirtualClock = virtualClock();
afterEach(async () => {
  await worker?.close();
  worker = undefined;
  clock = virtualClock();
});

function deps(overrides: Partial<JobDeps> = {}): JobDeps {
  return {
    fetch: globalThis.fetch,
    clock,
    synthesize: toneSynthesizer(),
    log: silentLogger,
    retry: { attempts: 3, baseDelayMs: 2, maxDelayMs: 10, timeoutMs: 5000 },
    heartbeatMs: 5000,
    segmentDelayMs: 0,
    ...overrides,
  };
}

async function run(
  options: FakeWorkerOptions,
  job: Partial<SubmitRequest> = {},
  overrides: Partial<JobDeps> = {},
  control = new AbortController(),
) {
  worker = await startFakeWorker({ reference: referenceWav(), clock, ...options });
  const outcome = await runJob(worker.job(job), deps(overrides), control);
  return { outcome, worker };
}

describe("a generate job", () => {
  it("follows the protocol: started, upload-then-announce per segment, progress per segment, final upload, completed", async () => {
    const { outcome, worker } = await run({}, { text: longText(5000) });
    assert.equal(outcome, "completed");
    assert.deepEqual(worker.violations, []);
    assertProtocolOrder(worker.steps);

    const events = worker.events();
    const started = events[0]!;
    assert.ok(started.type === "started" && started.segments_total !== undefined && started.segments_total >= 10);
    const segments = events.filter((e) => e.type === "segment");
    assert.equal(segments.length, started.segments_total);
    const progress = events.filter((e) => e.type === "progress");
    assert.ok(progress.filter((e) => e.stage === "generating").length >= segments.length, "at least one progress per segment");
    assert.deepEqual([...new Set(progress.map((e) => e.stage))], ["preparing_voice", "generating", "stitching", "uploading"]);
    assert.equal(events.at(-1)!.type, "completed");
    assert.deepEqual(worker.referenceRequests.length, 1);
  });

  it("uploads 16-bit mono WAVs at the requested rate whose lengths match the events, and a final that is their crossfaded sum", async () => {
    const { worker } = await run({}, { text: longText(1200), output: { format: "wav", sample_rate: 16000 } });
    const events = worker.events();
    const segments = events.flatMap((e) => (e.type === "segment" ? [e] : []));
    let sumMs = 0;
    for (const s of segments) {
      const wav = worker.wav(`segments/${s.index}`);
      assert.equal(wav.sampleRate, 16000);
      assert.equal(wav.channels, 1);
      assert.equal(durationMs(wav.samples.length, 16000), s.duration_ms);
      sumMs += s.duration_ms;
    }
    const completed = events.at(-1)!;
    assert.ok(completed.type === "completed");
    const final = worker.wav("final");
    assert.equal(completed.sample_rate, 16000);
    assert.equal(completed.size_bytes, worker.uploads.get("final")!.length);
    assert.equal(completed.duration_ms, durationMs(final.samples.length, 16000));
    // The Worker's check: final ≈ Σ segments − one crossfade per join, within 1 % (or 50 ms per join).
    const joins = segments.length - 1;
    const expected = sumMs - joins * CROSSFADE_SECONDS * 1000;
    assert.ok(Math.abs(completed.duration_ms - expected) <= Math.max(expected * 0.01, 50 * joins));
    assert.ok(Math.abs(completed.duration_ms - expected) <= segments.length, "exact up to rounding each segment to whole ms");
  });

  it("sends the job token with every callback and reference download", async () => {
    const { worker } = await run({}, {});
    assert.deepEqual(worker.violations, []); // the fake Worker records any call without the token
    assert.equal(worker.job().callbacks.token, JOB_TOKEN);
  });

  it("gives different references different voices", async () => {
    const seen: SynthRequest[] = [];
    const recording = toneSynthesizer();
    const synthesize = async (req: SynthRequest) => (seen.push(req), recording(req));
    await run({ reference: referenceWav(100) }, {}, { synthesize });
    await worker!.close();
    await run({ reference: referenceWav(230) }, {}, { synthesize });
    assert.notDeepEqual(seen[0]!.traits, seen.at(-1)!.traits);
  });

  it("does not download a reference again that it knows by the Worker's reference id and transcript (ADR 0024)", async () => {
    const seen: SynthRequest[] = [];
    const tone = toneSynthesizer();
    const synthesize = async (req: SynthRequest) => (seen.push(req), tone(req));
    const id = `voice_${process.pid}_${Date.now()}.48044`; // this process's cache outlives a test
    await run({ reference: referenceWav(100) }, {}, { synthesize });
    const w = worker!;
    const voice = (more: Partial<NonNullable<SubmitRequest["voice"]>>) => ({ voice: { ...w.job().voice!, reference_id: id, ...more } });
    const again = async (more: Partial<NonNullable<SubmitRequest["voice"]>> = {}) => {
      const before = w.referenceRequests.length;
      assert.equal(await runJob(w.job(voice(more)), deps({ synthesize }), new AbortController()), "completed");
      return w.referenceRequests.length - before;
    };
    assert.equal(await again(), 1, "the first time, the clip is downloaded");
    const traits = seen.at(-1)!.traits;
    assert.equal(await again(), 0, "then the id is enough");
    assert.deepEqual(seen.at(-1)!.traits, traits);
    assert.equal(await again({ reference_text: "A transcript it had not seen." }), 1, "a new transcript is a new voice");
    assert.equal(await again({ reference_id: `${id}0` }), 1, "a new id is downloaded (the bytes may differ)");
  });

  it("sends heartbeats from a timer while segments take time", async () => {
    const { outcome, worker } = await run({}, { text: longText(1000) }, { heartbeatMs: 15, segmentDelayMs: 40 });
    assert.equal(outcome, "completed");
    assertProtocolOrder(worker.steps);
    assert.ok(worker.types().filter((t) => t === "heartbeat").length >= 3, worker.types().join(","));
  });

  it("retries events and uploads the Worker answers with 5xx", async () => {
    const { outcome, worker } = await run({
      respond: (_kind, path, attempt) => (attempt <= 2 && (path === "events" || path === "segments/0") ? 503 : undefined),
    });
    assert.equal(outcome, "completed");
    assert.deepEqual(worker.violations, []);
    assertProtocolOrder(worker.steps);
  });

  it("speaks an auto-language text in the script's language", async () => {
    const seen: SynthRequest[] = [];
    const tone = toneSynthesizer();
    await run({}, { text: "Привет, мир. Как дела?", language: "auto" }, { synthesize: async (r) => (seen.push(r), tone(r)) });
    assert.equal(seen[0]!.language, "ru");
  });
});

describe("a design_preview job", () => {
  it("voices the description without downloading any reference", async () => {
    const seen: SynthRequest[] = [];
    const tone = toneSynthesizer();
    const synthesize = async (r: SynthRequest) => (seen.push(r), tone(r));
    const { outcome, worker } = await run(
      {},
      { kind: "design_preview", voice: undefined, instruct: "a deep, slow old man" },
      { synthesize },
    );
    assert.equal(outcome, "completed");
    assertProtocolOrder(worker.steps);
    assert.deepEqual(worker.referenceRequests, []);
    assert.equal(seen[0]!.traits.variant, "grandpa");
    assert.ok(worker.events().some((e) => e.type === "progress" && e.stage === "preparing_voice"));
  });
});

describe("cancellation", () => {
  it("stops between segments when cancelled through the registry's controller, and sends nothing more", async () => {
    worker = await startFakeWorker({ reference: referenceWav(), clock });
    const control = new AbortController();
    const running = runJob(worker.job({ text: longText(3000) }), deps({ segmentDelayMs: 30, heartbeatMs: 10 }), control);
    await worker.until(() => worker!.types().includes("segment"));
    control.abort("cancelled through the cancel endpoint");
    assert.equal(await running, "cancelled");
    const countAtStop = worker.steps.length;
    assert.equal(clock.activeTimers(), 0, "the heartbeat timer is stopped");
    clock.advance(1000); // heartbeats would fire now if their timer were still set
    assert.equal(worker.steps.length, countAtStop, "no event or upload after the job stopped (and none in flight: runJob waited)");
    assert.ok(!worker.uploads.has("final"));
    assert.ok(!worker.types().some((t) => t === "completed" || t === "failed"));
    assertProtocolOrder(worker.steps);
  });

  it("stops when an EventAck reports the task cancelled, sending nothing after that event", async () => {
    const { outcome, worker } = await run(
      { ackState: (e) => (e.type === "segment" && e.index === 1 ? "cancelled" : "running") },
      { text: longText(3000) },
    );
    assert.equal(outcome, "cancelled");
    const last = worker.events().at(-1)!;
    assert.ok(last.type === "segment" && last.index === 1, `last event: ${JSON.stringify(last)}`);
    assert.ok(!worker.uploads.has("segments/2") && !worker.uploads.has("final"));
  });

  it("stops silently when the Worker answers an upload with 409 (job already terminal)", async () => {
    const { outcome, worker } = await run(
      { respond: (kind, path) => (kind === "upload" && path === "segments/1" ? 409 : undefined) },
      { text: longText(2000) },
    );
    assert.equal(outcome, "cancelled");
    assert.ok(!worker.types().includes("failed"));
  });

  it("stops once the deadline has passed", async () => {
    const { outcome, worker } = await run(
      {},
      { text: longText(2000), deadline: new Date(clock.now() + 80).toISOString() },
      { segmentDelayMs: 40 },
    );
    assert.equal(outcome, "cancelled");
    assert.ok(!worker.types().includes("completed"));
  });
});

describe("failures", () => {
  it("reports reference_unavailable (not retryable) when the reference answers 403", async () => {
    const { outcome, worker } = await run({
      reference: { status: 403, body: new TextEncoder().encode("forbidden"), contentType: "text/plain" },
    });
    assert.equal(outcome, "failed");
    assertProtocolOrder(worker.steps);
    const failed = worker.events().at(-1)!;
    assert.ok(failed.type === "failed");
    assert.equal(failed.error.code, "reference_unavailable");
    assert.equal(failed.error.retryable, false);
    assert.equal(worker.uploads.size, 0);
  });

  it("reports reference_unusable for a broken WAV", async () => {
    const { worker } = await run({
      reference: { status: 200, body: new TextEncoder().encode("RIFF\0\0\0\0WAVEjunk"), contentType: "audio/wav" },
    });
    const failed = worker.events().at(-1)!;
    assert.ok(failed.type === "failed" && failed.error.code === "reference_unusable");
  });

  it("reports generation_failed when synthesis throws", async () => {
    const { outcome, worker } = await run({}, {}, { synthesize: async () => Promise.reject(new Error("eSpeak exploded")) });
    assert.equal(outcome, "failed");
    const failed = worker.events().at(-1)!;
    assert.ok(failed.type === "failed" && failed.error.code === "generation_failed" && failed.error.message.includes("eSpeak exploded"));
  });

  it("reports upload_failed (not retryable) when an upload is refused with 400", async () => {
    const { worker } = await run({ respond: (kind) => (kind === "upload" ? 400 : undefined) });
    const failed = worker.events().at(-1)!;
    assert.ok(failed.type === "failed" && failed.error.code === "upload_failed" && !failed.error.retryable);
  });

  it("reports upload_failed (retryable) when uploads keep failing with 5xx", async () => {
    const { worker } = await run({ respond: (kind) => (kind === "upload" ? 502 : undefined) });
    const failed = worker.events().at(-1)!;
    assert.ok(failed.type === "failed" && failed.error.code === "upload_failed" && failed.error.retryable);
  });

  it("reports invalid_input for a text with nothing to speak, after started", async () => {
    const { worker } = await run({}, { text: "   " });
    assert.deepEqual(worker.types(), ["started", "failed"]);
    const failed = worker.events().at(-1)!;
    assert.ok(failed.type === "failed" && failed.error.code === "invalid_input");
  });

  it("stops without a failed event when the Worker refuses the job token", async () => {
    const { outcome, worker } = await run({ respond: (kind) => (kind === "event" ? 401 : undefined) });
    assert.equal(outcome, "cancelled");
    assert.deepEqual(worker.events(), []);
  });
});
