/**
 * Billing for routes and pages: catalog, checkout, portal, the Stripe
 * webhook, plan limits. Stripe specifics live in worker/billing/; this file
 * is what the Hono API and the Remix loaders/actions call.
 */
import { eq } from "drizzle-orm";
import type { RequestContext } from "../context";
import { user as userTable } from "../db/schema";
import { createCheckoutSession, createPortalSession, type BillingUser, type CheckoutChoice } from "../billing/checkout";
import { assertCanCreateVoice } from "../billing/limits";
import { billingUnavailableReason, createStripeClient } from "../billing/stripe-client";
import { activeSubscriptionPlan, currentSubscription, hasActiveSubscription, ACTIVE_SUBSCRIPTION_STATUSES } from "../billing/subscriptions";
import { applyStripeEvent, verifyStripeEvent, type WebhookResult } from "../billing/webhook";
import { catalog, planOf } from "./pricing";

export { assertCanCreateVoice, activeSubscriptionPlan, hasActiveSubscription, ACTIVE_SUBSCRIPTION_STATUSES };
export { CheckoutChoice, ClientIdempotencyKey } from "../billing/checkout";
export type { BillingUser };

type Ctx = Pick<RequestContext, "db" | "config" | "log">;

/** Plans and packs as the pricing page and `GET /api/billing/plans` show them. */
export function billingCatalog(ctx: Pick<RequestContext, "config">) {
  const c = catalog(ctx.config);
  const unavailable = billingUnavailableReason(ctx.config);
  return {
    available: unavailable === null,
    unavailable_reason: unavailable,
    plans: c.plans.map((p) => ({
      id: p.id,
      name: p.name,
      price_usd_monthly: p.priceUsdMonthly,
      monthly_credits: p.monthlyCredits,
      voice_limit: p.voiceLimit,
      concurrent_jobs: p.concurrentJobs,
      text_chars: p.textChars,
      purchasable: unavailable === null && p.stripePriceId !== null,
    })),
    packs: c.packs.map((p) => ({
      id: p.id,
      name: p.name,
      credits: p.credits,
      price_usd: p.priceUsd,
      purchasable: unavailable === null && p.stripePriceId !== null,
    })),
  };
}
export type BillingCatalog = ReturnType<typeof billingCatalog>;

/** The signed-in user's billing state for the account page. */
export async function billingOverview(ctx: Ctx, userId: string) {
  const row = await ctx.db.select({ plan: userTable.plan, customerId: userTable.stripeCustomerId }).from(userTable).where(eq(userTable.id, userId)).get();
  return {
    plan: planOf(row?.plan).id,
    has_billing_account: Boolean(row?.customerId),
    subscription: await currentSubscription(ctx.db, userId),
  };
}

export async function startCheckout(ctx: Ctx, user: BillingUser, choice: CheckoutChoice, opts: { requestKey?: string } = {}) {
  return createCheckoutSession(ctx, user, choice, opts);
}

export async function openBillingPortal(ctx: Ctx, user: BillingUser, opts: { requestKey?: string } = {}) {
  return createPortalSession(ctx, user, opts);
}

/** Verifies and applies one webhook delivery (raw body exactly as received). */
export async function handleStripeWebhook(ctx: Ctx, rawBody: string, signature: string | null): Promise<WebhookResult & { event_id: string; type: string }> {
  const event = await verifyStripeEvent(ctx.config, rawBody, signature);
  let stripe: ReturnType<typeof createStripeClient> | undefined;
  const result = await applyStripeEvent({ db: ctx.db, config: ctx.config, log: ctx.log, stripe: () => (stripe ??= createStripeClient(ctx.config)) }, event);
  return { ...result, event_id: event.id, type: event.type };
}
