import type { Logger } from "../lib/log";
import { monthOf } from "../services/credits";
import { ACTIVE_SUBSCRIPTION_STATUSES } from "../billing/subscriptions";
import { PLANS } from "../services/pricing";
import { trackerFor } from "../services/tasks";
import { audioKeys } from "../storage/keys";
import { deletePrefix } from "../storage/serve";
import { TASK_TIMEOUTS } from "../tasks/timeouts";
import { settleFromRow } from "../tasks/settle";

/** Segments stay playable for a day after a task ends; the final file stays until the user deletes it. */
export const SEGMENT_RETENTION_MS = 24 * 60 * 60_000;
const BATCH = 50;

/**
 * Tasks that look stuck in D1 get their tracker to re-check its deadlines
 * (normally its alarm does this; this catches a lost alarm or an unsynced
 * terminal write).
 */
export async function sweepStaleTasks(env: Env, log: Logger, now = Date.now()): Promise<number> {
  const cutoff = now - Math.min(TASK_TIMEOUTS.startMs, 5 * TASK_TIMEOUTS.heartbeatMs);
  const { results } = await env.DB.prepare(
    `SELECT id FROM tasks WHERE status IN ('queued', 'dispatched', 'running') AND updated_at < ?1 ORDER BY updated_at LIMIT ?2`,
  )
    .bind(cutoff, BATCH)
    .all<{ id: string }>();
  for (const { id } of results) {
    try {
      const { initialised } = await trackerFor(env, id).sweep();
      if (!initialised) {
        await settleFromRow(env.DB, id, { code: "engine_unavailable", message: "This job never started. Your credits were returned.", retryable: true });
      }
    } catch (err) {
      log.warn("cron.sweep_failed", { task_id: id, error: String(err) });
    }
  }
  return results.length;
}

/**
 * Deletes segment objects of tasks that ended over a day ago and the audio of
 * expired design previews. `segment_count = -1` marks a task as cleaned.
 */
export async function purgeOldAudio(env: Env, log: Logger, now = Date.now()): Promise<number> {
  const { results } = await env.DB.prepare(
    `SELECT id, user_id, kind, expires_at FROM tasks
     WHERE segment_count >= 0 AND status IN ('succeeded', 'failed', 'cancelled')
       AND (finished_at < ?1 OR (kind = 'design_preview' AND expires_at < ?2))
     LIMIT ?3`,
  )
    .bind(now - SEGMENT_RETENTION_MS, now, BATCH)
    .all<{ id: string; user_id: string; kind: string; expires_at: number | null }>();
  let deleted = 0;
  for (const t of results) {
    deleted += await deletePrefix(env.AUDIO, audioKeys.segmentsPrefix(t.user_id, t.id));
    if (t.kind === "design_preview" && t.expires_at !== null && t.expires_at < now) {
      await env.AUDIO.delete(audioKeys.preview(t.user_id, t.id));
      deleted += 1;
    }
    await env.DB.prepare(`UPDATE tasks SET segment_count = -1 WHERE id = ?1`).bind(t.id).run();
  }
  if (results.length) log.info("cron.purged_audio", { tasks: results.length, objects: deleted });
  return deleted;
}

/**
 * Grants this month's plan credits to every user at once (also granted lazily
 * on first use). The key format matches `ledgerKeys.monthlyGrant`, so the two
 * paths can never both grant a month. Subscribers are skipped: their credits
 * come with each paid invoice.
 */
export async function grantMonthlyCredits(env: Env, now = new Date()): Promise<number> {
  const month = monthOf(now);
  const cases = Object.values(PLANS)
    .map((p) => `WHEN '${p.id}' THEN ${p.monthlyCredits}`)
    .join(" ");
  const res = await env.DB.prepare(
    `INSERT INTO credit_ledger (user_id, delta, kind, idempotency_key, note, created_at)
     SELECT id, CASE plan ${cases} ELSE ${PLANS.free.monthlyCredits} END, 'grant', 'grant:' || id || ':' || ?1, 'Plan credits for ' || ?1, ?2 FROM user
     WHERE NOT EXISTS (SELECT 1 FROM subscriptions s WHERE s.user_id = user.id AND s.status IN (${ACTIVE_SUBSCRIPTION_STATUSES.map((st) => `'${st}'`).join(", ")}))
     ON CONFLICT(idempotency_key) DO NOTHING`,
  )
    .bind(month, now.getTime())
    .run();
  return res.meta.changes ?? 0;
}
