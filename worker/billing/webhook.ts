import { and, eq, isNull, sql } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import type Stripe from "stripe";
import type { Db } from "../db/client";
import { creditLedger, stripeEvents, stripePayments, user as userTable } from "../db/schema";
import type { AppConfig } from "../lib/config";
import { AppError } from "../lib/errors";
import type { Logger } from "../lib/log";
import { ledgerEntry } from "../services/credits";
import {
  PACK_IDS,
  PACKS,
  PAID_PLAN_IDS,
  creditsForAmount,
  planForStripePrice,
  planRank,
  type Plan,
  type PlanId,
} from "../services/pricing";
import { billingUnavailable, createSubtleCryptoProvider, stripeFailure, webhooks, type StripeClient } from "./stripe-client";
import { PROVISIONAL_VERSION, derivePlanStatement, subscriptionVersion, upsertSubscription } from "./subscriptions";

/** Stripe signs `t=<unix seconds>,v1=<hmac>`; older deliveries (replays) are refused. */
export const WEBHOOK_TOLERANCE_SECONDS = 300;

/** The events Utter acts on; every other type is acknowledged and ignored. */
export const HANDLED_EVENT_TYPES = [
  "checkout.session.completed",
  "checkout.session.async_payment_succeeded",
  "invoice.paid",
  "customer.subscription.created",
  "customer.subscription.updated",
  "customer.subscription.deleted",
  "customer.subscription.paused",
  "customer.subscription.resumed",
  "charge.refunded",
  "charge.refund.updated",
  "charge.dispute.created",
  "charge.dispute.closed",
] as const;
const HANDLED = new Set<string>(HANDLED_EVENT_TYPES);

/** Idempotency keys of the ledger entries Stripe events write (ADR 0004: each happens at most once). */
export const stripeLedgerKeys = {
  purchase: (checkoutSessionId: string) => `purchase:${checkoutSessionId}`,
  /** Before ADR 0018: one grant per invoice (kept so old entries are still recognised). */
  invoice: (invoiceId: string) => `invoice:${invoiceId}`,
  /**
   * A subscription period's plan credits, one entry per plan reached in that
   * period: the first grant is the plan's monthly credits, an upgrade tops up
   * the difference, a second invoice for the same period adds nothing (ADR 0018).
   */
  planPeriod: (subscriptionId: string, periodEnd: number, planId: string) => `${stripeLedgerKeys.planPeriodPrefix(subscriptionId, periodEnd)}${planId}`,
  planPeriodPrefix: (subscriptionId: string, periodEnd: number) => `plan-period:${subscriptionId}:${periodEnd}:`,
  refund: (refundId: string) => `refund:${refundId}`,
  refundReversed: (refundId: string) => `refund-reversed:${refundId}`,
  dispute: (disputeId: string) => `dispute:${disputeId}`,
  disputeWon: (disputeId: string) => `dispute-won:${disputeId}`,
};

export interface WebhookDeps {
  db: Db;
  config: AppConfig;
  log: Logger;
  /** Built on first use: most events need nothing from Stripe's API. */
  stripe: () => StripeClient;
}

export type WebhookResult = { result: "applied" | "duplicate" | "ignored"; detail?: string };

/**
 * Checks the signature over the exact bytes Stripe sent (300 s tolerance
 * either way) and parses the event. Anything that fails is a 400 and touches nothing.
 */
export async function verifyStripeEvent(
  config: Pick<AppConfig, "STRIPE_WEBHOOK_SECRET">,
  rawBody: string,
  signature: string | null,
  nowMs: number = Date.now(),
): Promise<Stripe.Event> {
  if (!config.STRIPE_WEBHOOK_SECRET) throw billingUnavailable("Stripe webhooks are not set up on this server (no STRIPE_WEBHOOK_SECRET).");
  if (!signature) throw new AppError("invalid_signature", 400, "Missing Stripe-Signature header.");
  // Stripe's SDK only refuses timestamps in the past; a signed event dated in
  // the future would stay replayable until that date, so refuse it too.
  const signedAt = Number(/(?:^|,)t=(\d{1,12})(?:,|$)/.exec(signature)?.[1] ?? NaN);
  if (!Number.isFinite(signedAt) || Math.abs(nowMs / 1000 - signedAt) > WEBHOOK_TOLERANCE_SECONDS) {
    throw new AppError("invalid_signature", 400, "The Stripe signature does not match this payload, or its timestamp is outside the tolerance window.");
  }
  try {
    return await webhooks.constructEventAsync(rawBody, signature, config.STRIPE_WEBHOOK_SECRET, WEBHOOK_TOLERANCE_SECONDS, createSubtleCryptoProvider());
  } catch {
    throw new AppError("invalid_signature", 400, "The Stripe signature does not match this payload, or it is too old.");
  }
}

/**
 * Applies one verified event at most once. The event id row and the event's
 * effects go into one D1 batch (one transaction): a crash records nothing
 * and applies nothing, and of concurrent deliveries of the same event only
 * one batch can insert the id — the others fail on the primary key and roll
 * back whole. Effects are also keyed on their own (refund id, invoice id …),
 * so two different events describing the same money cannot double it either.
 */
export async function applyStripeEvent(deps: WebhookDeps, event: Stripe.Event): Promise<WebhookResult> {
  if (!HANDLED.has(event.type)) return { result: "ignored", detail: `event type ${event.type} is not used` };
  if (await deps.db.select({ id: stripeEvents.id }).from(stripeEvents).where(eq(stripeEvents.id, event.id)).get()) {
    return { result: "duplicate" };
  }
  const plan = await effectsOf(deps, event);
  if ("ignored" in plan) {
    deps.log.warn("stripe.event_ignored", { event_id: event.id, type: event.type, reason: plan.ignored });
    return { result: "ignored", detail: plan.ignored };
  }
  try {
    await deps.db.batch([deps.db.insert(stripeEvents).values({ id: event.id, type: event.type }), ...plan.effects]);
  } catch (err) {
    if (isDuplicateEventError(err)) return { result: "duplicate" };
    throw err;
  }
  deps.log.info("stripe.event_applied", { event_id: event.id, type: event.type, note: plan.note });
  return { result: "applied", detail: plan.note };
}

/** The referenced payment is not recorded yet (events arrive in any order): answer non-2xx so Stripe redelivers. */
export class EventNotReady extends AppError {
  constructor(message: string) {
    super("event_not_ready", 409, message);
  }
}

type Effects = { effects: BatchItem<"sqlite">[]; note: string } | { ignored: string };

async function effectsOf(deps: WebhookDeps, event: Stripe.Event): Promise<Effects> {
  switch (event.type) {
    case "checkout.session.completed":
    case "checkout.session.async_payment_succeeded":
      return checkoutEffects(deps, event, event.data.object);
    case "invoice.paid":
      return invoiceEffects(deps, event.data.object);
    case "customer.subscription.created":
    case "customer.subscription.updated":
    case "customer.subscription.deleted":
    case "customer.subscription.paused":
    case "customer.subscription.resumed":
      return subscriptionEffects(deps, event, event.data.object);
    case "charge.refunded":
      return refundEffects(deps, event.data.object);
    case "charge.refund.updated":
      return refundUpdatedEffects(deps, event.data.object);
    case "charge.dispute.created":
      return disputeEffects(deps, event.data.object);
    case "charge.dispute.closed":
      return disputeClosedEffects(deps, event.data.object);
    default:
      return { ignored: `event type ${event.type} is not used` };
  }
}

// --- checkout ----------------------------------------------------------------

async function checkoutEffects(deps: WebhookDeps, event: Stripe.Event, s: Stripe.Checkout.Session): Promise<Effects> {
  const { db } = deps;
  const userId = await resolveUser(db, idOf(s.customer), s.client_reference_id ?? s.metadata?.user_id ?? null);
  if (!userId) return { ignored: `checkout session ${s.id} belongs to no Utter user` };
  const paid = s.payment_status === "paid" || s.payment_status === "no_payment_required";

  if (s.mode === "payment") {
    if (!paid) return { effects: [], note: `checkout ${s.id} awaits an asynchronous payment` };
    const packId = (PACK_IDS as readonly string[]).includes(s.metadata?.pack ?? "") ? (s.metadata!.pack as (typeof PACK_IDS)[number]) : null;
    if (!packId) return { ignored: `checkout session ${s.id} names no credit pack` };
    const pack = PACKS[packId];
    return {
      note: `pack ${pack.id} (+${pack.credits}) for ${userId}`,
      effects: [
        ledgerEntry(db, { userId, delta: pack.credits, kind: "purchase", key: stripeLedgerKeys.purchase(s.id), note: `Bought the ${pack.name} pack` }),
        db
          .insert(stripePayments)
          .values({
            id: s.id,
            userId,
            kind: "pack",
            paymentIntentId: idOf(s.payment_intent),
            credits: pack.credits,
            amount: s.amount_total ?? pack.priceUsd * 100,
            currency: s.currency ?? "usd",
          })
          .onConflictDoNothing(),
      ],
    };
  }

  if (s.mode === "subscription") {
    const subscriptionId = idOf(s.subscription);
    const planId = (PAID_PLAN_IDS as readonly string[]).includes(s.metadata?.plan ?? "") ? (s.metadata!.plan as PlanId) : null;
    const customerId = idOf(s.customer);
    if (!subscriptionId || !planId || !customerId) return { effects: [], note: `checkout ${s.id} names no subscription to link` };
    // A provisional row, below any snapshot Stripe sends of the subscription
    // itself, so the plan shows at once and the real object always wins.
    return {
      note: `link subscription ${subscriptionId} to ${userId}`,
      effects: [
        upsertSubscription(db, {
          id: subscriptionId,
          userId,
          customerId,
          status: paid ? "active" : "incomplete",
          plan: planId,
          priceId: null,
          currentPeriodStart: null,
          currentPeriodEnd: null,
          cancelAtPeriodEnd: false,
          stripeUpdatedAt: 0,
          version: `${PROVISIONAL_VERSION}${paid ? 1 : 0}`,
          eventId: event.id,
        }),
        derivePlanStatement(db, userId),
      ],
    };
  }
  return { effects: [], note: `checkout mode ${s.mode} needs nothing` };
}

// --- invoices ----------------------------------------------------------------

async function invoiceEffects(deps: WebhookDeps, inv: Stripe.Invoice): Promise<Effects> {
  const { db, config } = deps;
  const userId = await resolveUser(db, idOf(inv.customer), inv.parent?.subscription_details?.metadata?.user_id ?? null);
  if (!userId) return { ignored: `invoice ${inv.id} belongs to no Utter user` };
  let lines = inv.lines.data;
  if (inv.lines.has_more) {
    try {
      lines = await deps.stripe().invoices.listLineItems(inv.id, { limit: 100 }).autoPagingToArray({ limit: 1000 });
    } catch (err) {
      stripeFailure(err, deps.log, "invoices.listLineItems");
    }
  }
  // The plan this invoice pays for, and the subscription period it pays for. A line for the
  // period itself counts, and so does a proration that charges (an upgrade); a credited
  // proration (the unused part of the old plan) does not.
  let target: { plan: Plan; credits: number } | null = null;
  let periodEnd = 0;
  let subscriptionId = idOf(inv.parent?.subscription_details?.subscription);
  for (const line of lines) {
    const plan = planForStripePrice(config, idOf(line.pricing?.price_details?.price));
    if (!plan) continue;
    const details = line.parent?.subscription_item_details ?? line.parent?.invoice_item_details;
    const proration = details?.proration ?? false;
    if (proration && line.amount <= 0) continue;
    const credits = plan.monthlyCredits * Math.max(1, line.quantity ?? 1);
    if (!target || credits > target.credits) target = { plan, credits };
    periodEnd = Math.max(periodEnd, line.period?.end ?? 0);
    subscriptionId ??= idOf(line.parent?.subscription_item_details?.subscription);
  }
  if (!target) return { effects: [], note: `invoice ${inv.id} buys no plan credits` };
  // Without a subscription or a period (never so for Stripe's subscription invoices), the invoice is its own period.
  const prefix = subscriptionId && periodEnd ? stripeLedgerKeys.planPeriodPrefix(subscriptionId, periodEnd) : stripeLedgerKeys.planPeriodPrefix(`invoice-${inv.id}`, 0);
  const key = `${prefix}${target.plan.id}`;
  // What this period has granted so far, read inside the batch (one transaction), so two
  // invoices for one period can never both grant it.
  const topUp = sql`(SELECT max(0, ${target.credits} - coalesce(sum(${creditLedger.delta}), 0)) FROM ${creditLedger}
    WHERE ${creditLedger.userId} = ${userId} AND ${creditLedger.idempotencyKey} >= ${prefix} AND ${creditLedger.idempotencyKey} < ${periodKeyEnd(prefix)})`;
  const until = periodEnd ? ` until ${new Date(periodEnd * 1000).toISOString().slice(0, 10)}` : "";
  return {
    note: `invoice ${inv.id}: ${target.plan.name} for period ${prefix} for ${userId}`,
    effects: [
      db
        .insert(stripePayments)
        .values({
          id: inv.id,
          userId,
          kind: "plan",
          paymentIntentId: idOf(inv.payments?.data.find((p) => p.payment.type === "payment_intent")?.payment.payment_intent),
          credits: topUp,
          amount: inv.amount_paid,
          currency: inv.currency,
        })
        .onConflictDoNothing(),
      // Columns in table order: id (assigned), user_id, delta, kind, idempotency_key, task_id, note, created_at.
      db
        .insert(creditLedger)
        .select(
          sql`SELECT NULL, ${userId}, top_up, 'grant', ${key}, NULL, ${`${target.plan.name} plan credits${until} (invoice ${inv.number ?? inv.id})`}, ${Date.now()}
            FROM (SELECT ${topUp} AS top_up) WHERE top_up > 0`,
        )
        .onConflictDoNothing({ target: creditLedger.idempotencyKey }),
    ],
  };
}

/** The first key after every key that starts with `prefix` (prefixes end in ':'). */
function periodKeyEnd(prefix: string): string {
  return `${prefix.slice(0, -1)};`;
}

// --- subscriptions -----------------------------------------------------------

async function subscriptionEffects(deps: WebhookDeps, event: Stripe.Event, sub: Stripe.Subscription): Promise<Effects> {
  const { db, config, log } = deps;
  const customerId = idOf(sub.customer);
  const userId = await resolveUser(db, customerId, sub.metadata?.user_id ?? null);
  if (!userId || !customerId) return { ignored: `subscription ${sub.id} belongs to no Utter user` };
  // The plan comes from the price (the portal changes prices, not our metadata).
  let best: { plan: PlanId; item: Stripe.SubscriptionItem } | null = null;
  for (const item of sub.items.data) {
    const plan = planForStripePrice(config, item.price?.id);
    if (plan && (!best || planRank(plan.id) > planRank(best.plan))) best = { plan: plan.id, item };
  }
  if (!best) log.warn("stripe.subscription_unknown_price", { subscription_id: sub.id, prices: sub.items.data.map((i) => i.price?.id) });
  const item = best?.item ?? sub.items.data[0];
  return {
    note: `subscription ${sub.id} ${sub.status} ${best?.plan ?? "unknown price"}`,
    effects: [
      upsertSubscription(db, {
        id: sub.id,
        userId,
        customerId,
        status: sub.status,
        plan: best?.plan ?? "free",
        priceId: item?.price?.id ?? null,
        currentPeriodStart: item?.current_period_start ? new Date(item.current_period_start * 1000) : null,
        currentPeriodEnd: item?.current_period_end ? new Date(item.current_period_end * 1000) : null,
        cancelAtPeriodEnd: sub.cancel_at_period_end,
        stripeUpdatedAt: event.created,
        version: subscriptionVersion(sub.status, event.created, event.id),
        eventId: event.id,
      }),
      derivePlanStatement(db, userId),
    ],
  };
}

// --- refunds and disputes ----------------------------------------------------

interface RecordedPayment {
  id: string;
  userId: string;
  credits: number;
  amount: number;
  paymentIntentId: string | null;
}

/**
 * The credit-buying payment behind a PaymentIntent: a pack (recorded with its
 * PaymentIntent at checkout) or a plan invoice (invoice events do not carry
 * the PaymentIntent, so Stripe's invoice-payments API names the invoice).
 * Null when the money was not ours to track; EventNotReady when it is one of
 * our customers' but the purchase has not been applied yet.
 */
async function findPayment(deps: WebhookDeps, paymentIntentId: string | null, customerOf: () => Promise<string | null>): Promise<RecordedPayment | null> {
  const { db } = deps;
  const columns = { id: stripePayments.id, userId: stripePayments.userId, credits: stripePayments.credits, amount: stripePayments.amount, paymentIntentId: stripePayments.paymentIntentId };
  if (paymentIntentId) {
    const byIntent = await db.select(columns).from(stripePayments).where(eq(stripePayments.paymentIntentId, paymentIntentId)).get();
    if (byIntent) return byIntent;
    let invoiceId: string | null = null;
    try {
      const found = await deps.stripe().invoicePayments.list({ payment: { type: "payment_intent", payment_intent: paymentIntentId }, limit: 1 });
      invoiceId = idOf(found.data[0]?.invoice);
    } catch (err) {
      stripeFailure(err, deps.log, "invoicePayments.list");
    }
    if (invoiceId) {
      const byInvoice = await db.select(columns).from(stripePayments).where(eq(stripePayments.id, invoiceId)).get();
      if (byInvoice) return byInvoice;
    }
  }
  const customerId = await customerOf();
  if (customerId && (await resolveUser(db, customerId, null))) {
    throw new EventNotReady("The payment this event refers to has not been recorded yet; Stripe will deliver it again.");
  }
  return null;
}

/** Remembers the PaymentIntent of a plan invoice found through the API, so the next look-up is local. */
function rememberIntent(db: Db, payment: RecordedPayment, paymentIntentId: string | null): BatchItem<"sqlite">[] {
  if (!paymentIntentId || payment.paymentIntentId) return [];
  return [db.update(stripePayments).set({ paymentIntentId }).where(and(eq(stripePayments.id, payment.id), isNull(stripePayments.paymentIntentId)))];
}

async function refundEffects(deps: WebhookDeps, charge: Stripe.Charge): Promise<Effects> {
  const { db } = deps;
  const intent = idOf(charge.payment_intent);
  const payment = await findPayment(deps, intent, async () => idOf(charge.customer));
  if (!payment) return { ignored: `charge ${charge.id} did not buy credits` };
  // Webhook charges do not include their refunds unless Stripe expanded them; then ask.
  let refunds = charge.refunds && !charge.refunds.has_more ? charge.refunds.data : null;
  if (!refunds) {
    try {
      refunds = await deps.stripe().refunds.list({ charge: charge.id, limit: 100 }).autoPagingToArray({ limit: 1000 });
    } catch (err) {
      stripeFailure(err, deps.log, "refunds.list");
    }
  }
  const effects: BatchItem<"sqlite">[] = [...rememberIntent(db, payment, intent)];
  let total = 0;
  for (const r of refunds) {
    if (r.status !== "succeeded" && r.status !== "pending") continue;
    const credits = creditsForAmount(payment.credits, r.amount, payment.amount);
    if (credits <= 0) continue;
    total += credits;
    effects.push(
      ledgerEntry(db, { userId: payment.userId, delta: -credits, kind: "refund", key: stripeLedgerKeys.refund(r.id), note: `Refund ${r.id}: ${credits} credits taken back` }),
    );
  }
  return { effects, note: `refunds on ${charge.id} (up to −${total}) for ${payment.userId}` };
}

/**
 * Credits are taken back when a refund is created (even while `pending`); a
 * refund that then fails or is cancelled gives exactly that back, once.
 */
async function refundUpdatedEffects(deps: WebhookDeps, refund: Stripe.Refund): Promise<Effects> {
  const { db } = deps;
  if (refund.status !== "failed" && refund.status !== "canceled") return { effects: [], note: `refund ${refund.id} is ${refund.status}` };
  const taken = await db
    .select({ userId: creditLedger.userId, delta: creditLedger.delta })
    .from(creditLedger)
    .where(eq(creditLedger.idempotencyKey, stripeLedgerKeys.refund(refund.id)))
    .get();
  if (!taken) return { ignored: `refund ${refund.id} took no credits` };
  return {
    note: `refund ${refund.id} ${refund.status} (+${-taken.delta}) for ${taken.userId}`,
    effects: [
      ledgerEntry(db, {
        userId: taken.userId,
        delta: -taken.delta,
        kind: "adjustment",
        key: stripeLedgerKeys.refundReversed(refund.id),
        note: `Refund ${refund.id} ${refund.status}: credits given back`,
      }),
    ],
  };
}

async function chargeIntent(deps: WebhookDeps, chargeRef: string | Stripe.Charge): Promise<{ intent: string | null; customer: string | null }> {
  if (typeof chargeRef !== "string") return { intent: idOf(chargeRef.payment_intent), customer: idOf(chargeRef.customer) };
  try {
    const charge = await deps.stripe().charges.retrieve(chargeRef);
    return { intent: idOf(charge.payment_intent), customer: idOf(charge.customer) };
  } catch (err) {
    stripeFailure(err, deps.log, "charges.retrieve");
  }
}

async function disputedPayment(deps: WebhookDeps, dispute: Stripe.Dispute) {
  let intent = idOf(dispute.payment_intent);
  let charge: { intent: string | null; customer: string | null } | null = null;
  if (!intent) {
    charge = await chargeIntent(deps, dispute.charge);
    intent = charge.intent;
  }
  const payment = await findPayment(deps, intent, async () => (charge ??= await chargeIntent(deps, dispute.charge)).customer);
  return { payment, intent };
}

async function disputeEffects(deps: WebhookDeps, dispute: Stripe.Dispute): Promise<Effects> {
  const { db } = deps;
  const { payment, intent } = await disputedPayment(deps, dispute);
  if (!payment) return { ignored: `dispute ${dispute.id} is not about a credit purchase` };
  const credits = creditsForAmount(payment.credits, dispute.amount, payment.amount);
  return {
    note: `dispute ${dispute.id} (−${credits}) for ${payment.userId}`,
    effects: [
      ...rememberIntent(db, payment, intent),
      ledgerEntry(db, {
        userId: payment.userId,
        delta: -credits,
        kind: "dispute",
        key: stripeLedgerKeys.dispute(dispute.id),
        note: `Disputed payment ${dispute.id}: ${credits} credits held back`,
      }),
    ],
  };
}

/** A dispute closed in our favour gives back exactly what its opening took. */
async function disputeClosedEffects(deps: WebhookDeps, dispute: Stripe.Dispute): Promise<Effects> {
  const { db } = deps;
  // `warning_closed`: an inquiry that never became a chargeback — the money stayed with us.
  if (dispute.status !== "won" && dispute.status !== "warning_closed") return { effects: [], note: `dispute ${dispute.id} closed ${dispute.status}` };
  const opened = await db
    .select({ userId: creditLedger.userId, delta: creditLedger.delta })
    .from(creditLedger)
    .where(eq(creditLedger.idempotencyKey, stripeLedgerKeys.dispute(dispute.id)))
    .get();
  if (!opened) {
    const { payment } = await disputedPayment(deps, dispute);
    if (!payment) return { ignored: `dispute ${dispute.id} is not about a credit purchase` };
    throw new EventNotReady("The dispute this closes has not been recorded yet; Stripe will deliver it again.");
  }
  return {
    note: `dispute ${dispute.id} won (+${-opened.delta}) for ${opened.userId}`,
    effects: [
      ledgerEntry(db, {
        userId: opened.userId,
        delta: -opened.delta,
        kind: "adjustment",
        key: stripeLedgerKeys.disputeWon(dispute.id),
        note: `Dispute ${dispute.id} won: credits restored`,
      }),
    ],
  };
}

// --- helpers -----------------------------------------------------------------

/**
 * The Utter user behind a Stripe customer. The customer id is the one we
 * created and stored; metadata (ours, but copied around by Stripe) is used
 * only for a user who has no other customer.
 */
async function resolveUser(db: Db, customerId: string | null, fallbackUserId: string | null): Promise<string | null> {
  if (customerId) {
    const byCustomer = await db.select({ id: userTable.id }).from(userTable).where(eq(userTable.stripeCustomerId, customerId)).get();
    if (byCustomer) return byCustomer.id;
  }
  if (!fallbackUserId) return null;
  const row = await db.select({ id: userTable.id, customerId: userTable.stripeCustomerId }).from(userTable).where(eq(userTable.id, fallbackUserId)).get();
  return row && (row.customerId === null || row.customerId === customerId) ? row.id : null;
}

function idOf(ref: string | { id: string } | null | undefined): string | null {
  if (!ref) return null;
  return typeof ref === "string" ? ref : ref.id;
}

function isDuplicateEventError(err: unknown): boolean {
  const seen = new Set<unknown>();
  let e: unknown = err;
  while (e && !seen.has(e)) {
    seen.add(e);
    if (e instanceof Error && /UNIQUE constraint failed: stripe_events\.id/.test(e.message)) return true;
    e = e instanceof Error ? e.cause : undefined;
  }
  return false;
}

