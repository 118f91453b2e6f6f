import { and, desc, eq, lt, sql } from "drizzle-orm";
import type { Db } from "../db/client";
import { creditBalances, creditLedger, LEDGER_KINDS } from "../db/schema";
import { AppError } from "../lib/errors";
import { planOf } from "./pricing";
import { hasActiveSubscription } from "../billing/subscriptions";

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
 * lazily on every authenticated request that reads credits, and by the
 * monthly cron, so a grant never depends on the cron having run. Users with
 * a live subscription are skipped: their credits come with each paid invoice.
 */
export async function ensureMonthlyGrant(db: Db, userId: string, planId: string, at = new Date()): Promise<void> {
  // Subscribers get their plan's credits from each paid Stripe invoice instead (worker/billing).
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
