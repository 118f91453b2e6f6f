import type { EngineError, TaskState } from "../engine/protocol";
import { ledgerKeys } from "../services/credits";
import type { ChargeView } from "./messages";
import { isTerminal, TERMINAL_SQL } from "./lifecycle";

/** One `task_artifacts` row (migration 0004); `index` null for unindexed kinds (stored as -1). */
export interface ArtifactRow {
  kind: string;
  index: number | null;
  key: string;
  size_bytes: number;
  content_type: string;
}

export interface SettleInput {
  taskId: string;
  userId: string;
  kind: "generate" | "design_preview";
  cost: number;
  generationId: string | null;
  voiceId: string | null;
  status: Extract<TaskState, "succeeded" | "failed" | "cancelled">;
  error: EngineError | null;
  result: { duration_ms: number; sample_rate: number; size_bytes: number; key: string } | null;
  segmentCount: number;
  /** The artifacts the task keeps: all of a success; only the delivered parts of a cancel or failure. */
  artifacts?: ArtifactRow[];
  /** What a cancelled or failed task keeps for delivered audio (DESIGN §6); null releases everything. */
  charge?: ChargeView | null;
  at: number;
}

export function artifactRowStatement(db: D1Database, taskId: string, userId: string, a: ArtifactRow, at: number): D1PreparedStatement {
  return db
    .prepare(
      `INSERT INTO task_artifacts (task_id, user_id, kind, idx, r2_key, content_type, size_bytes, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
       ON CONFLICT(task_id, kind, idx) DO NOTHING`,
    )
    .bind(taskId, userId, a.kind, a.index ?? -1, a.key, a.content_type, a.size_bytes, at);
}

/** The ledger line of a settle: a capture of the whole reservation, a fair partial capture, or a full release. */
export function settleLedgerLine(s: Pick<SettleInput, "status" | "cost" | "charge">): { delta: number; kind: "capture" | "release"; note: string } {
  if (s.status === "succeeded") return { delta: 0, kind: "capture", note: `Charged ${s.cost} credits` };
  const charge = s.charge;
  if (charge && charge.credits > 0) {
    const credits = Math.min(charge.credits, s.cost);
    const parts = charge.parts_total ? `${charge.parts_delivered} of ${charge.parts_total} parts were delivered` : `${charge.parts_delivered} parts were delivered`;
    return { delta: s.cost - credits, kind: "capture", note: `Charged ${credits} of ${s.cost} credits: ${parts} (${s.status})` };
  }
  return { delta: s.cost, kind: "release", note: `Released ${s.cost} credits (${s.status})` };
}

/**
 * Writes a task's terminal state to D1 in one batch (one transaction): the
 * task, its generation, and the ledger capture or release. Guarded so it
 * applies once: the task update only matches a non-terminal row, the ledger
 * entry is keyed `settle:<task>` (capture and release share it), and the
 * generation update is conditioned on the task having just been settled.
 */
export async function settleTask(db: D1Database, s: SettleInput): Promise<void> {
  const line = settleLedgerLine(s);
  const stmts: D1PreparedStatement[] = [
    db
      .prepare(
        `UPDATE tasks SET status = ?2, error = ?3, result = ?4, progress_permille = CASE WHEN ?2 = 'succeeded' THEN 1000 ELSE progress_permille END,
           segment_count = ?5, finished_at = ?6, updated_at = ?6
         WHERE id = ?1 AND status NOT IN ${TERMINAL_SQL}`,
      )
      .bind(s.taskId, s.status, s.error ? JSON.stringify(s.error) : null, s.result ? JSON.stringify(s.result) : null, s.segmentCount, s.at),
    // Settles only a reservation that exists: a release without one would mint credits.
    db
      .prepare(
        `INSERT INTO credit_ledger (user_id, delta, kind, idempotency_key, task_id, note, created_at)
         SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7 WHERE EXISTS (SELECT 1 FROM credit_ledger WHERE idempotency_key = ?8 AND user_id = ?1)
         ON CONFLICT(idempotency_key) DO NOTHING`,
      )
      .bind(s.userId, line.delta, line.kind, ledgerKeys.settle(s.taskId), s.taskId, line.note, s.at, ledgerKeys.reserve(s.taskId)),
    ...(s.artifacts ?? []).map((a) => artifactRowStatement(db, s.taskId, s.userId, a, s.at)),
  ];
  if (s.generationId) {
    // The generation mirrors its preferred take (ADR 0022): this task's settle writes it when this task is
    // the preferred take, or when it succeeded and the preferred one has no audio (failed or cancelled):
    // then it becomes the preferred take, so regenerating a failed generation leaves it playable.
    stmts.push(
      db
        .prepare(
          `UPDATE generations SET task_id = ?10, status = ?2, error = ?3, audio_key = ?4, duration_ms = ?5, size_bytes = ?6, sample_rate = ?7, completed_at = ?8
           WHERE id = ?1 AND user_id = ?9
             AND ((task_id = ?10 AND status NOT IN ${TERMINAL_SQL}) OR (?2 = 'succeeded' AND task_id != ?10 AND status IN ('failed', 'cancelled')))`,
        )
        .bind(
          s.generationId,
          s.status,
          s.error ? JSON.stringify(s.error) : null,
          s.result?.key ?? null,
          s.result?.duration_ms ?? null,
          s.result?.size_bytes ?? null,
          s.result?.sample_rate ?? null,
          s.at,
          s.userId,
          s.taskId,
        ),
    );
  }
  if (s.status === "succeeded" && s.voiceId && s.kind === "generate") {
    stmts.push(db.prepare(`UPDATE voices SET usage_count = usage_count + 1 WHERE id = ?1 AND user_id = ?2`).bind(s.voiceId, s.userId));
  }
  await db.batch(stmts);
}

/** Non-terminal status changes, so lists of active tasks stay current. */
export async function recordTaskStatus(db: D1Database, taskId: string, status: "dispatched" | "running", at: number): Promise<void> {
  const from = status === "running" ? "('queued', 'dispatched')" : "('queued')";
  await db.batch([
    db
      .prepare(
        `UPDATE tasks SET status = ?2, updated_at = ?3, started_at = CASE WHEN ?2 = 'running' THEN ?3 ELSE started_at END WHERE id = ?1 AND status IN ${from}`,
      )
      .bind(taskId, status, at),
    db.prepare(`UPDATE generations SET status = ?2 WHERE task_id = ?1 AND status IN ${from}`).bind(taskId, status),
  ]);
}

/** A task row as D1 has it, for settling without its tracker (one that was never initialised). */
export async function settleFromRow(db: D1Database, taskId: string, error: EngineError, at = Date.now()): Promise<boolean> {
  const row = await db
    .prepare(`SELECT user_id, kind, cost, generation_id, voice_id, status FROM tasks WHERE id = ?1`)
    .bind(taskId)
    .first<{ user_id: string; kind: "generate" | "design_preview"; cost: number; generation_id: string | null; voice_id: string | null; status: TaskState }>();
  if (!row || isTerminal(row.status)) return false;
  await settleTask(db, {
    taskId,
    userId: row.user_id,
    kind: row.kind,
    cost: row.cost,
    generationId: row.generation_id,
    voiceId: row.voice_id,
    status: "failed",
    error,
    result: null,
    segmentCount: 0,
    at,
  });
  return true;
}
