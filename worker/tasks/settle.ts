import type { EngineError, TaskState } from "../engine/protocol";
import { ledgerKeys } from "../services/credits";

export interface SettleInput {
  taskId: string;
  userId: string;
  kind: "generate" | "design_preview";
  cost: number;
  generationId: string | null;
  voiceId: string | null;
  status: Extract<TaskState, "succeeded" | "failed" | "cancelled">;
  error: EngineError | null;
  result: { duration_ms: number; sample_rate: number; size_bytes: number; key: string; mp3SizeBytes?: number | null } | null;
  segmentCount: number;
  at: number;
}

/**
 * Writes a task's terminal state to D1 in one batch (one transaction): the
 * task, its generation, and the ledger capture or release. Guarded so it
 * applies once: the task update only matches a non-terminal row, the ledger
 * entry is keyed `settle:<task>` (capture and release share it), and the
 * generation update is conditioned on the task having just been settled.
 */
export async function settleTask(db: D1Database, s: SettleInput): Promise<void> {
  const ok = s.status === "succeeded";
  const stmts: D1PreparedStatement[] = [
    db
      .prepare(
        `UPDATE tasks SET status = ?2, error = ?3, result = ?4, progress_permille = CASE WHEN ?2 = 'succeeded' THEN 1000 ELSE progress_permille END,
           segment_count = ?5, finished_at = ?6, updated_at = ?6
         WHERE id = ?1 AND status NOT IN ('succeeded', 'failed', 'cancelled')`,
      )
      .bind(s.taskId, s.status, s.error ? JSON.stringify(s.error) : null, s.result ? JSON.stringify(s.result) : null, s.segmentCount, s.at),
    // Settles only a reservation that exists: a release without one would mint credits.
    db
      .prepare(
        `INSERT INTO credit_ledger (user_id, delta, kind, idempotency_key, task_id, note, created_at)
         SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7 WHERE EXISTS (SELECT 1 FROM credit_ledger WHERE idempotency_key = ?8 AND user_id = ?1)
         ON CONFLICT(idempotency_key) DO NOTHING`,
      )
      .bind(
        s.userId,
        ok ? 0 : s.cost,
        ok ? "capture" : "release",
        ledgerKeys.settle(s.taskId),
        s.taskId,
        ok ? `Charged ${s.cost} credits` : `Released ${s.cost} credits (${s.status})`,
        s.at,
        ledgerKeys.reserve(s.taskId),
      ),
  ];
  if (s.generationId) {
    stmts.push(
      db
        .prepare(
          `UPDATE generations SET status = ?2, error = ?3, audio_key = ?4, duration_ms = ?5, size_bytes = ?6, sample_rate = ?7, completed_at = ?8,
             mp3_size_bytes = ?10
           WHERE id = ?1 AND user_id = ?9 AND status NOT IN ('succeeded', 'failed', 'cancelled')`,
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
          s.result?.mp3SizeBytes ?? null,
        ),
    );
  }
  if (ok && s.voiceId && s.kind === "generate") {
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
  if (!row || ["succeeded", "failed", "cancelled"].includes(row.status)) return false;
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
