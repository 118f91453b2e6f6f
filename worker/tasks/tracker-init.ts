/**
 * A task's tracker is made from its D1 row, by whoever reaches it first (issue 16, ADR 0025): the
 * dispatcher before it submits the job (so the engine always finds it), or the owner's snapshot,
 * socket or cancel if they come sooner. Task creation no longer waits for it.
 */
import * as z from "zod";
import { EngineError } from "../engine/protocol";
import { TASK_TIMEOUTS } from "./timeouts";
import type { TrackerInit } from "./tracker-reducer";

/** The columns of a `tasks` row the tracker is made from (the D1 names, timestamps in ms). */
export interface TrackerRow {
  id: string;
  user_id: string;
  kind: "generate" | "design_preview";
  cost: number;
  generation_id: string | null;
  /** The take of its generation (ADR 0022); null for design previews. */
  take: number | null;
  voice_id: string | null;
  created_at: number;
  status: string;
  /** JSON `{code, message, retryable}` when failed. */
  error: string | null;
}

/** The SQL column list that reads a TrackerRow. */
export const TRACKER_ROW_COLUMNS = "id, user_id, kind, cost, generation_id, take, voice_id, created_at, status, error";

/** The part of a task's input a part regeneration's tracker needs (ADR 0026); the input is the Worker's own JSON. */
const PartOfInput = z.object({ part: z.object({ index: z.number().int().min(0), source_task_id: z.string().min(1) }) });

/** `input`: the task's input (JSON text or parsed), for a part regeneration's source. */
export function trackerInitFromRow(row: TrackerRow, input?: unknown): TrackerInit {
  const parsedInput = typeof input === "string" ? safeJson(input) : input;
  const part = PartOfInput.safeParse(parsedInput);
  return {
    id: row.id,
    userId: row.user_id,
    kind: row.kind,
    cost: row.cost,
    generationId: row.generation_id,
    take: row.take,
    voiceId: row.voice_id,
    createdAt: row.created_at,
    startTimeoutMs: TASK_TIMEOUTS.startMs,
    heartbeatTimeoutMs: TASK_TIMEOUTS.heartbeatMs,
    // A row that failed without a tracker (it was settled from D1): the tracker starts failed.
    ...(row.status === "failed" ? { failed: failedError(row.error) } : {}),
    ...(part.success ? { part: { index: part.data.part.index, sourceTaskId: part.data.part.source_task_id } } : {}),
  };
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

function failedError(json: string | null): EngineError {
  let parsed: unknown = null;
  try {
    parsed = json ? JSON.parse(json) : null;
  } catch {
    // not JSON: the generic error below
  }
  const error = EngineError.safeParse(parsed);
  return error.success ? error.data : { code: "internal", message: "This job failed.", retryable: true };
}
