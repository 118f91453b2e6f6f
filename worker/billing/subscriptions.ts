import { and, eq, inArray, sql } from "drizzle-orm";
import type { Db } from "../db/client";
import { subscriptions, user as userTable } from "../db/schema";
import { PLAN_IDS, planRank, type PlanId } from "../services/pricing";

/**
 * Statuses that keep a paid plan. `past_due` keeps it while Stripe retries the
 * card (its dunning settings decide when that ends in `unpaid` or
 * `canceled`); everything else — incomplete, incomplete_expired, unpaid,
 * paused, canceled — means Free.
 */
export const ACTIVE_SUBSCRIPTION_STATUSES = ["active", "trialing", "past_due"] as const;

/** Stripe never moves a subscription out of these, so no later-looking snapshot may undo them. */
const TERMINAL_STATUSES = new Set(["canceled", "incomplete_expired"]);

/**
 * The sortable version of one snapshot of a subscription. Stripe does not
 * deliver events in order, and a subscription object carries no "updated at"
 * field, so the snapshot's age is its event's `created` (seconds). Terminal
 * snapshots sort above every live one (a canceled subscription is never
 * revived); the event id breaks exact ties so every delivery order ends in
 * the same row.
 */
export function subscriptionVersion(status: string, eventCreated: number, eventId: string): string {
  return `${TERMINAL_STATUSES.has(status) ? 1 : 0}:${String(Math.max(0, Math.floor(eventCreated))).padStart(12, "0")}:${eventId}`;
}

/** Below every real snapshot: the row written at checkout until Stripe's own subscription events arrive. */
export const PROVISIONAL_VERSION = "0:000000000000:";

export interface SubscriptionSnapshot {
  id: string;
  userId: string;
  customerId: string;
  status: string;
  plan: PlanId;
  priceId: string | null;
  currentPeriodStart: Date | null;
  currentPeriodEnd: Date | null;
  cancelAtPeriodEnd: boolean;
  stripeUpdatedAt: number;
  version: string;
  eventId: string | null;
}

/** Stores the snapshot only if it is newer than the stored one (one statement, so it can join a batch). */
export function upsertSubscription(db: Db, s: SubscriptionSnapshot) {
  const now = new Date();
  return db
    .insert(subscriptions)
    .values({ ...s, updatedAt: now })
    .onConflictDoUpdate({
      target: subscriptions.id,
      set: {
        status: sql`excluded.status`,
        plan: sql`excluded.plan`,
        priceId: sql`excluded.price_id`,
        currentPeriodStart: sql`excluded.current_period_start`,
        currentPeriodEnd: sql`excluded.current_period_end`,
        cancelAtPeriodEnd: sql`excluded.cancel_at_period_end`,
        stripeUpdatedAt: sql`excluded.stripe_updated_at`,
        version: sql`excluded.version`,
        eventId: sql`excluded.event_id`,
        updatedAt: sql`excluded.updated_at`,
      },
      setWhere: sql`excluded.version > subscriptions.version`,
    });
}

const planRankCase = sql.raw(`CASE s.plan ${PLAN_IDS.map((p) => `WHEN '${p}' THEN ${planRank(p)}`).join(" ")} ELSE 0 END`);
const activeList = sql.raw(ACTIVE_SUBSCRIPTION_STATUSES.map((s) => `'${s}'`).join(", "));

/**
 * `user.plan` recomputed from the stored subscriptions (the best plan among
 * live ones, else Free). It reads only rows, never the event at hand, so it
 * lands on the same answer whatever order the events came in. Run it in the
 * same batch as the upsert.
 */
export function derivePlanStatement(db: Db, userId: string) {
  return db
    .update(userTable)
    .set({
      plan: sql`coalesce((SELECT s.plan FROM subscriptions s WHERE s.user_id = ${userId} AND s.status IN (${activeList}) ORDER BY ${planRankCase} DESC LIMIT 1), 'free')`,
      updatedAt: new Date(),
    })
    .where(eq(userTable.id, userId));
}

/** The best plan the user pays for through a live subscription, or null. */
export async function activeSubscriptionPlan(db: Db, userId: string): Promise<PlanId | null> {
  const rows = await db
    .select({ plan: subscriptions.plan })
    .from(subscriptions)
    .where(and(eq(subscriptions.userId, userId), inArray(subscriptions.status, [...ACTIVE_SUBSCRIPTION_STATUSES])))
    .all();
  const best = rows.map((r) => r.plan).sort((a, b) => planRank(b) - planRank(a))[0];
  return best && best !== "free" ? (best as PlanId) : null;
}

/** Whether the user's monthly credits come from Stripe invoices rather than the calendar-month grant. */
export async function hasActiveSubscription(db: Db, userId: string): Promise<boolean> {
  return (await activeSubscriptionPlan(db, userId)) !== null;
}

/** The subscription shown on the account page: the live one if any, else the most recent. */
export async function currentSubscription(db: Db, userId: string) {
  const rows = await db.select().from(subscriptions).where(eq(subscriptions.userId, userId)).all();
  const live = rows.filter((r) => (ACTIVE_SUBSCRIPTION_STATUSES as readonly string[]).includes(r.status));
  const pick = (live.length ? live : rows).sort((a, b) => planRank(b.plan) - planRank(a.plan) || (a.version < b.version ? 1 : -1))[0];
  if (!pick) return null;
  return {
    id: pick.id,
    status: pick.status,
    plan: pick.plan,
    current_period_end: pick.currentPeriodEnd?.toISOString() ?? null,
    cancel_at_period_end: pick.cancelAtPeriodEnd,
  };
}
