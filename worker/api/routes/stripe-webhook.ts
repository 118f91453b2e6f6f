import { Hono } from "hono";
import type { ApiEnv } from "../app";
import { documented } from "../route-doc";
import { WebhookReceipt } from "../response-schemas";
import { AppError } from "../../lib/errors";
import { handleStripeWebhook } from "../../services/billing";

/**
 * Stripe's webhook. The signature covers the exact bytes, so the body is
 * read as text and never re-serialised before it is checked. Answers 2xx for
 * every verified event — applied, already applied, or not one we use — and
 * non-2xx only when Stripe should send it again (bad signature aside).
 */
export const stripeWebhookRoutes = new Hono<ApiEnv>().post(
  "/webhooks/stripe",
  documented({
    operationId: "receiveStripeWebhook",
    summary: "Stripe's webhook",
    description:
      "Each event is applied once, by its id. 2xx for every verified event, applied or not; non-2xx only when Stripe should send it again.",
    tag: "Billing",
    access: "stripe-signature",
    headers: { "Stripe-Signature": { description: "Stripe's signature over the exact body.", required: true } },
    rawBody: { type: "application/json", description: "The event, exactly as Stripe sent it." },
    responses: [{ status: 200, description: "Received.", json: WebhookReceipt }],
    errors: [400, 503],
  }),
  async (c) => {
    const ctx = c.get("ctx");
    const raw = await c.req.text();
    try {
      const outcome = await handleStripeWebhook(ctx, raw, c.req.header("stripe-signature") ?? null);
      return c.json({ received: true, ...outcome });
    } catch (err) {
      if (err instanceof AppError && err.status < 500) ctx.log.warn("stripe.webhook_refused", { code: err.code, message: err.message });
      throw err;
    }
  },
);
