/**
 * The browser's copy of a task, built from the Durable Object's messages
 * (DESIGN §5). Pure functions, so the socket hook stays small and the rules
 * (dedupe by seq, gaps, terminal states) are easy to read in one place.
 *
 * Types only from the shared message union: importing the zod schemas would
 * put zod (~50 KB gzip) into every page's JavaScript.
 */
import type { SegmentView, ServerMessage, TaskResult, TaskSnapshot, TaskView } from "../../worker/tasks/messages";
import { SERVER_MESSAGE_TYPES } from "../../worker/tasks/lifecycle.ts";
import { listenerBinaryOf } from "../../worker/engine/frames.ts";

export type { SegmentView, ServerMessage, TaskResult, TaskSnapshot, TaskView };

export interface TaskState {
  /** Highest message seq applied; -1 before anything arrived. */
  seq: number;
  task: TaskView | null;
  /** Sorted by index, no duplicates. */
  segments: SegmentView[];
}

export const EMPTY_TASK_STATE: TaskState = { seq: -1, task: null, segments: [] };

export function isTerminal(task: Pick<TaskView, "status"> | null | undefined): boolean {
  return task?.status === "succeeded" || task?.status === "failed" || task?.status === "cancelled";
}

export function fromSnapshot(snapshot: TaskSnapshot): TaskState {
  return { seq: snapshot.seq, task: snapshot.task, segments: mergeSegments([], snapshot.segments) };
}

function mergeSegments(current: SegmentView[], incoming: SegmentView[]): SegmentView[] {
  if (!incoming.length) return current;
  const byIndex = new Map(current.map((s) => [s.index, s]));
  for (const s of incoming) byIndex.set(s.index, s);
  return [...byIndex.values()].sort((a, b) => a.index - b.index);
}

export interface ApplyResult {
  state: TaskState;
  /** The message skipped at least one seq: ask the server for a snapshot. */
  gap: boolean;
}

/**
 * Applies one message. Messages with seq ≤ the last applied are duplicates or
 * stale and change nothing. A snapshot is the whole truth at its seq, so it
 * replaces everything older. A message that skips seqs is still applied (it is
 * newer than what we have) and reported as a gap so the caller asks for a
 * snapshot to fill in whatever was missed.
 */
export function applyMessage(state: TaskState, msg: ServerMessage): ApplyResult {
  if (msg.type === "snapshot") {
    if (msg.seq < state.seq) return { state, gap: false };
    return { state: { seq: msg.seq, task: msg.task, segments: mergeSegments(state.segments, msg.segments) }, gap: false };
  }
  if (msg.seq <= state.seq) return { state, gap: false };
  const gap = state.seq >= 0 && msg.seq > state.seq + 1;
  const task = state.task;
  const next: TaskState = { ...state, seq: msg.seq };
  // Without a snapshot there is no task to update yet; keep the seq so the snapshot we ask for is accepted.
  if (!task) return { state: next, gap: true };
  // The MP3 lands after `completed` (ADR 0008): the only thing a finished task still learns.
  if (msg.type === "artifact") {
    if (msg.kind === "final_mp3" && task.result && !task.result.formats?.includes("mp3")) {
      next.task = { ...task, result: { ...task.result, formats: ["wav", "mp3"] } };
    }
    return { state: next, gap };
  }
  // A terminal task never changes again (late messages are ignored on the server too).
  if (isTerminal(task)) return { state: next, gap };
  switch (msg.type) {
    case "status":
      next.task = { ...task, status: msg.status };
      break;
    case "progress":
      next.task = {
        ...task,
        status: task.status === "succeeded" ? task.status : "running",
        progress: Math.max(task.progress, msg.progress),
        stage: msg.stage,
      };
      break;
    case "segment":
      next.segments = mergeSegments(state.segments, [{ index: msg.index, url: msg.url, duration_ms: msg.duration_ms }]);
      break;
    case "completed":
      next.task = { ...task, status: "succeeded", progress: 1, result: msg.result };
      break;
    case "failed":
      next.task = { ...task, status: "failed", error: msg.error, ...(msg.charge ? { charge: msg.charge } : {}) };
      break;
    case "cancelled":
      next.task = { ...task, status: "cancelled", ...(msg.charge ? { charge: msg.charge } : {}) };
      break;
    case "resync":
      // This listener fell behind; the server closes its socket next, and the reconnect starts from a snapshot.
      break;
  }
  return { state: next, gap };
}

/** Light structural check for messages off the wire (the schemas stay on the server; see the note at the top). */
export function parseServerMessage(raw: string): ServerMessage | null {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return null;
  }
  return checkServerMessage(value);
}

/**
 * The messages of one text message: a single one, or each of a JSON array of them (the DO sends
 * those together when they queued behind a large fan-out, ADR 0027); malformed ones are left out.
 */
export function parseServerMessages(raw: string): ServerMessage[] {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return [];
  }
  const list: unknown[] = Array.isArray(value) ? value : [value];
  return list.map(checkServerMessage).filter((m): m is ServerMessage => m !== null);
}

/**
 * The server messages one socket message carries: a text message's, or those in a binary batch's
 * text trailer (sent with the pass's frames, ADR 0031); none for a frame, `pong` or anything malformed.
 */
export function socketMessages(data: unknown): ServerMessage[] {
  if (typeof data === "string") return data === "pong" ? [] : parseServerMessages(data);
  if (data instanceof ArrayBuffer) {
    const text = listenerBinaryOf(data)?.text;
    return text ? parseServerMessages(text) : [];
  }
  return [];
}

function checkServerMessage(value: unknown): ServerMessage | null {
  if (!value || typeof value !== "object") return null;
  const m = value as { type?: unknown; seq?: unknown; task?: unknown };
  if (typeof m.type !== "string" || typeof m.seq !== "number" || !Number.isInteger(m.seq)) return null;
  if (!(SERVER_MESSAGE_TYPES as readonly string[]).includes(m.type)) return null;
  if (m.type === "snapshot" && (!m.task || typeof m.task !== "object")) return null;
  return value as ServerMessage;
}
