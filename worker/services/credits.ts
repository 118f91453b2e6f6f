import { and, desc, eq, lt, sql } from "drizzle-orm";
import type { Db } from "../db/client";
import { creditBalances, creditLedger, LEDGER_KINDS } from "../db/schema";
import { AppError } from "../lib/errors";
import { PLANS, planOf } from "./pricing";
import { ACTIVE_SUBSCRIPTION_STATUSES, hasActiveSubscription } from "../billing/subscriptions";

export type LedgerKind = (typeof LEDGER_KINDS)[number];

/** The available balance: the cached sum of the ledger (kept by trigger). */
export async function getBalance(db: Db, userId: string): Promise<number> {
  const row = await db.select({ balance: creditBalances.balance }).from(creditBalances).where(eq(creditBalances.userId, userId)).get();
  return row?.balance ?? 0;
}

/** A ledger entry as a statement, so callers can put it in one `db.batch` with the rows it pays for. */
export function ledgerEntry(
  db: Db,
  entry: { userId: string; delta: number; kind: LedgerKind; key: string; taskId?: string | null; note?: string | null },
) {
  return db
    .insert(creditLedger)
    .values({
      userId: entry.userId,
      delta: entry.delta,
      kind: entry.kind,
      idempotencyKey: entry.key,
      taskId: entry.taskId ?? null,
      note: entry.note ?? null,
    })
    .onConflictDoNothing({ target: creditLedger.idempotencyKey });
}

export const ledgerKeys = {
  monthlyGrant: (userId: string, month: string) => `grant:${userId}:${month}`,
  reserve: (taskId: string) => `reserve:${taskId}`,
  /** Capture and release share one key: a task is settled exactly once, one way. */
  settle: (taskId: string) => `settle:${taskId}`,
};

export function monthOf(at: Date): string {
  return at.toISOString().slice(0, 7);
}

/**
 * Grants the plan's monthly credits once per calendar month (UTC). Called
 * lazily where credits are read, and by the monthly cron, so a grant never
 * depends on the cron having run. Users with a live subscription are
 * skipped: their credits come with each subscription period (worker/billing).
 * Prefer `balanceWithMonthlyGrant`, which decides without a write.
 */
export async function ensureMonthlyGrant(db: Db, userId: string, planId: string, at = new Date()): Promise<void> {
  // Subscribers get their plan's credits from Stripe instead (worker/billing).
  if (await hasActiveSubscription(db, userId)) return;
  const plan = planOf(planId);
  const month = monthOf(at);
  await ledgerEntry(db, {
    userId,
    delta: plan.monthlyCredits,
    kind: "grant",
    key: ledgerKeys.monthlyGrant(userId, month),
    note: `${plan.name} plan credits for ${month}`,
  }).run();
  grantSeen(userId, month);
}

/**
 * Users whose grant for a month this isolate has seen (written or found), so
 * their requests skip even the check. Bounded: a full map starts over.
 */
const granted = new Map<string, string>();
const GRANTED_REMEMBERED = 50_000;
function grantSeen(userId: string, month: string) {
  if (granted.size >= GRANTED_REMEMBERED) granted.clear();
  granted.set(userId, month);
}
export function monthlyGrantKnown(userId: string, at = new Date()): boolean {
  return granted.get(userId) === monthOf(at);
}
/** Tells the isolate a grant statement run elsewhere (in a batch) wrote this month's grant. */
export function monthlyGrantWritten(userId: string, at = new Date()): void {
  grantSeen(userId, monthOf(at));
}

const planCase = (column: string, field: "monthlyCredits" | "name" | "concurrentJobs" | "textChars") =>
  `CASE ${column} ${Object.values(PLANS)
    .map((p) => `WHEN '${p.id}' THEN ${typeof p[field] === "string" ? `'${p[field]}'` : p[field]}`)
    .join(" ")} ELSE ${typeof PLANS.free[field] === "string" ? `'${PLANS.free[field]}'` : PLANS.free[field]} END`;
const activeStatuses = ACTIVE_SUBSCRIPTION_STATUSES.map((st) => `'${st}'`).join(", ");

/** A user's concurrent-job cap from their stored plan, as SQL over `user u` (for guards inside a batch). */
export const CONCURRENT_JOBS_SQL = planCase("u.plan", "concurrentJobs");
/** A user's text limit (characters per generation) from their stored plan, as SQL over `user u`. */
export const TEXT_CHARS_SQL = planCase("u.plan", "textChars");

/**
 * This month's grant as one D1 statement, so it can ride in a batch that is
 * written anyway (task creation): the plan comes from the user row, a live
 * subscription skips it, and the ledger key makes a second one a no-op.
 */
export function monthlyGrantStatement(d1: D1Database, userId: string, at = new Date()): D1PreparedStatement {
  const month = monthOf(at);
  return d1
    .prepare(
      `INSERT INTO credit_ledger (user_id, delta, kind, idempotency_key, note, created_at)
       SELECT u.id, ${planCase("u.plan", "monthlyCredits")}, 'grant', ?2, ${planCase("u.plan", "name")} || ' plan credits for ' || ?3, ?4 FROM user u
       WHERE u.id = ?1 AND NOT EXISTS (SELECT 1 FROM subscriptions s WHERE s.user_id = ?1 AND s.status IN (${activeStatuses}))
       ON CONFLICT(idempotency_key) DO NOTHING`,
    )
    .bind(userId, ledgerKeys.monthlyGrant(userId, month), month, at.getTime());
}

/**
 * The balance, with this month's grant made first if it is due — decided by
 * the same read that fetches the balance, so a request writes only the first
 * time in a month (and not even reads the grant once this isolate has seen
 * it). Answers whether it granted, for callers that list the ledger.
 */
export async function balanceWithMonthlyGrant(db: Db, userId: string, at = new Date()): Promise<{ balance: number; granted: boolean }> {
  if (monthlyGrantKnown(userId, at)) return { balance: await getBalance(db, userId), granted: false };
  const month = monthOf(at);
  const row = await db.get<{ balance: number | null; granted: number; subscribed: number }>(
    sql`SELECT (SELECT balance FROM credit_balances WHERE user_id = ${userId}) AS balance,
      EXISTS (SELECT 1 FROM credit_ledger WHERE idempotency_key = ${ledgerKeys.monthlyGrant(userId, month)}) AS granted,
      EXISTS (SELECT 1 FROM subscriptions WHERE user_id = ${userId} AND status IN (${sql.raw(activeStatuses)})) AS subscribed`,
  );
  if (row && Number(row.granted)) {
    grantSeen(userId, month);
    return { balance: Number(row.balance ?? 0), granted: false };
  }
  if (row && Number(row.subscribed)) return { balance: Number(row.balance ?? 0), granted: false };
  await monthlyGrantStatement(db.$client, userId, at).run();
  grantSeen(userId, month);
  return { balance: await getBalance(db, userId), granted: true };
}

/** The reservation for a task; fails the whole batch it is in when the balance is short. */
export function reserveEntry(db: Db, userId: string, taskId: string, cost: number) {
  return ledgerEntry(db, { userId, delta: -cost, kind: "reserve", key: ledgerKeys.reserve(taskId), taskId, note: `Reserved for task ${taskId}` });
}

/** Success: the reservation becomes the charge (a zero entry records the capture). */
export function captureEntry(db: Db, userId: string, taskId: string) {
  return ledgerEntry(db, { userId, delta: 0, kind: "capture", key: ledgerKeys.settle(taskId), taskId, note: `Charged for task ${taskId}` });
}

/** Failure or cancel: the reservation is given back. */
export function releaseEntry(db: Db, userId: string, taskId: string, cost: number) {
  return ledgerEntry(db, { userId, delta: cost, kind: "release", key: ledgerKeys.settle(taskId), taskId, note: `Released from task ${taskId}` });
}

/** Maps the ledger's reservation guard (a trigger RAISE) to a 402 with balance and cost. */
export async function insufficientCredits(db: Db, userId: string, cost: number): Promise<AppError> {
  const balance = await getBalance(db, userId);
  return new AppError("insufficient_credits", 402, `This needs ${cost} credits and you have ${balance}.`, { balance, cost });
}

export function isInsufficientCreditsError(err: unknown): boolean {
  const seen = new Set<unknown>();
  let e: unknown = err;
  while (e && !seen.has(e)) {
    seen.add(e);
    if (e instanceof Error && e.message.includes("insufficient_credits")) return true;
    e = e instanceof Error ? e.cause : undefined;
  }
  return false;
}

export interface LedgerPage {
  entries: { id: number; delta: number; kind: LedgerKind; task_id: string | null; note: string | null; created_at: string }[];
  next_cursor: string | null;
}

export async function listLedger(db: Db, userId: string, opts: { cursor?: number; limit: number }): Promise<LedgerPage> {
  const rows = await db
    .select()
    .from(creditLedger)
    .where(and(eq(creditLedger.userId, userId), opts.cursor ? lt(creditLedger.id, opts.cursor) : undefined))
    .orderBy(desc(creditLedger.id))
    .limit(opts.limit + 1)
    .all();
  const page = rows.slice(0, opts.limit);
  return {
    entries: page.map((r) => ({ id: r.id, delta: r.delta, kind: r.kind, task_id: r.taskId, note: r.note, created_at: r.createdAt.toISOString() })),
    next_cursor: rows.length > opts.limit && page.length ? String(page[page.length - 1]!.id) : null,
  };
}

/** The invariant the tests check after every credit operation. */
export async function ledgerSum(db: Db, userId: string): Promise<number> {
  const row = await db
    .select({ sum: sql<number>`coalesce(sum(${creditLedger.delta}), 0)` })
    .from(creditLedger)
    .where(eq(creditLedger.userId, userId))
    .get();
  return Number(row?.sum ?? 0);
}
