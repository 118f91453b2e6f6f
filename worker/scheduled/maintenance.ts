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
/** Rows read per page of the sweep, trackers asked at once, and the most tasks one run looks at. */
export const SWEEP_PAGE = 200;
const SWEEP_CONCURRENCY = 10;
export const SWEEP_MAX_PER_RUN = 10_000;

export interface SweepResult {
  /** Tasks whose tracker was asked to re-check its deadlines. */
  checked: number;
  /** Tasks without a tracker, settled (credits released) from their D1 row. */
  settled: number;
  failed: number;
}

type Page = { id: string; at: number }[];

/**
 * Tasks past a deadline get their tracker to re-check it (normally its alarm
 * does this; this catches a lost alarm or an unsynced terminal write), and a
 * task whose tracker never started is settled from its row. Tasks are chosen
 * by deadline, never by age of their last write: a task not running by its
 * start deadline, and a running task silent for longer than the heartbeat
 * deadline as far as D1 knows. Each kind is paged through to the end (up to
 * SWEEP_MAX_PER_RUN), so however many healthy long tasks there are, every
 * orphan is settled in one pass.
 */
export async function sweepStaleTasks(env: Env, log: Logger, now = Date.now()): Promise<SweepResult> {
  const result: SweepResult = { checked: 0, settled: 0, failed: 0 };
  const visit = async (id: string) => {
    try {
      const { initialised } = await trackerFor(env, id).sweep();
      if (initialised) result.checked += 1;
      else if (await settleFromRow(env.DB, id, { code: "engine_unavailable", message: "This job never started. Your credits were returned.", retryable: true }, now)) {
        result.settled += 1;
      }
    } catch (err) {
      result.failed += 1;
      log.warn("cron.sweep_failed", { task_id: id, error: String(err) });
    }
  };
  // Not running by the start deadline (the tracker fails these; an orphan has no tracker to).
  await pageThrough(
    (after) =>
      env.DB.prepare(
        `SELECT id, created_at AS at FROM tasks
         WHERE status IN ('queued', 'dispatched') AND created_at < ?1 AND (created_at > ?2 OR (created_at = ?2 AND id > ?3))
         ORDER BY created_at, id LIMIT ?4`,
      )
        .bind(now - TASK_TIMEOUTS.startMs, after.at, after.id, SWEEP_PAGE)
        .all<{ id: string; at: number }>()
        .then((r) => r.results),
    visit,
  );
  // Running, and D1 has heard nothing for longer than the heartbeat deadline (the tracker knows better).
  await pageThrough(
    (after) =>
      env.DB.prepare(
        `SELECT id, updated_at AS at FROM tasks
         WHERE status = 'running' AND updated_at < ?1 AND (updated_at > ?2 OR (updated_at = ?2 AND id > ?3))
         ORDER BY updated_at, id LIMIT ?4`,
      )
        .bind(now - TASK_TIMEOUTS.heartbeatMs, after.at, after.id, SWEEP_PAGE)
        .all<{ id: string; at: number }>()
        .then((r) => r.results),
    visit,
  );
  return result;
}

/** Keyset pagination over `(at, id)`, visiting each page's rows a few at a time. */
async function pageThrough(page: (after: { at: number; id: string }) => Promise<Page>, visit: (id: string) => Promise<void>): Promise<void> {
  let after = { at: -1, id: "" };
  for (let seen = 0; seen < SWEEP_MAX_PER_RUN; ) {
    const rows = await page(after);
    for (let i = 0; i < rows.length; i += SWEEP_CONCURRENCY) {
      await Promise.all(rows.slice(i, i + SWEEP_CONCURRENCY).map((r) => visit(r.id)));
    }
    seen += rows.length;
    if (rows.length < SWEEP_PAGE) return;
    const last = rows[rows.length - 1]!;
    after = { at: last.at, id: last.id };
  }
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
