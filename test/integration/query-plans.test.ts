import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { installFakeEngine } from "../support/fake-engine";
import { runHotRequests } from "../support/hot-requests";

/** Plan lines that mean a whole table (or a whole index) is read. */
function scans(detail: string): boolean {
  const m = /^SCAN (\S+)/.exec(detail);
  if (!m) return false;
  // A subquery's or a constant row's own result, not a table.
  return !/^(CONSTANT|\(|subquery|CTE)/i.test(m[1]!) && !/^SCAN \(subquery/i.test(detail);
}

async function planOf(sql: string, params: unknown[]): Promise<string[]> {
  const plan = await env.DB.prepare(`EXPLAIN QUERY PLAN ${sql}`)
    .bind(...params)
    .all<{ detail: string }>();
  return plan.results.map((p) => p.detail);
}

/** Statements the task's tracker runs against D1 (its own requests are not probed): the same SQL, run here. */
function trackerStatements(taskId: string) {
  return [
    { sql: `UPDATE generations SET status = ?2 WHERE task_id = ?1 AND status IN ('queued', 'dispatched')`, params: [taskId, "running"] },
    {
      sql: `UPDATE tasks SET status = ?2, updated_at = ?3 WHERE id = ?1 AND status IN ('queued', 'dispatched')`,
      params: [taskId, "running", 1],
    },
    // An artifact that lands after completion (final_mp3) is recorded by the tracker itself (worker/tasks/settle.ts).
    {
      sql: `INSERT INTO task_artifacts (task_id, user_id, kind, idx, r2_key, content_type, size_bytes, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
       ON CONFLICT(task_id, kind, idx) DO NOTHING`,
      params: [taskId, "u", "final_mp3", -1, "k", "audio/mpeg", 1, 1],
    },
    { sql: `SELECT r2_key, content_type FROM task_artifacts WHERE task_id = ?1 AND user_id = ?2 AND kind = ?3 AND idx = ?4`, params: [taskId, "u", "final", -1] },
    { sql: `UPDATE voices SET usage_count = usage_count + 1 WHERE id = ?1 AND user_id = ?2`, params: ["v", "u"] },
  ];
}

/** The queries the ledger's triggers run on every entry (EXPLAIN does not show trigger bodies). */
const TRIGGER_QUERIES = [
  { sql: `SELECT max(id) FROM credit_ledger WHERE user_id = ?1`, params: ["u"] },
  { sql: `SELECT delta FROM credit_ledger WHERE id = ?1`, params: [1] },
  { sql: `SELECT balance FROM credit_balances WHERE user_id = ?1`, params: ["u"] },
];

describe("query plans of the hot path", () => {
  it("the check itself sees a scan, and an index lookup as none", async () => {
    expect((await planOf(`SELECT id FROM tasks WHERE input = ?1`, ["x"])).some(scans)).toBe(true);
    expect((await planOf(`SELECT id FROM generations WHERE task_id = ?1`, ["x"])).some(scans)).toBe(false);
    expect((await planOf(`SELECT id FROM tasks WHERE id = ?1`, ["x"])).some(scans)).toBe(false);
  });

  it("no hot query scans a table", async () => {
    const engine = installFakeEngine();
    const rows = await runHotRequests({ onSubmit: () => engine.jobs.at(-1) });
    for (const r of rows) expect(r.status, r.name).toBeLessThan(400);
    const statements = [...rows.flatMap((r) => r.statements), ...TRIGGER_QUERIES, ...trackerStatements("task_x")];
    const seen = new Map<string, unknown[]>();
    for (const s of statements) if (!seen.has(s.sql)) seen.set(s.sql, s.params);
    expect(seen.size).toBeGreaterThan(20);
    const offenders: string[] = [];
    for (const [sql, params] of seen) {
      if (/^\s*(begin|commit|rollback|savepoint|release|pragma)/i.test(sql)) continue;
      const bad = (await planOf(sql, params)).filter(scans);
      if (bad.length) offenders.push(`${bad.join("; ")}\n    in: ${sql.replace(/\s+/g, " ").slice(0, 300)}`);
    }
    expect(offenders, offenders.join("\n")).toEqual([]);
  });
});
