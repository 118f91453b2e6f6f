import { Hono } from "hono";
import type { ApiEnv } from "../app";
import { AppError } from "../../lib/errors";
import { handleStripeWebhook } from "../../services/billing";

/**
 * Stripe's webhook. The signature covers the exact bytes, so the body is
 * read as text and never re-serialised before it is checked. Answers 2xx for
 * every verified event — applied, already applied, or not one we use — and
 * non-2xx only when Stripe should send it again (bad signature aside).
 */
export const stripeWebhookRoutes = new Hono<ApiEnv>().post("/webhooks/stripe", async (c) => {
  const ctx = c.get("ctx");
  const raw = await c.req.text();
  try {
    const outcome = await handleStripeWebhook(ctx, raw, c.req.header("stripe-signature") ?? null);
    return c.json({ received: true, ...outcome });
  } catch (err) {
    if (err instanceof AppError && err.status < 500) ctx.log.warn("stripe.webhook_refused", { code: err.code, message: err.message });
    throw err;
  }
});
