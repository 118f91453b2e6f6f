import { describe, expect, it } from "vitest";
import { MAX_RESUMES, type EngineEvent } from "../../worker/engine/protocol";
import {
  initialState,
  onAlarm,
  onArtifactStored,
  onDispatched,
  onEvent,
  onFrame,
  resumePoint,
  type TrackerInit,
  type TrackerState,
} from "../../worker/tasks/tracker-reducer";

// Resume after an interruption (ADR 0023), as the reducer decides it: pure inputs, an injected clock.
const T0 = Date.UTC(2026, 11, 1, 8, 0, 0);
const init: TrackerInit = {
  id: "task_1",
  userId: "user_1",
  kind: "generate",
  cost: 10,
  generationId: "gen_1",
  voiceId: "voice_1",
  createdAt: T0,
  startTimeoutMs: 600_000,
  heartbeatTimeoutMs: 60_000,
};
type Body = { type: EngineEvent["type"] } & Record<string, unknown>;
const ev = (seq: number, body: Body) => ({ job_id: "task_1", seq, ...body }) as EngineEvent;
const seg = (i: number) => ({ kind: "segment" as const, index: i, key: `k${i}`, size_bytes: 100, content_type: "audio/wav" });
const retryable = { code: "generation_failed", message: "boom", retryable: true };

/** A running job with parts 0…n−1 durable and announced, each streamed as `perPart` samples in one frame. */
function runningWith(n: number, perPart = 480): TrackerState {
  let s = onDispatched(initialState(init, T0), "call_1", T0).state;
  s = onEvent(s, ev(0, { type: "started", segments_total: 10 }), T0).state;
  for (let i = 0; i < n; i++) {
    s = onFrame(s, { version: 1, flags: 1, segment: i, frame: i, segment_offset: 0, stream_offset: i * perPart, last_in_segment: true, payload_bytes: perPart * 2 }, T0).state;
    s = onArtifactStored(s, seg(i), T0).state;
    s = onEvent(s, ev(i + 1, { type: "segment", index: i, duration_ms: 20 }), T0).state;
  }
  return s;
}

describe("resume after an interruption (ADR 0023)", () => {
  it("a retryable engine failure resumes from the first unfinished part: no settle, the old socket told to stop, a resume effect", () => {
    const s = runningWith(6);
    const step = onEvent(s, ev(7, { type: "failed", error: retryable }), T0 + 10);
    expect(step.reply).toEqual({ accepted: true, state: "running" });
    expect(step.state.core.status).toBe("running");
    expect(step.state.core.resumes).toBe(1);
    expect(step.state.core.resuming).toEqual({ attempt: 1, since: T0 + 10 });
    expect(step.effects.some((e) => e.t === "settle")).toBe(false);
    expect(step.effects).toContainEqual({ t: "resume", attempt: 1, previousCallId: "call_1" });
    expect(step.effects).toContainEqual({ t: "engine_cancel", state: "failed" });
    expect(step.effects).toContainEqual({ t: "alarm", at: T0 + 10 + init.startTimeoutMs });
    // Listeners hear the stage, not a failure.
    expect(step.effects.filter((e) => e.t === "broadcast").map((e) => e.t === "broadcast" && e.message.type)).toEqual(["progress"]);
    expect(resumePoint(step.state, 1)).toEqual({ attempt: 1, segment: 6, next_seq: 8, stream_offset: 6 * 480 });
  });

  it("a part streamed in part is streamed again from its start in the stream", () => {
    let s = runningWith(3);
    s = onFrame(s, { version: 1, flags: 0, segment: 3, frame: 3, segment_offset: 0, stream_offset: 1440, last_in_segment: false, payload_bytes: 200 }, T0).state;
    s = onFrame(s, { version: 1, flags: 0, segment: 3, frame: 4, segment_offset: 100, stream_offset: 1540, last_in_segment: false, payload_bytes: 200 }, T0).state;
    expect(resumePoint(s, 1)).toMatchObject({ segment: 3, stream_offset: 1440 });
    // A v1 engine (no frames): from the start; the engine adds the durable parts itself.
    const v1 = onEvent(onDispatched(initialState(init, T0), "c", T0).state, ev(0, { type: "started" }), T0).state;
    expect(resumePoint(v1, 2)).toEqual({ attempt: 2, segment: 0, next_seq: 1, stream_offset: 0 });
  });

  it("the dispatch of the resume restarts the silence deadline; the heartbeat deadline resumes too", () => {
    const failed = onEvent(runningWith(2), ev(3, { type: "failed", error: retryable }), T0 + 10).state;
    // Waiting for the queue: the start deadline applies, not the silence one.
    expect(onAlarm(failed, T0 + 120_000).state.core.status).toBe("running");
    const back = onDispatched(failed, "call_2", T0 + 200_000);
    expect(back.state.core.resuming).toBeNull();
    expect(back.state.core.callId).toBe("call_2");
    expect(back.effects).toContainEqual({ t: "alarm", at: T0 + 200_000 + init.heartbeatTimeoutMs });
    expect(back.effects).toContainEqual({ t: "record_running", at: T0 + 200_000 });
    // Silent again: the deadline resumes it a second time.
    const silent = onAlarm(back.state, T0 + 200_000 + 61_000);
    expect(silent.state.core.status).toBe("running");
    expect(silent.effects).toContainEqual({ t: "resume", attempt: 2, previousCallId: "call_2" });
  });

  it("a resume the engine never takes fails at its start deadline; resumes are bounded; runaway and non-retryable failures end the job", () => {
    const failed = onEvent(runningWith(2), ev(3, { type: "failed", error: retryable }), T0).state;
    const late = onAlarm(failed, T0 + init.startTimeoutMs + 1);
    expect(late.state.core.status).toBe("failed");
    expect(late.effects.some((e) => e.t === "settle")).toBe(true);
    // The delivered parts are charged as for any failure (DESIGN §6).
    expect(late.state.core.charge).toMatchObject({ parts_delivered: 2 });

    let s = runningWith(1);
    for (let attempt = 1; attempt <= MAX_RESUMES; attempt++) {
      s = onEvent(s, ev(s.core.engineSeq + 1, { type: "failed", error: retryable }), T0).state;
      expect(s.core.resumes).toBe(attempt);
      s = onDispatched(s, `call_r${attempt}`, T0).state;
    }
    const last = onEvent(s, ev(s.core.engineSeq + 1, { type: "failed", error: retryable }), T0);
    expect(last.state.core.status).toBe("failed");

    for (const error of [{ ...retryable, retryable: false }, { code: "runaway_generation", message: "x", retryable: true }]) {
      expect(onEvent(runningWith(2), ev(3, { type: "failed", error }), T0).state.core.status).toBe("failed");
    }
    // Design previews are short: they fail as before.
    const preview = onEvent(onDispatched(initialState({ ...init, kind: "design_preview", generationId: null }, T0), "c", T0).state, ev(0, { type: "started" }), T0).state;
    expect(onEvent(preview, ev(1, { type: "failed", error: retryable }), T0).state.core.status).toBe("failed");
  });

  it("a resumed attempt re-announcing a finished part adds nothing", () => {
    let s = onEvent(runningWith(3), ev(4, { type: "failed", error: retryable }), T0).state;
    s = onDispatched(s, "call_2", T0).state;
    const again = onEvent(s, ev(5, { type: "segment", index: 1, duration_ms: 20 }), T0);
    expect(again.reply.accepted).toBe(true);
    expect(again.effects.some((e) => e.t === "broadcast" && e.message.type === "segment")).toBe(false);
    expect(Object.keys(again.state.segments)).toEqual(["0", "1", "2"]);
  });
});
