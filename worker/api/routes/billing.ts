import { Hono } from "hono";
import type { ApiEnv } from "../app";
import { documented } from "../route-doc";
import { Catalog, RedirectUrl } from "../response-schemas";

const IDEMPOTENCY = { "Idempotency-Key": { description: "Retrying with the same key gives the same Stripe session (8–255 characters)." } };
import { requireUser } from "../../auth/session";
import { parseOrThrow } from "../../lib/errors";
import { billingCatalog, CheckoutChoice, ClientIdempotencyKey, openBillingPortal, startCheckout } from "../../services/billing";
import { jsonBody } from "../validate";

/** An optional `Idempotency-Key` header lets a client retry a click and get the same Stripe session. */
function requestKey(header: string | undefined): string | undefined {
  return parseOrThrow(ClientIdempotencyKey, header ?? undefined, "Idempotency-Key header");
}

export const billingRoutes = new Hono<ApiEnv>()
  .get(
    "/billing/plans",
    documented({
      operationId: "listBillingPlans",
      summary: "Plans, credit packs and whether billing is available",
      tag: "Billing",
      access: "public",
      responses: [{ status: 200, description: "The catalogue.", json: Catalog }],
      errors: [],
    }),
    (c) => c.json(billingCatalog(c.get("ctx"))),
  )
  .post(
    "/billing/checkout",
    documented({
      operationId: "startCheckout",
      summary: "Start Stripe Checkout for a plan or a credit pack",
      tag: "Billing",
      access: "session",
      body: CheckoutChoice,
      example: { plan: "pro" },
      headers: IDEMPOTENCY,
      responses: [{ status: 200, description: "Where to send the browser.", json: RedirectUrl }],
      errors: [400, 409, 502, 503],
    }),
    async (c) => {
      const ctx = c.get("ctx");
      const user = await requireUser(ctx, c.req.raw.headers, "session");
      const choice = await jsonBody(c, CheckoutChoice);
      return c.json(await startCheckout(ctx, user, choice, { requestKey: requestKey(c.req.header("idempotency-key")) }));
    },
  )
  .post(
    "/billing/portal",
    documented({
      operationId: "openBillingPortal",
      summary: "Open the Stripe customer portal",
      tag: "Billing",
      access: "session",
      headers: IDEMPOTENCY,
      responses: [{ status: 200, description: "Where to send the browser.", json: RedirectUrl }],
      errors: [400, 409, 502, 503],
    }),
    async (c) => {
      const ctx = c.get("ctx");
      const user = await requireUser(ctx, c.req.raw.headers, "session");
      return c.json(await openBillingPortal(ctx, user, { requestKey: requestKey(c.req.header("idempotency-key")) }));
    },
  );
