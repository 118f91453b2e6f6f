import { Hono } from "hono";
import type { ApiEnv } from "../app";
import { requireUser } from "../../auth/session";
import { parseOrThrow } from "../../lib/errors";
import { billingCatalog, CheckoutChoice, ClientIdempotencyKey, openBillingPortal, startCheckout } from "../../services/billing";
import { jsonBody } from "../validate";

/** An optional `Idempotency-Key` header lets a client retry a click and get the same Stripe session. */
function requestKey(header: string | undefined): string | undefined {
  return parseOrThrow(ClientIdempotencyKey, header ?? undefined, "Idempotency-Key header");
}

export const billingRoutes = new Hono<ApiEnv>()
  .get("/billing/plans", (c) => c.json(billingCatalog(c.get("ctx"))))
  .post("/billing/checkout", async (c) => {
    const ctx = c.get("ctx");
    const user = await requireUser(ctx, c.req.raw.headers, "session");
    const choice = await jsonBody(c, CheckoutChoice);
    return c.json(await startCheckout(ctx, user, choice, { requestKey: requestKey(c.req.header("idempotency-key")) }));
  })
  .post("/billing/portal", async (c) => {
    const ctx = c.get("ctx");
    const user = await requireUser(ctx, c.req.raw.headers, "session");
    return c.json(await openBillingPortal(ctx, user, { requestKey: requestKey(c.req.header("idempotency-key")) }));
  });
