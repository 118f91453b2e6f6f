import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createLogger } from "../../worker/lib/log";
import { newId } from "../../worker/lib/ids";
import { SWEEP_PAGE, sweepStaleTasks } from "../../worker/scheduled/maintenance";
import { TASK_TIMEOUTS } from "../../worker/tasks/timeouts";
import { grantCredits } from "../support/factories";
import { ledgerCheckedUsers } from "../support/ledger-users";

const newUser = ledgerCheckedUsers();
const log = createLogger({ test: "sweep" });

function tracker(taskId: string) {
  return env.TASK_TRACKER.get(env.TASK_TRACKER.idFromName(taskId));
}

/** A task row with its reservation, as task creation commits them (no tracker: add one with `track`). */
function insertTask(userId: string, o: { status: string; createdAt: number; updatedAt: number; cost?: number }) {
  const id = newId("task");
  const cost = o.cost ?? 1;
  return {
    id,
    stmts: [
      env.DB.prepare(
        `INSERT INTO tasks (id, user_id, kind, status, input, cost, created_at, updated_at) VALUES (?1, ?2, 'design_preview', ?3, '{"text":"x","language":"en"}', ?4, ?5, ?6)`,
      ).bind(id, userId, o.status, cost, o.createdAt, o.updatedAt),
      env.DB.prepare(
        `INSERT INTO credit_ledger (user_id, delta, kind, idempotency_key, task_id, created_at) VALUES (?1, ?2, 'reserve', ?3, ?4, ?5)`,
      ).bind(userId, -cost, `reserve:${id}`, id, o.createdAt),
    ],
  };
}

async function balance(userId: string) {
  return (
    (await env.DB.prepare(`SELECT balance FROM credit_balances WHERE user_id = ?1`).bind(userId).first<{ balance: number }>())?.balance ?? 0
  );
}

describe("cron sweep", () => {
  it("50 healthy long-running tasks and an orphan behind them: the orphan is released in one sweep, the healthy ones keep running", async () => {
    const user = await newUser("sweep");
    await grantCredits(user.id, 1_000);
    const now = Date.now();
    const threeHoursAgo = now - 3 * 3600_000;
    // Healthy: running for hours, their trackers hearing from the engine all along (D1 is not told of heartbeats).
    const healthy = Array.from({ length: 50 }, () =>
      insertTask(user.id, { status: "running", createdAt: threeHoursAgo, updatedAt: threeHoursAgo }),
    );
    // The orphan: its tracker never started (an init that failed and whose settle failed too), holding 7 credits.
    const orphan = insertTask(user.id, { status: "queued", createdAt: now - 2 * 3600_000, updatedAt: now - 2 * 3600_000, cost: 7 });
    await env.DB.batch([...healthy.flatMap((t) => t.stmts), ...orphan.stmts]);
    await Promise.all(
      healthy.map(async (t) => {
        const stub = tracker(t.id);
        await stub.init({
          id: t.id,
          userId: user.id,
          kind: "design_preview",
          cost: 1,
          generationId: null,
          voiceId: null,
          createdAt: Date.now(),
          startTimeoutMs: TASK_TIMEOUTS.startMs,
          heartbeatTimeoutMs: TASK_TIMEOUTS.heartbeatMs,
        });
        await stub.dispatched(`call_${t.id}`);
        await stub.engineEvent({ job_id: t.id, seq: 0, type: "started" });
      }),
    );
    // The tracker wrote `running` to D1 just now; put the rows back to "hours ago", as a long job's are.
    for (let i = 0; i < 50; i++) {
      const running = await env.DB.prepare(`SELECT count(*) AS n FROM tasks WHERE user_id = ?1 AND status = 'running'`)
        .bind(user.id)
        .first<{ n: number }>();
      if (running?.n === 50) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    await env.DB.prepare(`UPDATE tasks SET updated_at = ?2 WHERE user_id = ?1 AND status = 'running'`).bind(user.id, threeHoursAgo).run();
    const before = await balance(user.id);

    const result = await sweepStaleTasks(env, log, now);

    expect(result.settled).toBe(1);
    expect(result.failed).toBe(0);
    expect(result.checked).toBeGreaterThanOrEqual(50);
    expect((await env.DB.prepare(`SELECT status FROM tasks WHERE id = ?1`).bind(orphan.id).first<{ status: string }>())?.status).toBe(
      "failed",
    );
    expect(await balance(user.id)).toBe(before + 7);
    for (const t of healthy) expect((await tracker(t.id).stats()).status).toBe("running");
  });

  it("pages through a backlog larger than a page in one run", async () => {
    const user = await newUser("backlog");
    const now = Date.now();
    const orphans = Array.from({ length: SWEEP_PAGE + 15 }, (_, i) =>
      insertTask(user.id, {
        status: i % 2 ? "queued" : "dispatched",
        createdAt: now - TASK_TIMEOUTS.startMs - 60_000 - i,
        updatedAt: now - 60_000,
      }),
    );
    await grantCredits(user.id, orphans.length);
    await env.DB.batch(orphans.flatMap((t) => t.stmts));
    const result = await sweepStaleTasks(env, log, now);
    expect(result.settled).toBe(orphans.length);
    const left = await env.DB.prepare(`SELECT count(*) AS n FROM tasks WHERE user_id = ?1 AND status IN ('queued', 'dispatched')`)
      .bind(user.id)
      .first<{ n: number }>();
    expect(left?.n).toBe(0);
    expect(await balance(user.id)).toBe(orphans.length);
  });

  it("leaves a young task alone: its start deadline has not passed", async () => {
    const user = await newUser("young");
    await grantCredits(user.id, 5);
    const now = Date.now();
    const young = insertTask(user.id, { status: "queued", createdAt: now - 60_000, updatedAt: now - 60_000 });
    await env.DB.batch(young.stmts);
    const result = await sweepStaleTasks(env, log, now);
    expect((await env.DB.prepare(`SELECT status FROM tasks WHERE id = ?1`).bind(young.id).first<{ status: string }>())?.status).toBe(
      "queued",
    );
    expect(result.failed).toBe(0);
    // Settle it so the test leaves nothing held.
    await env.DB.prepare(`UPDATE tasks SET status = 'cancelled' WHERE id = ?1`).bind(young.id).run();
    await env.DB.prepare(`INSERT INTO credit_ledger (user_id, delta, kind, idempotency_key, task_id) VALUES (?1, 1, 'release', ?2, ?3)`)
      .bind(user.id, `settle:${young.id}`, young.id)
      .run();
  });
});
