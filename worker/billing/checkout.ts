import { and, eq, isNull } from "drizzle-orm";
import * as z from "zod";
import type { RequestContext } from "../context";
import { user as userTable } from "../db/schema";
import { AppError, errors } from "../lib/errors";
import { PACK_IDS, PACKS, PAID_PLAN_IDS, PLANS, planOf, stripePriceFor, type PackId, type PaidPlanId } from "../services/pricing";
import { activeSubscriptionPlan } from "./subscriptions";
import { billingUnavailable, createStripeClient, stripeFailure, type StripeClient } from "./stripe-client";

/** What a checkout buys: exactly one of a plan or a pack. */
export const CheckoutChoice = z.union([z.strictObject({ plan: z.enum(PAID_PLAN_IDS) }), z.strictObject({ pack: z.enum(PACK_IDS) })], {
  error: 'Send either {"plan": "pro" | "studio"} or {"pack": "small" | "large"}.',
});
export type CheckoutChoice = z.infer<typeof CheckoutChoice>;

/** A client-chosen key makes a retried click return the same session; otherwise each request gets its own. */
export const ClientIdempotencyKey = z
  .string()
  .regex(/^[A-Za-z0-9_:.-]{8,200}$/, "must be 8–200 letters, digits or _ : . -")
  .optional();

export interface BillingUser {
  id: string;
  email: string;
  name: string;
}

type BillingCtx = Pick<RequestContext, "db" | "config" | "log">;

/** The key Stripe deduplicates customer creation on: one customer per user, however many checkouts race. */
export const customerIdempotencyKey = (userId: string) => `utter-customer-${userId}`;

/**
 * The user's Stripe customer, created once. Concurrent first checkouts send
 * the same idempotency key, so Stripe answers them all with one customer; the
 * guarded update (`WHERE stripe_customer_id IS NULL`) keeps whichever id was
 * stored first, and everybody uses the stored one.
 */
export async function ensureStripeCustomer(ctx: BillingCtx, stripe: StripeClient, user: BillingUser): Promise<string> {
  const row = await ctx.db
    .select({ customerId: userTable.stripeCustomerId, email: userTable.email })
    .from(userTable)
    .where(eq(userTable.id, user.id))
    .get();
  if (!row) throw errors.unauthorized();
  if (row.customerId) return row.customerId;
  let created: string;
  try {
    // Only stable fields: Stripe refuses a reused idempotency key with different parameters.
    const customer = await stripe.customers.create({ email: row.email, metadata: { user_id: user.id } }, { idempotencyKey: customerIdempotencyKey(user.id) });
    created = customer.id;
  } catch (err) {
    stripeFailure(err, ctx.log, "customers.create");
  }
  await ctx.db
    .update(userTable)
    .set({ stripeCustomerId: created, updatedAt: new Date() })
    .where(and(eq(userTable.id, user.id), isNull(userTable.stripeCustomerId)))
    .run();
  const stored = await ctx.db.select({ customerId: userTable.stripeCustomerId }).from(userTable).where(eq(userTable.id, user.id)).get();
  if (stored?.customerId && stored.customerId !== created) {
    ctx.log.warn("billing.customer_race", { user_id: user.id, kept: stored.customerId, discarded: created });
  }
  return stored?.customerId ?? created;
}

/**
 * Starts Stripe Checkout for a plan (mode `subscription`) or a pack (mode
 * `payment`). The session names the user three ways — customer,
 * `client_reference_id` and metadata — and the webhook trusts the customer.
 */
export async function createCheckoutSession(
  ctx: BillingCtx,
  user: BillingUser,
  choice: CheckoutChoice,
  opts: { requestKey?: string } = {},
): Promise<{ url: string }> {
  const stripe = createStripeClient(ctx.config);
  const priceId = stripePriceFor(ctx.config, choice);
  const product = "plan" in choice ? `the ${PLANS[choice.plan].name} plan` : `the ${PACKS[choice.pack].name} pack`;
  if (!priceId) throw billingUnavailable(`${capitalise(product)} is not on sale on this server yet (its Stripe price is not configured).`);

  if ("plan" in choice) {
    const current = await activeSubscriptionPlan(ctx.db, user.id);
    if (current) {
      const name = planOf(current).name;
      throw errors.conflict(
        "already_subscribed",
        current === choice.plan
          ? `You are already on the ${name} plan.`
          : `You are on the ${name} plan. Switch plans from “Manage billing” on your account page, so you are not billed twice.`,
        { plan: current },
      );
    }
  }

  const customer = await ensureStripeCustomer(ctx, stripe, user);
  const appUrl = ctx.config.APP_URL.replace(/\/$/, "");
  const metadata: Record<string, string> = "plan" in choice ? { user_id: user.id, plan: choice.plan } : { user_id: user.id, pack: choice.pack };
  const requestKey = opts.requestKey ?? crypto.randomUUID();
  try {
    const session = await stripe.checkout.sessions.create(
      {
        mode: "plan" in choice ? "subscription" : "payment",
        customer,
        client_reference_id: user.id,
        line_items: [{ price: priceId, quantity: 1 }],
        metadata,
        ...("plan" in choice ? { subscription_data: { metadata } } : { payment_intent_data: { metadata } }),
        success_url: `${appUrl}/account?checkout=success`,
        cancel_url: `${appUrl}/pricing?checkout=cancelled`,
      },
      { idempotencyKey: `utter-checkout-${user.id}-${"plan" in choice ? `plan-${choice.plan}` : `pack-${choice.pack}`}-${requestKey}` },
    );
    if (!session.url) throw new AppError("billing_provider_error", 502, "Stripe did not return a checkout page. Please try again.");
    ctx.log.info("billing.checkout_created", { user_id: user.id, session_id: session.id, ...choice });
    return { url: session.url };
  } catch (err) {
    stripeFailure(err, ctx.log, "checkout.sessions.create");
  }
}

/** Stripe's customer portal: change plan, cancel, update the card, download invoices. */
export async function createPortalSession(ctx: BillingCtx, user: BillingUser, opts: { requestKey?: string } = {}): Promise<{ url: string }> {
  const stripe = createStripeClient(ctx.config);
  const row = await ctx.db.select({ customerId: userTable.stripeCustomerId }).from(userTable).where(eq(userTable.id, user.id)).get();
  if (!row?.customerId) {
    throw errors.conflict("no_billing_account", "You have no billing account yet. Subscribe to a plan or buy a credit pack first; then you can manage billing here.");
  }
  try {
    const session = await stripe.billingPortal.sessions.create(
      { customer: row.customerId, return_url: `${ctx.config.APP_URL.replace(/\/$/, "")}/account` },
      { idempotencyKey: `utter-portal-${user.id}-${opts.requestKey ?? crypto.randomUUID()}` },
    );
    return { url: session.url };
  } catch (err) {
    stripeFailure(err, ctx.log, "billingPortal.sessions.create");
  }
}

export type { PaidPlanId, PackId };

function capitalise(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}
