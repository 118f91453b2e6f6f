import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";
import type { SubmitRequest } from "../../../worker/engine/protocol.ts";
import { firstClause, REALTIME_LEAD_MS, runJob, sentencePieces, type JobDeps } from "../job-runner.ts";
import { silentLogger } from "../log.ts";
import { encodeMp3 } from "../mp3.ts";
import type { JobSubmit } from "../v2-wire.ts";
import { WAV_HEADER_BYTES } from "../wav-codec.ts";
import { startFakeWorker, type FakeWorker, type FakeWorkerOptions } from "./support/fake-worker.ts";
import { assertProtocolOrder } from "./support/sequence-checks.ts";
import { longText, referenceWav, toneSynthesizer } from "./support/synthetic-audio.ts";
import { virtualClock, type VirtualClock } from "./support/virtual-clock.ts";

/**
 * Protocol v2 jobs (ADR 0009) against the fake Worker's socket and artifact
 * routes. Time is virtual: backoff, heartbeats and pacing cost no real waiting.
 */

let worker: FakeWorker | undefined;
afterEach(async () => {
  await worker?.close();
  worker = undefined;
});

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

async function runV2(
  options: FakeWorkerOptions = {},
  job: Partial<SubmitRequest> = {},
  overrides: Partial<JobDeps> = {},
  clock = virtualClock(),
) {
  worker = await startFakeWorker({ reference: referenceWav(), clock, ...options });
  const outcome = await runJob(worker.jobV2(job), deps(clock, overrides), new AbortController());
  return { outcome, worker, clock };
}

/** Frames as the DO kept them: numbers without gaps, offsets that add up, per-segment PCM equal to the segment artifact. */
function assertGaplessFrames(w: FakeWorker) {
  const frames = w.frames;
  assert.ok(frames.length > 0, "frames were streamed");
  let stream = 0;
  const segmentOffset = new Map<number, number>();
  for (const [i, f] of frames.entries()) {
    assert.equal(f.frame, i, "frame numbers run 0, 1, 2… without gaps");
    assert.equal(f.stream_offset, stream, `frame ${i} starts where the stream is`);
    assert.equal(f.segment_offset, segmentOffset.get(f.segment) ?? 0, `frame ${i} starts where its segment is`);
    const samples = f.pcm.length / 2;
    stream += samples;
    segmentOffset.set(f.segment, (segmentOffset.get(f.segment) ?? 0) + samples);
  }
  const segments = [...new Set(frames.map((f) => f.segment))];
  assert.deepEqual(
    segments,
    segments.map((_, i) => i),
    "segments in order, each streamed once",
  );
  for (const s of segments) {
    const mine = frames.filter((f) => f.segment === s);
    assert.deepEqual(
      mine.map((f) => f.last_in_segment),
      mine.map((_, i) => i === mine.length - 1),
      `only the last frame of segment ${s} is flagged`,
    );
    const pcm = Buffer.concat(mine.map((f) => f.pcm));
    const wav = w.uploads.get(`segments/${s}`);
    assert.ok(wav, `segment ${s} artifact uploaded`);
    assert.ok(pcm.equals(Buffer.from(wav.subarray(WAV_HEADER_BYTES))), `segment ${s}'s frames are exactly its artifact's samples`);
  }
}

/** A WebSocket for the engine that notes how many synthesiser calls had been made when its first binary frame left. */
function firstFrameProbe(calls: readonly string[]) {
  let callsAtFirstFrame: number | null = null;
  class FirstFrameWebSocket extends WebSocket {
    override send(data: string | ArrayBufferLike | Blob | ArrayBufferView): void {
      if (typeof data !== "string") callsAtFirstFrame ??= calls.length;
      super.send(data);
    }
  }
  return { WebSocket: FirstFrameWebSocket, callsAtFirstFrame: () => callsAtFirstFrame };
}

describe("a protocol 2 job", () => {
  it("streams every segment as frames before its artifact, then events, artifacts and completed over one socket", async () => {
    const { outcome, worker } = await runV2({}, { text: longText(1500) });
    assert.equal(outcome, "completed");
    assert.deepEqual(worker.violations, []);
    assertProtocolOrder(worker.steps);
    assertGaplessFrames(worker);
    assert.equal(worker.connections.length, 1, "one socket for the whole job");
    const events = worker.events();
    assert.deepEqual(
      worker.connections[0]!.received,
      events.map((e) => e.seq),
      "every event went over the socket, once",
    );
    // The live path comes first: segment i's frames all arrive before segment i's artifact.
    const t = worker.timeline;
    const firstFrame = t.findIndex((e) => e.op === "frame");
    const firstArtifact = t.findIndex((e) => e.op === "upload");
    assert.ok(firstFrame >= 0 && firstFrame < firstArtifact, "frames before the first segment artifact");
    // Frames and uploads travel on two connections, so only the start of each segment's live audio can be
    // ordered against its artifact as the fake Worker receives them (its last frames may land after the PUT).
    for (const s of new Set(worker.frames.map((f) => f.segment))) {
      const firstOfSegment = t.findIndex((e) => e.op === "frame" && e.segment === s);
      const upload = t.findIndex((e) => e.op === "upload" && e.path === `segments/${s}`);
      assert.ok(firstOfSegment < upload, `segment ${s}: live frames begin before its artifact`);
    }
    const started = t.findIndex((e) => e.op === "event" && e.type === "started");
    assert.ok(started < firstFrame, "started comes first");
    assert.ok(worker.uploads.has("final"));
  });

  it("sends the first frame before any other step of the first segment (no upload, no event in between)", async () => {
    const { worker } = await runV2({}, { text: "Short first sentence. And a second one follows it here." });
    const t = worker.timeline.filter((e) => e.op !== "connect");
    const firstFrame = t.findIndex((e) => e.op === "frame");
    assert.deepEqual(
      t.slice(0, firstFrame).map((e) => (e.op === "event" ? e.type : e.op)),
      ["started", "progress"],
      "only started and preparing_voice precede the first audio",
    );
  });

  it("sends the first frame once the first sentence is synthesised, before the rest of the segment", async () => {
    const calls: string[] = [];
    const probe = firstFrameProbe(calls);
    const text = "The first sentence is short enough. The second sentence comes after it. And a third one closes the segment.";
    const { outcome, worker } = await runV2({}, { text }, { synthesize: toneSynthesizer(calls), WebSocket: probe.WebSocket });
    assert.equal(outcome, "completed");
    assert.deepEqual(calls, sentencePieces(text), "synthesised sentence by sentence");
    assert.equal(probe.callsAtFirstFrame(), 1, "the first frame left after one sentence");
    assertGaplessFrames(worker);
  });

  it("reconnects when the socket drops mid-job and resends only what was not acknowledged", async () => {
    const { outcome, worker } = await runV2(
      { dropOn: (a) => a.connection === 0 && a.kind === "event" && a.event.type === "segment" && a.event.index === 1 },
      { text: longText(1500) },
    );
    assert.equal(outcome, "completed");
    assert.deepEqual(worker.violations, []);
    assert.equal(worker.connections.length, 2, "reconnected once");
    const [first, second] = worker.connections as [(typeof worker.connections)[0], (typeof worker.connections)[0]];
    for (const seq of first.acked) assert.ok(!second.received.includes(seq), `acked seq ${seq} was not resent`);
    const dropped = first.received.at(-1)!;
    assert.ok(!first.acked.includes(dropped));
    assert.equal(second.received[0], dropped, "the unacknowledged event is the first one resent");
    assertProtocolOrder(worker.steps);
    assertGaplessFrames(worker);
  });

  it("resends from the first frame the DO did not get when the socket drops on a frame", async () => {
    const { outcome, worker } = await runV2(
      { dropOn: (a) => a.connection === 0 && a.kind === "frame" && a.frame.frame === 5 },
      { text: longText(800) },
    );
    assert.equal(outcome, "completed");
    assert.deepEqual(worker.violations, []);
    assert.equal(worker.connections[1]!.frames[0], 5, "frames resume at the one that was lost");
    assertGaplessFrames(worker);
  });

  it("keeps trying with backoff while the socket is refused, then streams", async () => {
    const { outcome, worker, clock } = await runV2({ refuseConnections: 2 }, { text: longText(500) });
    assert.equal(outcome, "completed");
    assert.deepEqual(clock.sleeps.slice(0, 2), [100, 200], "exponential backoff on the injected clock");
    assert.equal(worker.connections.length, 1);
    assertGaplessFrames(worker);
  });

  it("falls back to v1 HTTP events (no live path) when no socket can be had", async () => {
    const { outcome, worker } = await runV2({ refuseConnections: 100 }, { text: longText(500) });
    assert.equal(outcome, "completed");
    assert.deepEqual(worker.violations, []);
    assert.equal(worker.connections.length, 0);
    assert.equal(worker.frames.length, 0);
    assertProtocolOrder(worker.steps);
  });

  it("gives up the live path after repeated refusals and finishes with HTTP events", async () => {
    const { outcome, worker } = await runV2({ refuseFrames: true }, { text: longText(800) });
    assert.equal(outcome, "completed");
    assert.equal(worker.connections.length, 3, "three refusals, then no more sockets");
    assert.equal(worker.frames.length, 0);
    assertProtocolOrder(worker.steps);
    assert.equal(worker.events().at(-1)!.type, "completed");
  });

  it("stops when the DO sends cancel (close 4009): no frame, event or upload after it", async () => {
    const { outcome, worker } = await runV2({ cancelOn: (a) => a.kind === "frame" && a.frame.frame === 3 }, { text: longText(1500) });
    assert.equal(outcome, "cancelled");
    await worker.until(() => worker.connections[0]!.closeCode !== null);
    assert.equal(worker.connections.length, 1, "no reconnect after the task ended");
    assert.equal(worker.connections[0]!.closeCode, 4009);
    assert.ok(!worker.uploads.has("final"));
    assert.ok(!worker.types().some((t) => t === "completed" || t === "failed"));
    assert.ok(worker.frames.length <= 4);
  });

  it("stops silently when the socket refuses the job token (4401)", async () => {
    const clock = virtualClock();
    worker = await startFakeWorker({ reference: referenceWav(), clock, token: "another-token-entirely-0123" });
    const job: JobSubmit = worker.jobV2();
    assert.equal(await runJob(job, deps(clock), new AbortController()), "cancelled");
    assert.deepEqual(worker.events(), []);
    await worker.until(() => worker!.connections[0]?.closeCode != null);
    assert.equal(worker.connections[0]?.closeCode, 4401);
  });

  it("uploads large artifacts in parts of the Worker's part size, byte-identical", async () => {
    const { outcome, worker } = await runV2({ partSize: 32 * 1024 }, { text: longText(1500) }, { maxSingleBytes: 64 * 1024 });
    assert.equal(outcome, "completed");
    assert.deepEqual(worker.violations, []);
    const final = worker.multipart.find((m) => m.path === "final");
    assert.ok(final, "the final went in parts");
    const size = worker.uploads.get("final")!.length;
    assert.deepEqual(
      final.parts,
      Array.from({ length: Math.ceil(size / (32 * 1024)) }, (_, i) => i + 1),
    );
    const completed = worker.events().at(-1)!;
    assert.ok(completed.type === "completed" && completed.size_bytes === size);
    assert.equal(worker.wav("final").sampleRate, 24000);
  });

  it("uploads the MP3 as the final_mp3 artifact after completed", async () => {
    const { worker } = await runV2({}, { text: "One sentence. And another one." }, { encodeMp3 });
    const ops = worker.steps.map((s) => (s.op === "upload" ? s.path : s.value.type));
    assert.ok(ops.indexOf("completed") < ops.indexOf("final.mp3"), ops.join(", "));
  });

  it("with real-time pacing, never sends audio more than the lead ahead of the audio clock", async () => {
    // When each frame left the engine, on the injected clock (the fake Worker reads them later, in real time).
    const sentAt: number[] = [];
    const clock = virtualClock();
    class TimedWebSocket extends WebSocket {
      override send(data: string | ArrayBufferLike | Blob | ArrayBufferView): void {
        if (typeof data !== "string") sentAt.push(clock.now());
        super.send(data);
      }
    }
    const run = await runV2({}, { text: longText(600) }, { realtime: true, WebSocket: TimedWebSocket }, clock);
    assert.equal(run.outcome, "completed");
    const frames = run.worker.frames;
    assert.equal(sentAt.length, frames.length, "each frame sent once");
    for (const [i, f] of frames.entries()) {
      const audioMs = (f.stream_offset / 24000) * 1000;
      assert.ok(sentAt[i]! - sentAt[0]! >= audioMs - REALTIME_LEAD_MS, `frame ${i} sent at ${sentAt[i]! - sentAt[0]!} ms for audio at ${audioMs} ms`);
    }
    const audioMs = (frames.reduce((n, f) => n + f.pcm.length / 2, 0) / 24000) * 1000;
    assert.ok(sentAt.at(-1)! - sentAt[0]! >= audioMs - REALTIME_LEAD_MS - 100, "the stream took about as long as the audio");
  });

  it("a restarted attempt continues seq and frame numbers and skips segments the DO already holds", async () => {
    const clock = virtualClock();
    worker = await startFakeWorker({ reference: referenceWav(), clock });
    const job = worker.jobV2({ text: longText(1500) });
    const first = new AbortController();
    const running = runJob(job, deps(clock), first);
    await worker.until(() => worker!.uploads.has("segments/1"));
    first.abort("preempted");
    assert.equal(await running, "cancelled");
    // Frames the first attempt wrote before it stopped may still be on the wire: its socket's close comes after them.
    await worker.until(() => worker!.connections.every((c) => c.closeCode !== null));
    const seqBefore = worker.events().at(-1)!.seq;
    const framesBefore = worker.frames.length;
    const stepsBefore = worker.steps.length;
    assert.equal(await runJob(job, deps(clock), new AbortController()), "completed");
    assert.deepEqual(worker.violations, []);
    const again = worker.connections.at(-1)!;
    assert.equal(again.received[0], seqBefore + 1, "seq continues above acked_seq");
    assert.equal(again.frames[0], framesBefore, "frames continue after last_frame");
    const reuploaded = worker.steps.slice(stepsBefore).flatMap((s) => (s.op === "upload" ? [s.path] : []));
    assert.ok(!reuploaded.includes("segments/0") && !reuploaded.includes("segments/1"), reuploaded.join(","));
  });
});

describe("sentence pieces of a segment", () => {
  it("splits at sentence ends and joins short sentences to the next", () => {
    assert.deepEqual(sentencePieces("Hi. This is the first real sentence here! Is it? Yes… it is; and so on."), [
      "Hi. This is the first real sentence here!",
      "Is it? Yes… it is; and so on.",
    ]);
    assert.deepEqual(sentencePieces("no punctuation at all"), ["no punctuation at all"]);
    assert.deepEqual(sentencePieces("你好世界，这是第一句话。这是第二句话，也很长很长很长很长很长很长。"), [
      "你好世界，这是第一句话。这是第二句话，也很长很长很长很长很长很长。",
    ]);
  });
});

describe("the job's first sound", () => {
  it("cuts a long first sentence at its first clause boundary, and nothing else", () => {
    const long = "The ferry to the island leaves at a quarter past seven, and on most mornings it carries more bread than people.";
    assert.deepEqual(firstClause(long), ["The ferry to the island leaves at a quarter past seven,", "and on most mornings it carries more bread than people."]);
    assert.equal(firstClause("A short first sentence, with a comma."), null, "short enough to speak whole");
    assert.equal(firstClause("Yes, the first sentence is long enough but its only comma comes far too early."), null, "the clause would be too short");
    assert.equal(firstClause(`${"word ".repeat(22)}and only then, a comma.`), null, "the clause would be too long");
    assert.deepEqual(firstClause("We left the harbour before dawn — the gulls were still asleep on the pier."), [
      "We left the harbour before dawn —",
      "the gulls were still asleep on the pier.",
    ]);
    assert.deepEqual(firstClause("这是一个很长很长很长很长很长很长很长很长很长很长的第一句话，后面还有很多很多很多很多很多很多很多很多很多很多的字。"), [
      "这是一个很长很长很长很长很长很长很长很长很长很长的第一句话，",
      "后面还有很多很多很多很多很多很多很多很多很多很多的字。",
    ]);
  });

  it("leaves after the first clause's synthesis; the rest of the segment follows as before", async () => {
    const calls: string[] = [];
    const probe = firstFrameProbe(calls);
    const first = "The ferry to the island leaves at a quarter past seven, and on most mornings it carries more bread than people.";
    const text = `${first} The second sentence is not cut. Nor, of course, is any sentence of a later segment.`;
    const { outcome, worker } = await runV2({}, { text, pause_ms: 500 }, { synthesize: toneSynthesizer(calls), WebSocket: probe.WebSocket });
    assert.equal(outcome, "completed");
    const [head, rest] = firstClause(first)!;
    assert.deepEqual(calls, [head, rest, ...sentencePieces(text).slice(1)]);
    assert.equal(probe.callsAtFirstFrame(), 1, "the first frame left after the first clause");
    assertGaplessFrames(worker);
  });
});

describe("a protocol 1 job next to v2", () => {
  it("opens no socket and uses the v1 upload paths", async () => {
    const clock = virtualClock();
    worker = await startFakeWorker({ reference: referenceWav(), clock });
    assert.equal(await runJob(worker.job({ text: longText(600) }), deps(clock), new AbortController()), "completed");
    assert.equal(worker.connections.length, 0);
    assert.equal(worker.frames.length, 0);
    assert.ok(worker.timeline.every((e) => e.op !== "upload" || !e.path.startsWith("artifacts")));
    assertProtocolOrder(worker.steps);
  });
});
