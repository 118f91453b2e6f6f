import { describe, expect, it } from "vitest";
import type { EngineEvent } from "../../worker/engine/protocol";
import {
  chargeFor,
  initialState,
  onArtifactStored,
  onCancel,
  onDispatched,
  onEvent,
  resumePoint,
  type TrackerInit,
} from "../../worker/tasks/tracker-reducer";

// A part regeneration's tracker (ADR 0026): it starts with the source take's other parts, inherited and never charged.
const T0 = Date.UTC(2026, 11, 1, 8, 0, 0);
const init: TrackerInit = {
  id: "task_part",
  userId: "user_1",
  kind: "generate",
  cost: 2,
  generationId: "gen_1",
  take: 2,
  voiceId: "voice_1",
  createdAt: T0,
  startTimeoutMs: 600_000,
  heartbeatTimeoutMs: 60_000,
  part: { index: 1, sourceTaskId: "task_source" },
};
const ev = (seq: number, body: Record<string, unknown>) => ({ job_id: "task_part", seq, ...body }) as EngineEvent;
const sourceSeg = (i: number) => ({
  kind: "segment" as const,
  index: i,
  key: `users/user_1/tasks/task_source/segments/${i}.wav`,
  size_bytes: 100,
  content_type: "audio/wav",
});

function started() {
  // The source's row for the regenerated part itself is never inherited, even if passed in.
  let s = onDispatched(initialState(init, T0, [0, 1, 2].map(sourceSeg)), "call_1", T0).state;
  s = onEvent(s, ev(0, { type: "started", segments_total: 3, segment_chars: [150, 150, 150] }), T0).state;
  return s;
}

describe("a part regeneration's tracker (ADR 0026)", () => {
  it("starts with the other parts durable under the source's keys, and only the regenerated part missing", () => {
    const s = initialState(init, T0, [0, 1, 2].map(sourceSeg));
    expect(Object.values(s.artifacts).map((a) => [a.index, a.key])).toEqual([
      [0, sourceSeg(0).key],
      [2, sourceSeg(2).key],
    ]);
    expect(s.core.inherited).toEqual([0, 2]);
    expect(resumePoint(s, 1).segment).toBe(1);
  });

  it("never charges the inherited parts a stopped take re-announced; charges the rendered part once delivered", () => {
    let s = started();
    for (const i of [0, 2]) s = onEvent(s, ev(i + 1, { type: "segment", index: i, duration_ms: 300 }), T0).state;
    expect(chargeFor(s)).toBeNull();
    expect(onCancel(s, T0 + 1).state.core.charge).toBeNull();
    s = onArtifactStored(
      s,
      { kind: "segment", index: 1, key: "users/user_1/tasks/task_part/segments/1.wav", size_bytes: 100, content_type: "audio/wav" },
      T0,
    ).state;
    s = onEvent(s, ev(4, { type: "segment", index: 1, duration_ms: 300 }), T0).state;
    expect(chargeFor(s)).toEqual({ credits: 2, of: 2, parts_delivered: 1, parts_total: 1 });
  });

  it("without character counts, shares the cost over the rendered parts only", () => {
    let s = onDispatched(initialState({ ...init, cost: 3 }, T0, [0, 2].map(sourceSeg)), "call_1", T0).state;
    s = onEvent(s, ev(0, { type: "started", segments_total: 3 }), T0).state;
    s = onArtifactStored(s, { kind: "segment", index: 1, key: "k1", size_bytes: 100, content_type: "audio/wav" }, T0).state;
    s = onEvent(s, ev(1, { type: "segment", index: 1, duration_ms: 300 }), T0).state;
    expect(chargeFor(s)).toMatchObject({ credits: 3, parts_delivered: 1, parts_total: 1 });
  });
});
