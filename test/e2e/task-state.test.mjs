// The rules the task socket hook applies to the Durable Object's messages
// (app/lib/task-state.ts): pure, so they are pinned here without a browser.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
// Node strips the types of the .ts module it imports (a .mjs test keeps tsc, which does not allow .ts import paths, out of it).
import { applyMessage, EMPTY_TASK_STATE, fromSnapshot, parseServerMessage, parseServerMessages, socketMessages } from "../../app/lib/task-state.ts";
import { encodeFrame, encodeFrameBatch } from "../../worker/engine/frames.ts";

/** @type {import("../../app/lib/task-state.ts").TaskView} */
const task = {
  id: "task_1",
  kind: "generate",
  status: "running",
  progress: 0.1,
  stage: "generating",
  segments_total: 3,
  generation_id: "gen_1",
  voice_id: "voice_1",
  cost: 2,
  error: null,
  result: null,
  created_at: "2026-11-01T00:00:00.000Z",
  updated_at: "2026-11-01T00:00:00.000Z",
};

function run(state, ...msgs) {
  let gaps = 0;
  for (const m of msgs) {
    const r = applyMessage(state, m);
    state = r.state;
    if (r.gap) gaps += 1;
  }
  return { state, gaps };
}

const start = fromSnapshot({ seq: 3, task, segments: [] });

describe("task state from socket messages", () => {
  test("ignores duplicates and stale messages (seq ≤ last applied)", () => {
    const { state, gaps } = run(
      start,
      { type: "progress", seq: 4, progress: 0.4, stage: "generating" },
      { type: "progress", seq: 4, progress: 0.9, stage: "duplicate" },
      { type: "progress", seq: 2, progress: 0.95, stage: "stale" },
    );
    assert.equal(state.seq, 4);
    assert.equal(state.task?.progress, 0.4);
    assert.equal(state.task?.stage, "generating");
    assert.equal(gaps, 0);
  });

  test("reports a gap when seqs are skipped, and still applies the newer message", () => {
    const { state, gaps } = run(start, { type: "segment", seq: 6, index: 1, url: "/s/1", duration_ms: 900 });
    assert.equal(gaps, 1);
    assert.equal(state.seq, 6);
    assert.deepEqual(
      state.segments.map((s) => s.index),
      [1],
    );
  });

  test("a snapshot fills in what a gap missed and keeps segments sorted and unique", () => {
    const afterGap = run(start, { type: "segment", seq: 6, index: 1, url: "/s/1", duration_ms: 900 }).state;
    const { state } = run(afterGap, {
      type: "snapshot",
      seq: 6,
      task: { ...task, progress: 0.6 },
      segments: [
        { index: 0, url: "/s/0", duration_ms: 800 },
        { index: 1, url: "/s/1", duration_ms: 900 },
      ],
    });
    assert.deepEqual(
      state.segments.map((s) => s.index),
      [0, 1],
    );
    assert.equal(state.task?.progress, 0.6);
  });

  test("an older snapshot (a slow poll) does not roll the state back", () => {
    const ahead = run(start, { type: "progress", seq: 4, progress: 0.5, stage: "generating" }).state;
    const { state } = run(ahead, { type: "snapshot", seq: 3, task: { ...task, progress: 0.1 }, segments: [] });
    assert.equal(state.task?.progress, 0.5);
  });

  test("terminal states are final", () => {
    const result = {
      duration_ms: 1000,
      sample_rate: 24000,
      size_bytes: 48044,
      audio_url: "/api/generations/gen_1/audio",
      generation_id: "gen_1",
    };
    const { state } = run(
      start,
      { type: "completed", seq: 4, result },
      { type: "failed", seq: 5, error: { code: "engine_timeout", message: "late", retryable: true } },
      { type: "progress", seq: 6, progress: 0.2, stage: "late" },
    );
    assert.equal(state.task?.status, "succeeded");
    assert.equal(state.task?.progress, 1);
    assert.deepEqual(state.task?.result, result);
  });

  // Once dropped as unknown, each artifact message looked like a gap and cost a snapshot request.
  test("the MP3 announced after completion adds the format, and artifact messages are no gap", () => {
    const result = { duration_ms: 1000, sample_rate: 24000, size_bytes: 48044, audio_url: "/api/generations/gen_1/audio", generation_id: "gen_1", formats: ["wav"] };
    const mp3 = { type: "artifact", seq: 5, kind: "final_mp3", index: null, url: "/api/tasks/task_1/artifacts/final_mp3", size_bytes: 9000, content_type: "audio/mpeg" };
    assert.deepEqual(parseServerMessage(JSON.stringify(mp3)), mp3);
    const { state, gaps } = run(start, { type: "completed", seq: 4, result }, mp3);
    assert.equal(gaps, 0);
    assert.equal(state.seq, 5);
    assert.deepEqual(state.task?.result?.formats, ["wav", "mp3"]);
    assert.equal(state.task?.status, "succeeded");
    const resync = { type: "resync", seq: 6, reason: "behind" };
    assert.deepEqual(parseServerMessage(JSON.stringify(resync)), resync);
    assert.equal(run(state, resync).gaps, 0);
  });

  test("a cancel or failure keeps what it charged for the parts delivered", () => {
    const charge = { credits: 1, of: 2, parts_delivered: 2, parts_total: 3 };
    assert.deepEqual(run(start, { type: "cancelled", seq: 4, charge }).state.task?.charge, charge);
    const failed = run(start, { type: "failed", seq: 4, error: { code: "engine_timeout", message: "stopped", retryable: true }, charge });
    assert.deepEqual(failed.state.task?.charge, charge);
    assert.equal(run(start, { type: "cancelled", seq: 4 }).state.task?.charge, undefined);
  });

  test("progress never goes backwards", () => {
    const { state } = run(
      start,
      { type: "progress", seq: 4, progress: 0.7, stage: "generating" },
      { type: "progress", seq: 5, progress: 0.5, stage: "stitching" },
    );
    assert.equal(state.task?.progress, 0.7);
    assert.equal(state.task?.stage, "stitching");
  });

  test("messages before the first snapshot only advance seq and ask for one", () => {
    const r = applyMessage(EMPTY_TASK_STATE, { type: "progress", seq: 2, progress: 0.3, stage: "generating" });
    assert.equal(r.gap, true);
    assert.equal(r.state.task, null);
    assert.equal(applyMessage(r.state, { type: "snapshot", seq: 2, task, segments: [] }).state.task?.id, "task_1");
  });

  test("rejects malformed frames", () => {
    assert.equal(parseServerMessage("pong"), null);
    assert.equal(parseServerMessage("{}"), null);
    assert.equal(parseServerMessage(JSON.stringify({ type: "progress", seq: 1.5 })), null);
    assert.equal(parseServerMessage(JSON.stringify({ type: "mystery", seq: 1 })), null);
    assert.equal(parseServerMessage(JSON.stringify({ type: "snapshot", seq: 1 })), null);
    assert.equal(parseServerMessage(JSON.stringify({ type: "cancelled", seq: 9 }))?.type, "cancelled");
  });

  test("reads several messages sent together as a JSON array, in order, leaving out malformed ones (ADR 0027)", () => {
    const a = { type: "progress", seq: 4, progress: 0.4, stage: "generating" };
    const b = { type: "segment", seq: 5, index: 1, url: "/u", duration_ms: 10 };
    assert.deepEqual(parseServerMessages(JSON.stringify([a, { type: "mystery", seq: 6 }, b])), [a, b]);
    assert.deepEqual(parseServerMessages(JSON.stringify(a)), [a]);
    assert.deepEqual(parseServerMessages("pong"), []);
    // Applied one after another they leave no gap.
    let state = fromSnapshot({ seq: 3, task, segments: [], artifacts: [], live: { sample_rate: 24000, last_frame: -1, replay: null } });
    for (const m of parseServerMessages(JSON.stringify([a, b]))) {
      const r = applyMessage(state, m);
      assert.equal(r.gap, false);
      state = r.state;
    }
    assert.equal(state.seq, 5);
  });

  test("takes the messages a binary batch carries after its frames (ADR 0031), and none from a frame, pong or a broken batch", () => {
    const a = { type: "progress", seq: 4, progress: 0.4, stage: "generating" };
    const b = { type: "segment", seq: 5, index: 1, url: "/u", duration_ms: 10 };
    const frame = encodeFrame({ segment: 0, frame: 0, segment_offset: 0, stream_offset: 0 }, [1, 2, 3]);
    assert.deepEqual(socketMessages(encodeFrameBatch([frame], JSON.stringify([a, b]))), [a, b]);
    assert.deepEqual(socketMessages(encodeFrameBatch([frame, frame], JSON.stringify(a))), [a]);
    assert.deepEqual(socketMessages(encodeFrameBatch([frame])), []);
    assert.deepEqual(socketMessages(frame.buffer), []);
    assert.deepEqual(socketMessages(JSON.stringify(a)), [a]);
    assert.deepEqual(socketMessages("pong"), []);
    const cut = encodeFrameBatch([frame], JSON.stringify(a)).slice(0, -2);
    assert.deepEqual(socketMessages(cut), []);
  });
});
