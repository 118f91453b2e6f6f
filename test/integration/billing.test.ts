import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it } from "vitest";
import worker from "../../worker/index";
import { createRequestContext } from "../../worker/context";
import { ApiErrorBody, AppError } from "../../worker/lib/errors";
import { assertCanCreateVoice } from "../../worker/services/billing";
import { PACKS, PLANS } from "../../worker/services/pricing";
import { expectedErrors } from "../support/expected-errors";
import { createVoice, setPlan } from "../support/factories";
import { call, ORIGIN, type TestUser } from "../support/http";
import { ledgerCheckedUsers } from "../support/ledger-users";
import { customerCreation, deliver, fixtures, linkCustomer, packPurchase, PRICES, sid, stubStripeApi, subscriptionEvent, type StripeStub } from "../support/stripe";

const newUser = ledgerCheckedUsers();
let stub: StripeStub | null = null;
afterEach(async () => {
  if (stub) expect(stub.unexpected, "unexpected calls to Stripe").toEqual([]);
  stub = null;
});


async function storedCustomer(userId: string) {
  return (await env.DB.prepare(`SELECT stripe_customer_id AS id FROM user WHERE id = ?1`).bind(userId).first<{ id: string | null }>())?.id ?? null;
}

/** Stripe's API for checkout: customers (idempotent by key) and Checkout sessions echoing what they were asked. */
function checkoutApi() {
  return stubStripeApi({
    "POST /v1/customers": customerCreation(),
    "POST /v1/checkout/sessions": (req) => ({
      ...fixtures.api.checkoutSession,
      id: sid("cs_test"),
      customer: req.form.get("customer"),
      mode: req.form.get("mode"),
      client_reference_id: req.form.get("client_reference_id"),
      url: `https://checkout.stripe.com/c/pay/${sid("cs_test")}`,
    }),
    "POST /v1/billing_portal/sessions": (req) => ({ ...fixtures.api.portalSession, customer: req.form.get("customer"), url: `https://billing.stripe.com/p/session/${sid("test")}` }),
  });
}

function checkout(user: TestUser, json: unknown, headers: Record<string, string> = {}) {
  return call("/api/billing/checkout", { method: "POST", cookie: user.cookie, json, headers });
}

/** The Worker with Stripe's variables removed, as in local development without keys. */
async function withoutStripe(path: string, init: RequestInit & { cookie?: string } = {}) {
  const bare: Record<string, unknown> = { ...env };
  for (const k of Object.keys(bare)) if (k.startsWith("STRIPE_")) delete bare[k];
  const headers = new Headers(init.headers);
  if (init.cookie) headers.set("cookie", init.cookie);
  headers.set("origin", ORIGIN);
  headers.set("host", new URL(ORIGIN).host);
  const exec = createExecutionContext();
  const request = new Request(new URL(path, ORIGIN), { ...init, headers, redirect: "manual" }) as unknown as Request<unknown, IncomingRequestCfProperties>;
  const res = await worker.fetch(request, bare as unknown as Env, exec);
  await waitOnExecutionContext(exec);
  return res;
}

describe("POST /api/billing/checkout", () => {
  it("creates a subscription Checkout for a plan with the user's customer, the price, client_reference_id and an idempotency key", async () => {
    stub = checkoutApi();
    const user = await newUser("checkout-plan");
    const res = await checkout(user, { plan: "pro" });
    expect(res.status).toBe(200);
    const { url } = (await res.json()) as { url: string };
    expect(url).toMatch(/^https:\/\/checkout\.stripe\.com\//);

    const [create] = stub.to("POST /v1/customers");
    expect(create?.headers.get("idempotency-key")).toBe(`utter-customer-${user.id}`);
    expect(create?.form.get("email")).toBe(user.email);
    expect(create?.form.get("metadata[user_id]")).toBe(user.id);
    const customer = await storedCustomer(user.id);
    expect(customer).toMatch(/^cus_/);

    const [session] = stub.to("POST /v1/checkout/sessions");
    const f = session!.form;
    expect(f.get("mode")).toBe("subscription");
    expect(f.get("customer")).toBe(customer);
    expect(f.get("client_reference_id")).toBe(user.id);
    expect(f.get("line_items[0][price]")).toBe(PRICES.pro);
    expect(f.get("line_items[0][quantity]")).toBe("1");
    expect(f.get("metadata[user_id]")).toBe(user.id);
    expect(f.get("metadata[plan]")).toBe("pro");
    expect(f.get("subscription_data[metadata][user_id]")).toBe(user.id);
    expect(f.get("success_url")).toBe(`${ORIGIN}/account?checkout=success`);
    expect(f.get("cancel_url")).toBe(`${ORIGIN}/pricing?checkout=cancelled`);
    expect(session!.headers.get("idempotency-key")).toMatch(new RegExp(`^utter-checkout-${user.id}-plan-pro-`));
    expect(session!.headers.get("authorization")).toBe("Bearer sk_test_51UtterFake0123456789abcdefABCDEF");
  });

  it("creates a payment Checkout for a pack and reuses the stored customer", async () => {
    stub = checkoutApi();
    const user = await newUser("checkout-pack");
    const customer = await linkCustomer(user.id);
    const res = await checkout(user, { pack: "large" });
    expect(res.status).toBe(200);
    expect(stub.to("POST /v1/customers")).toHaveLength(0);
    const f = stub.to("POST /v1/checkout/sessions")[0]!.form;
    expect(f.get("mode")).toBe("payment");
    expect(f.get("customer")).toBe(customer);
    expect(f.get("line_items[0][price]")).toBe(PRICES.large);
    expect(f.get("metadata[pack]")).toBe("large");
    expect(f.get("payment_intent_data[metadata][pack]")).toBe("large");
    expect(f.get("payment_intent_data[metadata][user_id]")).toBe(user.id);
    expect(f.has("subscription_data[metadata][user_id]")).toBe(false);
  });

  it("concurrent first checkouts create one customer and all use it", async () => {
    stub = checkoutApi();
    const user = await newUser("checkout-race");
    const results = await Promise.all(Array.from({ length: 6 }, (_, i) => checkout(user, i % 2 ? { pack: "small" } : { plan: "pro" })));
    expect(results.map((r) => r.status)).toEqual(Array(6).fill(200));
    const creates = stub.to("POST /v1/customers");
    expect(new Set(creates.map((c) => c.headers.get("idempotency-key")))).toEqual(new Set([`utter-customer-${user.id}`]));
    const stored = await storedCustomer(user.id);
    const sessions = stub.to("POST /v1/checkout/sessions");
    expect(sessions).toHaveLength(6);
    expect(new Set(sessions.map((s) => s.form.get("customer")))).toEqual(new Set([stored]));
    // Each request has its own key: six sessions, not one.
    expect(new Set(sessions.map((s) => s.headers.get("idempotency-key"))).size).toBe(6);
  });

  it("a client Idempotency-Key makes a retried click reuse the same Stripe key", async () => {
    stub = checkoutApi();
    const user = await newUser("checkout-retry");
    await checkout(user, { plan: "studio" }, { "idempotency-key": "click-0001-abcdef" });
    await checkout(user, { plan: "studio" }, { "idempotency-key": "click-0001-abcdef" });
    const keys = stub.to("POST /v1/checkout/sessions").map((s) => s.headers.get("idempotency-key"));
    expect(keys).toEqual([`utter-checkout-${user.id}-plan-studio-click-0001-abcdef`, `utter-checkout-${user.id}-plan-studio-click-0001-abcdef`]);
    expect(stub.to("POST /v1/checkout/sessions")[0]!.form.get("line_items[0][price]")).toBe(PRICES.studio);
    const bad = await checkout(user, { plan: "studio" }, { "idempotency-key": "x" });
    expect(bad.status).toBe(400);
  });

  it("validates the body: exactly one of plan or pack, known values, JSON", async () => {
    stub = checkoutApi();
    const user = await newUser("checkout-invalid");
    for (const body of [{}, { plan: "pro", pack: "small" }, { plan: "free" }, { plan: "enterprise" }, { pack: "huge" }, { plan: "pro", extra: 1 }, []]) {
      const res = await checkout(user, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(ApiErrorBody.parse(await res.json()).error.code).toBe("invalid_request");
    }
    const notJson = await call("/api/billing/checkout", { method: "POST", cookie: user.cookie, headers: { "content-type": "application/json" }, body: "{plan" });
    expect(notJson.status).toBe(400);
    expect(stub.requests).toEqual([]);
  });

  it("requires a signed-in user and refuses cross-site posts", async () => {
    stub = checkoutApi();
    const user = await newUser("checkout-auth");
    expect((await call("/api/billing/checkout", { method: "POST", json: { plan: "pro" } })).status).toBe(401);
    expect((await call("/api/billing/portal", { method: "POST" })).status).toBe(401);
    const cross = await call("/api/billing/checkout", { method: "POST", cookie: user.cookie, json: { plan: "pro" }, origin: "https://evil.example" });
    expect(cross.status).toBe(403);
    expect(stub.requests).toEqual([]);
  });

  it("refuses a second subscription with a pointer to Manage billing, but still sells packs", async () => {
    stub = checkoutApi();
    const user = await newUser("checkout-subscribed");
    const customer = await linkCustomer(user.id);
    const sub = subscriptionEvent(fixtures.subscriptionUpdated, { id: user.id, customer }, { sub: sid("sub"), created: 1_794_400_000, status: "active" });
    expect((await deliver(sub)).status).toBe(200);
    const res = await checkout(user, { plan: "studio" });
    expect(res.status).toBe(409);
    const body = ApiErrorBody.parse(await res.json());
    expect(body.error.code).toBe("already_subscribed");
    expect(body.error.message).toContain("Manage billing");
    expect((await checkout(user, { plan: "pro" })).status).toBe(409);
    expect((await checkout(user, { pack: "small" })).status).toBe(200);
  });

  it("answers 502 with a clear message when Stripe fails, and stores no customer", async () => {
    expectedErrors.allow = true;
    stub = stubStripeApi({
      "POST /v1/customers": () => Response.json({ error: { type: "api_error", message: "Something went wrong on Stripe's end." } }, { status: 500 }),
    });
    const user = await newUser("checkout-stripe-down");
    const res = await checkout(user, { pack: "small" });
    expect(res.status).toBe(502);
    const body = ApiErrorBody.parse(await res.json());
    expect(body.error.code).toBe("billing_provider_error");
    expect(body.error.message).toContain("Nothing was charged");
    expect(await storedCustomer(user.id)).toBeNull();
  });
});

describe("POST /api/billing/portal", () => {
  it("opens the customer portal for the user's own customer", async () => {
    stub = checkoutApi();
    const a = await newUser("portal-a");
    const b = await newUser("portal-b");
    const customerA = await linkCustomer(a.id);
    const customerB = await linkCustomer(b.id);
    const res = await call("/api/billing/portal", { method: "POST", cookie: b.cookie });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { url: string }).url).toMatch(/^https:\/\/billing\.stripe\.com\//);
    const [req] = stub.to("POST /v1/billing_portal/sessions");
    expect(req!.form.get("customer")).toBe(customerB);
    expect(req!.form.get("customer")).not.toBe(customerA);
    expect(req!.form.get("return_url")).toBe(`${ORIGIN}/account`);
    expect(req!.headers.get("idempotency-key")).toMatch(new RegExp(`^utter-portal-${b.id}-`));
  });

  it("answers 409 with a clear message before the user has a billing account", async () => {
    stub = checkoutApi();
    const user = await newUser("portal-none");
    const res = await call("/api/billing/portal", { method: "POST", cookie: user.cookie });
    expect(res.status).toBe(409);
    const body = ApiErrorBody.parse(await res.json());
    expect(body.error.code).toBe("no_billing_account");
    expect(body.error.message).toMatch(/no billing account yet/i);
    expect(stub.requests).toEqual([]);
  });
});

describe("GET /api/billing/plans", () => {
  it("lists plans and packs from the pricing module", async () => {
    const res = await call("/api/billing/plans");
    expect(res.status).toBe(200);
    const body = (await res.json()) as { available: boolean; plans: { id: string; monthly_credits: number; voice_limit: number | null; purchasable: boolean }[]; packs: { id: string; credits: number }[] };
    expect(body.available).toBe(true);
    expect(body.plans.map((p) => [p.id, p.monthly_credits, p.voice_limit, p.purchasable])).toEqual([
      ["free", PLANS.free.monthlyCredits, 3, false],
      ["pro", PLANS.pro.monthlyCredits, 30, true],
      ["studio", PLANS.studio.monthlyCredits, null, true],
    ]);
    expect(body.packs.map((p) => [p.id, p.credits])).toEqual([
      ["small", PACKS.small.credits],
      ["large", PACKS.large.credits],
    ]);
  });
});

describe("billing without Stripe keys (local development)", () => {
  it("answers 503 billing_unavailable for checkout, portal and webhooks while everything else works", async () => {
    // The API's error handler logs every 5xx; these 503s are the expected answer here.
    expectedErrors.allow = true;
    const user = await newUser("no-keys");
    stub = stubStripeApi({});
    const co = await withoutStripe("/api/billing/checkout", { method: "POST", cookie: user.cookie, body: JSON.stringify({ plan: "pro" }), headers: { "content-type": "application/json" } });
    expect(co.status).toBe(503);
    const coBody = ApiErrorBody.parse(await co.json());
    expect(coBody.error.code).toBe("billing_unavailable");
    expect(coBody.error.message).toMatch(/Billing is not set up on this server/);
    const portal = await withoutStripe("/api/billing/portal", { method: "POST", cookie: user.cookie });
    expect(portal.status).toBe(503);
    const hook = await withoutStripe("/api/webhooks/stripe", { method: "POST", body: "{}", headers: { "stripe-signature": "t=1,v1=00" } });
    expect(hook.status).toBe(503);
    expect(ApiErrorBody.parse(await hook.json()).error.code).toBe("billing_unavailable");

    const plans = (await (await withoutStripe("/api/billing/plans")).json()) as { available: boolean; unavailable_reason: string; plans: { purchasable: boolean }[] };
    expect(plans.available).toBe(false);
    expect(plans.unavailable_reason).toMatch(/no Stripe keys/);
    expect(plans.plans.every((p) => !p.purchasable)).toBe(true);
    expect((await withoutStripe("/api/me", { cookie: user.cookie })).status).toBe(200);
    expect((await withoutStripe("/api/credits/ledger", { cookie: user.cookie })).status).toBe(200);
    const page = await withoutStripe("/pricing", { cookie: user.cookie });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain("Billing is not set up on this server");
  });
});

describe("plan limits", () => {
  it("a Free user at 3 voices gets a clear 403 from assertCanCreateVoice; Pro and Studio hold more", async () => {
    const user = await newUser("voice-limit");
    const ctx = createRequestContext(env, createExecutionContext(), "test");
    for (let i = 0; i < 2; i++) await createVoice(user.id, { name: `v${i}` });
    await expect(assertCanCreateVoice(ctx, { id: user.id, plan: "free" })).resolves.toBeUndefined();
    await createVoice(user.id, { name: "v2" });
    const err = await assertCanCreateVoice(ctx, { id: user.id, plan: "free" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).status).toBe(403);
    expect((err as AppError).code).toBe("voice_limit_reached");
    expect((err as AppError).message).toBe("Your Free plan holds 3 voices. Delete one or upgrade to Pro for 30.");
    expect((err as AppError).details).toEqual({ plan: "free", limit: 3, count: 3 });

    // The plan is read from the database: a webhook's upgrade applies at once, whatever the session said.
    await setPlan(user.id, "pro");
    await expect(assertCanCreateVoice(ctx, { id: user.id, plan: "free" })).resolves.toBeUndefined();
    await setPlan(user.id, "studio");
    await expect(assertCanCreateVoice(ctx, { id: user.id, plan: "studio" })).resolves.toBeUndefined();
  });

  it("a Pro user at 30 voices is pointed at Studio", async () => {
    const user = await newUser("voice-limit-pro");
    await setPlan(user.id, "pro");
    const ctx = createRequestContext(env, createExecutionContext(), "test");
    for (let i = 0; i < 30; i++) {
      await env.DB.prepare(
        `INSERT INTO voices (id, user_id, name, language, source, reference_key, reference_format, reference_mime, duration_ms, size_bytes) VALUES (?1, ?2, ?3, 'en', 'upload', ?4, 'wav', 'audio/wav', 12000, 100)`,
      )
        .bind(`voice_pro_${i}_${user.id}`, user.id, `v${i}`, `${user.id}/voices/${i}`)
        .run();
    }
    const err = (await assertCanCreateVoice(ctx, { id: user.id, plan: "pro" }).catch((e: unknown) => e)) as AppError;
    expect(err.message).toBe("Your Pro plan holds 30 voices. Delete one or upgrade to Studio for unlimited voices.");
    // Another user's voices do not count against this one.
    const other = await newUser("voice-limit-other");
    await expect(assertCanCreateVoice(ctx, { id: other.id, plan: "free" })).resolves.toBeUndefined();
  });

  it("out of credits, a new generation gets 402 with the balance and the cost", async () => {
    const user = await newUser("no-credits");
    const voice = await createVoice(user.id);
    await call("/api/me", { cookie: user.cookie }); // this month's Free credits
    await env.DB.prepare(`INSERT INTO credit_ledger (user_id, delta, kind, idempotency_key, note) VALUES (?1, -100, 'adjustment', ?2, 'spent')`)
      .bind(user.id, sid("spent"))
      .run();
    const text = "x".repeat(250);
    const res = await call("/api/generations", { method: "POST", cookie: user.cookie, json: { voice_id: voice.id, text, language: "en" } });
    expect(res.status).toBe(402);
    const body = ApiErrorBody.parse(await res.json());
    expect(body.error).toEqual({ code: "insufficient_credits", message: "This needs 3 credits and you have 0.", details: { balance: 0, cost: 3 } });
  });

  it("a purchased pack lifts the 402", async () => {
    stub = stubStripeApi({});
    const user = await newUser("pack-lifts");
    const customer = await linkCustomer(user.id);
    await call("/api/me", { cookie: user.cookie });
    await env.DB.prepare(`INSERT INTO credit_ledger (user_id, delta, kind, idempotency_key, note) VALUES (?1, -100, 'adjustment', ?2, 'spent')`)
      .bind(user.id, sid("spent"))
      .run();
    expect((await deliver(packPurchase({ id: user.id, customer }))).status).toBe(200);
    const me = (await (await call("/api/me", { cookie: user.cookie })).json()) as { credits: { balance: number } };
    expect(me.credits.balance).toBe(500);
  });
});
