import Stripe from "stripe";
import type { AppConfig } from "../lib/config";
import { AppError } from "../lib/errors";
import type { Logger } from "../lib/log";

export type StripeClient = Stripe;

/**
 * Why billing is off, in a sentence a person can act on; null when Stripe is
 * configured. Local development runs without Stripe keys and everything that
 * is not billing keeps working.
 */
export function billingUnavailableReason(config: Pick<AppConfig, "STRIPE_SECRET_KEY">): string | null {
  return config.STRIPE_SECRET_KEY ? null : "Billing is not set up on this server (no Stripe keys), so plans and credit packs cannot be bought here. Everything else works.";
}

export function billingUnavailable(message: string): AppError {
  return new AppError("billing_unavailable", 503, message);
}

/**
 * One client per request: Workers have no Node HTTP stack, so the SDK talks
 * through `fetch` (captured when the client is built — tests stub
 * `globalThis.fetch` before the request). The API version is pinned to the one
 * the SDK's types describe; the webhook endpoint in Stripe must use the same
 * one (docs/billing.md).
 */
export function createStripeClient(config: Pick<AppConfig, "STRIPE_SECRET_KEY">): StripeClient {
  const reason = billingUnavailableReason(config);
  if (reason || !config.STRIPE_SECRET_KEY) throw billingUnavailable(reason ?? "Billing is not set up.");
  return new Stripe(config.STRIPE_SECRET_KEY, {
    apiVersion: Stripe.API_VERSION,
    httpClient: Stripe.createFetchHttpClient(),
    // Retries reuse the request's idempotency key, so a retried create is never a second create.
    maxNetworkRetries: 2,
    timeout: 10_000,
    telemetry: false,
    appInfo: { name: "utter" },
  });
}

/** The Stripe API version this code reads objects in (set the webhook endpoint to it). */
export const STRIPE_API_VERSION = Stripe.API_VERSION;

/** Stripe's own errors become one stable 502; anything else is rethrown untouched. */
export function stripeFailure(err: unknown, log: Logger, action: string): never {
  if (err instanceof AppError) throw err;
  if (err instanceof Stripe.errors.StripeError) {
    log.error("billing.stripe_failed", { action, type: err.type, code: err.code, status: err.statusCode, request_id: err.requestId, message: err.message });
    throw new AppError("billing_provider_error", 502, "Our payment provider did not answer as expected. Nothing was charged; please try again in a minute.");
  }
  throw err;
}

export const webhooks = Stripe.webhooks;
export const createSubtleCryptoProvider = () => Stripe.createSubtleCryptoProvider();
