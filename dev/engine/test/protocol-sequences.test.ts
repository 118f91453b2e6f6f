import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { describe, it } from "node:test";
import * as z from "zod";
import { EngineEvent, SubmitRequest } from "../../../worker/engine/protocol.ts";
import { systemClock } from "../clock.ts";
import { createEspeakSynthesizer, type Synthesizer } from "../espeak-synth.ts";
import { JobError } from "../job-errors.ts";
import { runJob, type JobDeps } from "../job-runner.ts";
import { silentLogger } from "../log.ts";
import { encodeWav } from "../wav-codec.ts";
import { startFakeWorker, type Reference, type Step } from "./support/fake-worker.ts";
import { assertProtocolOrder, eventFields, sequenceShape } from "./support/sequence-checks.ts";
import { syntheticSpeech } from "./support/synthetic-audio.ts";

/**
 * The shared fixtures in test/fixtures/engine-protocol/sequences/ are whole
 * jobs as the production engine runs them. Each is replayed here: its job is
 * run by this engine against the fake Worker, in the same situation (reference
 * available or refused, generation failing where it failed), and the recorded
 * sequence must have the fixture's grammar. Segment, progress and heartbeat
 * counts may differ (eSpeak is not the GPU model); the order rules may not.
 */
const SEQUENCES = new URL("../../../test/fixtures/engine-protocol/sequences/", import.meta.url);
const Sequence = z.object({
  description: z.string(),
  job: SubmitRequest.optional(),
  steps: z.array(
    z.union([z.object({ op: z.literal("event"), value: EngineEvent }), z.object({ op: z.literal("upload"), path: z.string() })]),
  ),
});
type Sequence = z.infer<typeof Sequence>;

const files = existsSync(SEQUENCES)
  ? readdirSync(SEQUENCES)
      .filter((f) => f.endsWith(".json"))
      .sort()
  : [];

/**
 * A finer grammar than sequenceShape: progress runs count as one token (their
 * number is free, their places are not), heartbeats are dropped, and each
 * "upload segment, announce it, report progress" round becomes one token.
 */
function roundShape(steps: readonly Step[]): string[] {
  const tokens: string[] = [];
  for (const s of steps) {
    const token = s.op === "upload" ? (s.path === "final" ? "upload:final" : "upload:segment") : s.value.type;
    if (token === "heartbeat" || (token === "progress" && tokens.at(-1) === "progress")) continue;
    tokens.push(token);
  }
  const out: string[] = [];
  for (let i = 0; i < tokens.length; i++) {
    if (tokens[i] === "upload:segment" && tokens[i + 1] === "segment" && tokens[i + 2] === "progress") {
      if (out.at(-1) !== "(upload:segment segment progress)+") out.push("(upload:segment segment progress)+");
      i += 2;
    } else {
      out.push(tokens[i]!);
    }
  }
  return out;
}

/** Recreates the fixture's situation for this engine: what the reference answers, where generation fails. */
function scenario(fixture: Sequence): { reference: Reference; failAtSegment?: { index: number; error: JobError } } {
  const events = fixture.steps.flatMap((s) => (s.op === "event" ? [s.value] : []));
  const failed = events.find((e) => e.type === "failed");
  const okReference = { status: 200, body: encodeWav(syntheticSpeech(180, 3, 24000), 24000), contentType: "audio/wav" };
  if (failed?.type === "failed" && failed.error.code === "reference_unavailable") {
    return { reference: { status: 403, body: new TextEncoder().encode("forbidden"), contentType: "text/plain" } };
  }
  if (failed?.type === "failed") {
    const delivered = events.filter((e) => e.type === "segment").length;
    return {
      reference: okReference,
      failAtSegment: { index: delivered, error: new JobError(failed.error.code, failed.error.message, failed.error.retryable) },
    };
  }
  return { reference: okReference };
}

describe("shared protocol sequences", () => {
  if (files.length === 0) {
    it("has no sequence fixtures yet", (t) => t.skip(`none in ${SEQUENCES.pathname}`));
    return;
  }
  for (const file of files) {
    it(`matches the grammar of ${file}`, async () => {
      const fixture = Sequence.parse(JSON.parse(readFileSync(new URL(file, SEQUENCES), "utf8")));
      assertProtocolOrder(fixture.steps); // the fixture itself obeys the rules we check ourselves against
      const { reference, failAtSegment } = scenario(fixture);
      const token = fixture.job?.callbacks.token;
      const worker = await startFakeWorker({ reference, ...(token ? { token } : {}) });
      try {
        const job = fixture.job ? worker.retarget(fixture.job) : worker.job();
        const espeak = createEspeakSynthesizer();
        let calls = 0;
        const synthesize: Synthesizer = async (request) => {
          if (failAtSegment && calls++ === failAtSegment.index) throw failAtSegment.error;
          return espeak(request);
        };
        const deps: JobDeps = {
          fetch: globalThis.fetch,
          clock: systemClock,
          synthesize,
          log: silentLogger,
          retry: { attempts: 2, baseDelayMs: 2, maxDelayMs: 5, timeoutMs: 10_000 },
          heartbeatMs: 5000,
          segmentDelayMs: 0,
          // Failing "at segment n" needs at least n + 1 segments, whatever this engine's grouping would do.
          ...(failAtSegment ? { segmentOptions: { minChars: 10, maxChars: 60 } } : {}),
        };
        await runJob(job, deps, new AbortController());

        assert.deepEqual(worker.violations, []);
        assertProtocolOrder(worker.steps);
        assert.deepEqual(sequenceShape(worker.steps), sequenceShape(fixture.steps));
        assert.deepEqual(roundShape(worker.steps), roundShape(fixture.steps));
        const ours = eventFields(worker.steps);
        for (const [type, fields] of Object.entries(eventFields(fixture.steps))) {
          if (type === "heartbeat" || !ours[type]) continue;
          assert.deepEqual(ours[type], fields, `${type} events carry the same fields`);
        }
        const theirFailure = fixture.steps.find((s) => s.op === "event" && s.value.type === "failed");
        const ourFailure = worker.events().find((e) => e.type === "failed");
        if (theirFailure?.op === "event" && theirFailure.value.type === "failed") {
          assert.ok(ourFailure?.type === "failed");
          assert.equal(ourFailure.error.code, theirFailure.value.error.code);
          assert.equal(ourFailure.error.retryable, theirFailure.value.error.retryable);
        }
      } finally {
        await worker.close();
      }
    });
  }
});
