import { describe, expect, it } from "vitest";
import { MAX_RESUMES, type EngineEvent } from "../../worker/engine/protocol";
import {
  chargeFor,
  checkUpload,
  initialState,
  onAlarm,
  onArtifactStored,
  onCancel,
  onEvent,
  onFrame,
  type Effect,
  type TrackerInit,
  type TrackerState,
} from "../../worker/tasks/tracker-reducer";

const T0 = Date.UTC(2026, 11, 1, 8, 0, 0);
const init: TrackerInit = {
  id: "task_1",
  userId: "user_1",
  kind: "generate",
  cost: 15,
  generationId: "gen_1",
  voiceId: "voice_1",
  createdAt: T0,
  startTimeoutMs: 600_000,
  heartbeatTimeoutMs: 60_000,
};
type Body = { type: EngineEvent["type"] } & Record<string, unknown>;
const ev = (seq: number, body: Body) => ({ job_id: "task_1", seq, ...body }) as EngineEvent;
const frameHeader = (frame: number, segment: number, last = false) => ({
  version: 1,
  flags: last ? 1 : 0,
  segment,
  frame,
  segment_offset: 0,
  stream_offset: 0,
  last_in_segment: last,
  payload_bytes: 2,
});

function run(s: TrackerState, ...events: [number, Body][]): TrackerState {
  for (const [seq, body] of events) s = onEvent(s, ev(seq, body), T0 + seq).state;
  return s;
}
const seg = (i: number): Parameters<typeof onArtifactStored>[1] => ({ kind: "segment", index: i, key: `k${i}`, size_bytes: 100, content_type: "audio/wav" });

describe("tracker reducer", () => {
  it("orders effects: the fan-out first, then the writes, then the slow work", () => {
    const s = initialState(init, T0);
    const step = onEvent(s, ev(0, { type: "started", segments_total: 3 }), T0 + 1);
    expect(step.reply).toEqual({ accepted: true, state: "running" });
    const kinds = step.effects.map((e: Effect) => e.t);
    expect(kinds.slice(0, 2)).toEqual(["broadcast", "broadcast"]);
    const lastBroadcast = kinds.lastIndexOf("broadcast");
    const firstPut = kinds.indexOf("put");
    expect(firstPut).toBeGreaterThan(lastBroadcast);
    expect(kinds.indexOf("alarm")).toBeGreaterThan(firstPut);
    // The input state is not mutated.
    expect(s.core.status).toBe("queued");
  });

  it("writes only the pieces an event changed", () => {
    let s = run(initialState(init, T0), [0, { type: "started", segments_total: 2 }]);
    s = onArtifactStored(s, seg(0), T0).state;
    const step = onEvent(s, ev(1, { type: "segment", index: 0, duration_ms: 10 }), T0 + 2);
    const keys = step.effects.flatMap((e) => (e.t === "put" ? [e.key] : []));
    expect(keys.sort()).toEqual(["seg:0", "state"]);
  });

  it("refuses a seq far above the last accepted one, so real events keep counting", () => {
    let s = run(initialState(init, T0), [0, { type: "started" }]);
    const huge = onEvent(s, ev(9_000_000, { type: "heartbeat" }), T0);
    expect(huge.reply.accepted).toBe(false);
    s = huge.state;
    expect(onEvent(s, ev(1, { type: "heartbeat" }), T0).reply.accepted).toBe(true);
  });

  it("holds a segment event that overtook its upload and announces it when the upload lands, once", () => {
    let s = run(initialState(init, T0), [0, { type: "started" }], [1, { type: "segment", index: 2, duration_ms: 10 }]);
    expect(Object.keys(s.segments)).toEqual([]);
    expect(Object.keys(s.held)).toEqual(["2"]);
    const landed = onArtifactStored(s, seg(2), T0);
    expect(landed.effects.filter((e) => e.t === "broadcast").map((e) => e.t === "broadcast" && e.message.type)).toEqual(["segment"]);
    s = landed.state;
    expect(Object.keys(s.segments)).toEqual(["2"]);
    // The same event again announces nothing.
    const again = onEvent(s, ev(2, { type: "segment", index: 2, duration_ms: 10 }), T0);
    expect(again.effects.some((e) => e.t === "broadcast")).toBe(false);
  });

  it("charges delivered parts by their characters, by parts without them, nothing without a plan", () => {
    let s = run(initialState(init, T0), [0, { type: "started", segments_total: 15, segment_chars: Array(15).fill(100) }]);
    for (let i = 0; i < 13; i++) s = onArtifactStored(run(s, [i + 1, { type: "segment", index: i, duration_ms: 10 }]), seg(i), T0).state;
    expect(chargeFor(s)).toEqual({ credits: 13, of: 15, parts_delivered: 13, parts_total: 15 });
    const cancelled = onCancel(s, T0 + 100);
    expect(cancelled.state.core.charge).toEqual({ credits: 13, of: 15, parts_delivered: 13, parts_total: 15 });
    expect(cancelled.effects.map((e) => e.t)).toContain("engine_cancel");

    // No character counts: the delivered share of the cost, rounded down (the example: 43 of 50 for 13 of 15).
    let p = run(initialState({ ...init, cost: 50 }, T0), [0, { type: "started", segments_total: 15 }]);
    for (let i = 0; i < 13; i++) p = onFrame(p, frameHeader(i, i, true), T0).state;
    expect(chargeFor(p)).toEqual({ credits: 43, of: 50, parts_delivered: 13, parts_total: 15 });
    // A part whose last frame never went out is not delivered.
    p = onFrame(p, frameHeader(13, 13, false), T0).state;
    expect(chargeFor(p)?.parts_delivered).toBe(13);

    // No plan at all: nothing can be attributed, nothing is charged.
    let q = run(initialState(init, T0), [0, { type: "started" }]);
    q = onFrame(q, frameHeader(0, 0, true), T0).state;
    expect(chargeFor(q)).toBeNull();
  });

  it("a deadline fails a silent task and tells the engine to stop; an engine's own failure does not", () => {
    const s = run(initialState(init, T0), [0, { type: "started" }]);
    const early = onAlarm(s, T0 + 30_000);
    expect(early.state.core.status).toBe("running");
    expect(early.effects).toEqual([{ t: "alarm", at: T0 + 60_000 }]);
    // With its resumes used up (ADR 0023; the resume itself is tested below).
    const late = onAlarm({ ...s, core: { ...s.core, resumes: MAX_RESUMES } }, T0 + 61_000);
    expect(late.state.core.error?.code).toBe("engine_timeout");
    expect(late.effects).toContainEqual({ t: "engine_cancel", state: "failed" });
    const own = onEvent(s, ev(1, { type: "failed", error: { code: "internal", message: "x", retryable: false } }), T0);
    expect(own.effects.some((e) => e.t === "engine_cancel")).toBe(false);
    // Frames are a sign of life: a task streaming frames is not silent.
    const streaming = onFrame(s, frameHeader(0, 0), T0 + 50_000).state;
    expect(onAlarm(streaming, T0 + 61_000).state.core.status).toBe("running");
  });

  it("frames: refused out of order and after the end", () => {
    let s = run(initialState(init, T0), [0, { type: "started" }]);
    expect(onFrame(s, frameHeader(1, 0), T0).reply).toMatchObject({ ok: false, code: 4409 });
    s = onFrame(s, frameHeader(0, 0), T0).state;
    expect(onFrame(s, frameHeader(1, 0), T0).reply).toEqual({ ok: true });
    s = onCancel(s, T0).state;
    expect(onFrame(s, frameHeader(1, 0), T0).reply).toMatchObject({ ok: false, code: 4409 });
  });

  it("artifacts are immutable once the task succeeded, except an after-completed kind, once", () => {
    let s = run(initialState(init, T0), [0, { type: "started" }]);
    s = onArtifactStored(s, { kind: "final", index: null, key: "f", size_bytes: 100, content_type: "audio/wav" }, T0).state;
    expect(checkUpload(s, "final", null, false).ok).toBe(true); // a retried PUT before success replaces it
    s = run(s, [1, { type: "completed", duration_ms: 1, sample_rate: 24000, size_bytes: 100 }]);
    expect(s.core.status).toBe("succeeded");
    expect(checkUpload(s, "final", null, false)).toMatchObject({ ok: false, status: 409 });
    expect(checkUpload(s, "segment", 0, false)).toMatchObject({ ok: false, status: 409 });
    expect(checkUpload(s, "final_mp3", null, true).ok).toBe(true);
    const mp3 = onArtifactStored(s, { kind: "final_mp3", index: null, key: "m", size_bytes: 10, content_type: "audio/mpeg" }, T0);
    expect(mp3.effects.map((e) => e.t)).toContain("artifact_row");
    expect(mp3.state.core.result?.formats).toEqual(["wav", "mp3"]);
    expect(checkUpload(mp3.state, "final_mp3", null, true)).toMatchObject({ ok: false, status: 409, code: "artifact_exists" });
  });
});
