import assert from "node:assert/strict";
import type { EngineEvent } from "../../../../worker/engine/protocol.ts";
import type { Step } from "./fake-worker.ts";

/**
 * The protocol's ordering rules (docs/engine-protocol.md "Rules"), checked on
 * a recorded sequence of events and uploads.
 */
export function assertProtocolOrder(steps: readonly Step[]): void {
  const events = steps.flatMap((s) => (s.op === "event" ? [s.value] : []));
  assert.ok(events.length > 0, "no events");
  assert.equal(events[0]!.type, "started", "the first event is started");
  assert.deepEqual(
    events.map((e) => e.seq),
    events.map((_, i) => i),
    "seq runs 0, 1, 2… without gaps",
  );
  const terminal = events.findIndex((e) => e.type === "completed" || e.type === "failed");
  if (terminal >= 0) assert.equal(terminal, events.length - 1, "nothing follows the terminal event");

  const segmentIndexes = events.flatMap((e) => (e.type === "segment" ? [e.index] : []));
  assert.deepEqual(
    segmentIndexes,
    segmentIndexes.map((_, i) => i),
    "segment indexes run 0, 1, 2…",
  );
  steps.forEach((step, position) => {
    if (step.op !== "event") return;
    const needs = step.value.type === "segment" ? `segments/${step.value.index}` : step.value.type === "completed" ? "final" : undefined;
    if (!needs) return;
    const uploaded = steps.findIndex((s) => s.op === "upload" && s.path === needs);
    assert.ok(uploaded >= 0 && uploaded < position, `${needs} is uploaded before ${step.value.type} is announced`);
  });

  let last = -Infinity;
  for (const e of events) {
    if (e.type !== "progress") continue;
    assert.ok(e.progress >= last, `progress never goes back (${last} → ${e.progress})`);
    last = e.progress;
  }
}

/**
 * The grammar of a sequence, independent of how many segments, progress
 * reports or heartbeats it has: progress and heartbeats may come anywhere, so
 * they are dropped, and each "upload segment, announce segment" pair becomes
 * one `segment*` token. A successful generate job reads
 * `started segment* upload:final completed`.
 */
export function sequenceShape(steps: readonly Step[]): string[] {
  const tokens = steps.flatMap((s): string[] => {
    if (s.op === "upload") return [s.path === "final" ? "upload:final" : "upload:segment"];
    return s.value.type === "progress" || s.value.type === "heartbeat" ? [] : [s.value.type];
  });
  const shape: string[] = [];
  for (let i = 0; i < tokens.length; i++) {
    if (tokens[i] === "upload:segment" && tokens[i + 1] === "segment") {
      if (shape.at(-1) !== "segment*") shape.push("segment*");
      i++;
    } else {
      shape.push(tokens[i]!);
    }
  }
  return shape;
}

/** Which fields each event type carries (values aside), to compare with a fixture's. */
export function eventFields(steps: readonly Step[]): Record<string, string[]> {
  const fields: Record<string, Set<string>> = {};
  for (const s of steps) {
    if (s.op !== "event") continue;
    const set = (fields[s.value.type] ??= new Set());
    for (const key of Object.keys(s.value as EngineEvent)) set.add(key);
  }
  return Object.fromEntries(Object.entries(fields).map(([type, keys]) => [type, [...keys].sort()]));
}
