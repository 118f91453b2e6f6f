import { env } from "cloudflare:workers";
import Stripe from "stripe";
import { vi } from "vitest";
import apiBillingPortalSession from "../fixtures/stripe/api.billing_portal.session.json";
import apiCheckoutSession from "../fixtures/stripe/api.checkout.session.json";
import apiCustomer from "../fixtures/stripe/api.customer.json";
import apiInvoicePayments from "../fixtures/stripe/api.invoice_payments.list.json";
import apiRefunds from "../fixtures/stripe/api.refunds.list.json";
import chargeDisputeClosed from "../fixtures/stripe/event.charge.dispute.closed.json";
import chargeDisputeCreated from "../fixtures/stripe/event.charge.dispute.created.json";
import chargeRefunded from "../fixtures/stripe/event.charge.refunded.json";
import checkoutPayment from "../fixtures/stripe/event.checkout.session.completed.payment.json";
import checkoutSubscription from "../fixtures/stripe/event.checkout.session.completed.subscription.json";
import subscriptionCreated from "../fixtures/stripe/event.customer.subscription.created.json";
import subscriptionDeleted from "../fixtures/stripe/event.customer.subscription.deleted.json";
import subscriptionUpdated from "../fixtures/stripe/event.customer.subscription.updated.json";
import invoicePaid from "../fixtures/stripe/event.invoice.paid.json";
import paymentIntentCreated from "../fixtures/stripe/event.payment_intent.created.json";
import { call } from "./http";
import { STRIPE_MOCK_HOST } from "./stripe-mock/host";

// The runtime's own fetch, taken before any test replaces it: stripe-mock is reached through it.
const realFetch = globalThis.fetch.bind(globalThis);

/** Must match the bindings in vitest.config.ts. */
export const WEBHOOK_SECRET = "whsec_utter_test_secret_0123456789abcdef";
export const PRICES = {
  pro: "price_test_pro_monthly",
  studio: "price_test_studio_monthly",
  small: "price_test_pack_small",
  large: "price_test_pack_large",
} as const;

/** The recorded shapes, typed as the SDK describes them; every builder works on a deep copy. */
export const fixtures = {
  checkoutPayment: checkoutPayment as unknown as Stripe.CheckoutSessionCompletedEvent,
  checkoutSubscription: checkoutSubscription as unknown as Stripe.CheckoutSessionCompletedEvent,
  subscriptionCreated: subscriptionCreated as unknown as Stripe.CustomerSubscriptionCreatedEvent,
  subscriptionUpdated: subscriptionUpdated as unknown as Stripe.CustomerSubscriptionUpdatedEvent,
  subscriptionDeleted: subscriptionDeleted as unknown as Stripe.CustomerSubscriptionDeletedEvent,
  invoicePaid: invoicePaid as unknown as Stripe.InvoicePaidEvent,
  chargeRefunded: chargeRefunded as unknown as Stripe.ChargeRefundedEvent,
  disputeCreated: chargeDisputeCreated as unknown as Stripe.ChargeDisputeCreatedEvent,
  disputeClosed: chargeDisputeClosed as unknown as Stripe.ChargeDisputeClosedEvent,
  paymentIntentCreated: paymentIntentCreated as unknown as Stripe.PaymentIntentCreatedEvent,
  api: {
    customer: apiCustomer as unknown as Stripe.Customer,
    checkoutSession: apiCheckoutSession as unknown as Stripe.Checkout.Session,
    portalSession: apiBillingPortalSession as unknown as Stripe.BillingPortal.Session,
    refunds: apiRefunds as unknown as Stripe.ApiList<Stripe.Refund>,
    invoicePayments: apiInvoicePayments as unknown as Stripe.ApiList<Stripe.InvoicePayment>,
  },
};

let counter = 0;
/** A Stripe-looking id that no other test uses. */
export function sid(prefix: string): string {
  counter += 1;
  return `${prefix}_T${Date.now().toString(36)}${counter.toString(36)}${Math.random().toString(36).slice(2, 8)}`;
}

/** A deep copy of a fixture with a fresh event id, changed by `edit`. */
export function eventFrom<E extends { id: string }>(fixture: E, edit: (e: E) => void = () => {}): E {
  const copy = structuredClone(fixture);
  copy.id = sid("evt");
  edit(copy);
  return copy;
}

export async function signatureFor(payload: string, opts: { secret?: string; timestamp?: number } = {}): Promise<string> {
  return Stripe.webhooks.generateTestHeaderStringAsync({
    payload,
    secret: opts.secret ?? WEBHOOK_SECRET,
    timestamp: opts.timestamp ?? Math.floor(Date.now() / 1000),
    cryptoProvider: Stripe.createSubtleCryptoProvider(),
  });
}

/**
 * Posts a webhook the way Stripe does: no cookie, no Origin, a signed raw
 * body. `body` replaces the signed payload (tampering); `signature` replaces
 * the header (forgery).
 */
export async function deliver(event: object, opts: { secret?: string; timestamp?: number; body?: string; signature?: string | null } = {}): Promise<Response> {
  const payload = JSON.stringify(event, null, 2);
  const header = opts.signature === undefined ? await signatureFor(payload, opts) : opts.signature;
  const headers: Record<string, string> = { "content-type": "application/json; charset=utf-8", "user-agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)" };
  if (header !== null) headers["stripe-signature"] = header;
  return call("/api/webhooks/stripe", { method: "POST", origin: null, headers, body: opts.body ?? payload });
}

export async function deliverOk(event: object): Promise<{ received: true; result: string; detail?: string }> {
  const res = await deliver(event);
  if (res.status !== 200) throw new Error(`webhook refused: ${res.status} ${await res.text()}`);
  return (await res.json()) as { received: true; result: string; detail?: string };
}

export interface StripeRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  form: URLSearchParams;
  headers: Headers;
}
type Handler = (req: StripeRequest) => unknown;

/**
 * Stubs Stripe's API over `fetch`: only `api.stripe.com` routes listed in
 * `routes` ("POST /v1/customers") answer, with the handler's JSON. Before a
 * handler answers, the request — method, path, query, form body, headers — is
 * sent to Stripe's own stripe-mock (started by vitest.config.ts), which checks
 * it against Stripe's API description: a request Stripe would refuse gets
 * stripe-mock's `invalid_request_error` back, and is recorded in `rejected` and
 * `unexpected`. Any other outbound call is recorded in `unexpected` and
 * refused, so the test that checks `unexpected` fails.
 */
export function stubStripeApi(routes: Record<string, Handler>) {
  const requests: StripeRequest[] = [];
  const unexpected: string[] = [];
  const rejected: { line: string; status: number; message: string }[] = [];
  const spy = vi.spyOn(globalThis, "fetch").mockImplementation(async (input: RequestInfo | URL, init?: RequestInit) => {
    const req = new Request(input, init);
    const url = new URL(req.url);
    const line = `${req.method} ${url.pathname}`;
    if (url.origin !== "https://api.stripe.com") {
      unexpected.push(`${req.method} ${req.url}`);
      throw new Error(`unexpected outbound fetch: ${req.method} ${req.url}`);
    }
    const text = req.method === "GET" ? "" : await req.text();
    const verdict = await validateWithStripeMock(req, url, text);
    if (verdict) {
      rejected.push({ line, status: verdict.status, message: verdict.message });
      unexpected.push(`${line} refused by stripe-mock: ${verdict.message}`);
      return Response.json(verdict.body, { status: verdict.status, headers: { "request-id": sid("req") } });
    }
    const record: StripeRequest = { method: req.method, path: url.pathname, query: url.searchParams, form: new URLSearchParams(text), headers: req.headers };
    const handler = routes[line];
    if (!handler) {
      unexpected.push(line);
      return Response.json({ error: { type: "invalid_request_error", message: `Unrecognized request URL (${line}).` } }, { status: 404 });
    }
    requests.push(record);
    const body = handler(record);
    return body instanceof Response ? body : Response.json(body, { headers: { "request-id": sid("req") } });
  });
  return {
    spy,
    requests,
    unexpected,
    rejected,
    to(line: string) {
      return requests.filter((r) => `${r.method} ${r.path}` === line);
    },
  };
}

/**
 * Sends one Stripe API request to stripe-mock; null when it is valid there,
 * else stripe-mock's error. Object ids in paths need not exist: stripe-mock
 * answers any well-formed id.
 */
async function validateWithStripeMock(
  req: Request,
  url: URL,
  text: string,
): Promise<{ status: number; message: string; body: unknown } | null> {
  const headers = new Headers();
  for (const name of ["authorization", "content-type", "idempotency-key", "stripe-version"]) {
    const value = req.headers.get(name);
    if (value) headers.set(name, value);
  }
  const res = await realFetch(`http://${STRIPE_MOCK_HOST}${url.pathname}${url.search}`, { method: req.method, headers, body: req.method === "GET" ? undefined : text });
  if (res.ok) {
    await res.body?.cancel();
    return null;
  }
  const body = (await res.json().catch(() => ({ error: { message: `stripe-mock answered ${res.status}` } }))) as { error?: { message?: string } };
  return { status: res.status, message: body.error?.message ?? `stripe-mock answered ${res.status}`, body };
}
export type StripeStub = ReturnType<typeof stubStripeApi>;

/**
 * Stripe's customer creation as seen from outside: the same Idempotency-Key
 * returns the same customer, a new key makes a new one.
 */
export function customerCreation() {
  const byKey = new Map<string, Stripe.Customer>();
  return (req: StripeRequest) => {
    const key = req.headers.get("idempotency-key") ?? sid("nokey");
    let customer = byKey.get(key);
    if (!customer) {
      customer = { ...structuredClone(fixtures.api.customer), id: sid("cus"), email: req.form.get("email"), metadata: { user_id: req.form.get("metadata[user_id]") ?? "" } };
      byKey.set(key, customer);
    }
    return customer;
  };
}

/** Stores a Stripe customer on a user, as a first checkout would have. */
export async function linkCustomer(userId: string, customerId = sid("cus")): Promise<string> {
  await env.DB.prepare(`UPDATE user SET stripe_customer_id = ?2 WHERE id = ?1`).bind(userId, customerId).run();
  return customerId;
}

/** Rows that a webhook could change, for "nothing changed" assertions. */
export async function billingSnapshot(userId: string) {
  const q = (sql: string) => env.DB.prepare(sql).bind(userId).all();
  return {
    ledger: (await q(`SELECT id, delta, kind, idempotency_key FROM credit_ledger WHERE user_id = ?1 ORDER BY id`)).results,
    balance: (await q(`SELECT balance FROM credit_balances WHERE user_id = ?1`)).results,
    user: (await q(`SELECT plan, stripe_customer_id FROM user WHERE id = ?1`)).results,
    subscriptions: (await q(`SELECT * FROM subscriptions WHERE user_id = ?1 ORDER BY id`)).results,
    payments: (await q(`SELECT * FROM stripe_payments WHERE user_id = ?1 ORDER BY id`)).results,
    events: (await env.DB.prepare(`SELECT count(*) AS n FROM stripe_events`).first<{ n: number }>())?.n ?? 0,
  };
}

export async function planOf(userId: string): Promise<string> {
  return (await env.DB.prepare(`SELECT plan FROM user WHERE id = ?1`).bind(userId).first<{ plan: string }>())!.plan;
}

export async function ledgerByKey(key: string) {
  return env.DB.prepare(`SELECT user_id, delta, kind FROM credit_ledger WHERE idempotency_key = ?1`).bind(key).all<{ user_id: string; delta: number; kind: string }>();
}

// --- event builders: a fixture, with the ids and amounts of the case at hand ---

export interface Customer {
  id: string;
  customer: string;
}

export function packPurchase(u: Customer, o: { pack?: "small" | "large"; session?: string; intent?: string; paid?: boolean; amount?: number } = {}) {
  const pack = o.pack ?? "small";
  return eventFrom(fixtures.checkoutPayment, (e) => {
    const s = e.data.object;
    s.id = o.session ?? sid("cs_test");
    s.customer = u.customer;
    s.client_reference_id = u.id;
    s.metadata = { user_id: u.id, pack };
    s.payment_intent = o.intent ?? sid("pi");
    s.amount_total = o.amount ?? (pack === "small" ? 500 : 2500);
    s.amount_subtotal = s.amount_total;
    if (o.paid === false) s.payment_status = "unpaid";
  });
}

export function planCheckout(u: Customer, o: { sub: string; plan?: "pro" | "studio" }) {
  return eventFrom(fixtures.checkoutSubscription, (e) => {
    const s = e.data.object;
    s.id = sid("cs_test");
    s.customer = u.customer;
    s.client_reference_id = u.id;
    s.subscription = o.sub;
    s.metadata = { user_id: u.id, plan: o.plan ?? "pro" };
  });
}

type SubscriptionFixture = typeof fixtures.subscriptionCreated | typeof fixtures.subscriptionUpdated | typeof fixtures.subscriptionDeleted;

/** One snapshot of subscription `sub` as Stripe would send it at `created` (event time, seconds). */
export function subscriptionEvent<F extends SubscriptionFixture>(
  fixture: F,
  u: Customer,
  o: { sub: string; created: number; status?: Stripe.Subscription.Status; price?: string; cancelAtPeriodEnd?: boolean; periodEnd?: number },
): F {
  return eventFrom(fixture, (e) => {
    e.created = o.created;
    const s = e.data.object;
    s.id = o.sub;
    s.customer = u.customer;
    s.metadata = { user_id: u.id };
    if (o.status) s.status = o.status;
    if (o.cancelAtPeriodEnd !== undefined) s.cancel_at_period_end = o.cancelAtPeriodEnd;
    for (const item of s.items.data) {
      item.subscription = o.sub;
      if (o.price) {
        item.price = { ...item.price, id: o.price };
        item.plan = { ...item.plan, id: o.price };
      }
      if (o.periodEnd) item.current_period_end = o.periodEnd;
    }
  });
}

/** A paid invoice for subscription `sub`; `lines` replaces the single Pro line. */
export function invoicePaidEvent(
  u: Customer,
  o: {
    sub: string;
    invoice?: string;
    created?: number;
    amount?: number;
    lines?: { price: string; amount: number; proration?: boolean; quantity?: number }[];
    intent?: string;
    /** The subscription period the lines pay for (unix seconds); the fixture's by default. */
    period?: { start: number; end: number };
  },
) {
  return eventFrom(fixtures.invoicePaid, (e) => {
    if (o.created) e.created = o.created;
    const inv = e.data.object;
    inv.id = o.invoice ?? sid("in");
    inv.customer = u.customer;
    inv.parent!.subscription_details!.subscription = o.sub;
    inv.parent!.subscription_details!.metadata = { user_id: u.id };
    const template = inv.lines.data[0]!;
    const lines = o.lines ?? [{ price: PRICES.pro, amount: 1000 }];
    inv.lines.data = lines.map((l) => ({
      ...structuredClone(template),
      id: sid("il"),
      invoice: inv.id,
      amount: l.amount,
      quantity: l.quantity ?? 1,
      period: o.period ?? template.period,
      subscription: o.sub,
      pricing: { ...template.pricing!, price_details: { price: l.price, product: "prod_test" } },
      parent: {
        ...template.parent!,
        subscription_item_details: { ...template.parent!.subscription_item_details!, proration: l.proration ?? false, subscription: o.sub },
      },
    }));
    inv.amount_paid = o.amount ?? lines.reduce((n, l) => n + l.amount, 0);
    inv.amount_due = inv.amount_paid;
    inv.total = inv.amount_paid;
    (inv.lines as { total_count?: number }).total_count = lines.length;
    if (o.intent) {
      inv.payments = {
        object: "list",
        data: [{ ...structuredClone(fixtures.api.invoicePayments.data[0]!), invoice: inv.id, payment: { type: "payment_intent", payment_intent: o.intent } }],
        has_more: false,
        url: "/v1/invoice_payments",
      };
    }
  });
}

export function refundObject(o: { charge: string; intent: string; amount: number; id?: string; status?: string }): Stripe.Refund {
  return { ...structuredClone(fixtures.api.refunds.data[0]!), id: o.id ?? sid("re"), charge: o.charge, payment_intent: o.intent, amount: o.amount, status: o.status ?? "succeeded" };
}

/**
 * `charge.refunded` for a charge of `amount` on `intent`. Webhook charges do
 * not include their refunds, so by default the handler has to list them;
 * `embedRefunds` puts them in the event instead.
 */
export function chargeRefundedEvent(o: { customer: string; intent: string; charge?: string; amount: number; refunded: number; embedRefunds?: Stripe.Refund[] }) {
  return eventFrom(fixtures.chargeRefunded, (e) => {
    const c = e.data.object;
    c.id = o.charge ?? sid("ch");
    c.customer = o.customer;
    c.payment_intent = o.intent;
    c.amount = o.amount;
    c.amount_captured = o.amount;
    c.amount_refunded = o.refunded;
    c.refunded = o.refunded >= o.amount;
    if (o.embedRefunds) c.refunds = { object: "list", data: o.embedRefunds, has_more: false, url: `/v1/charges/${c.id}/refunds` };
  });
}

export function disputeEvent<F extends typeof fixtures.disputeCreated | typeof fixtures.disputeClosed>(
  fixture: F,
  o: { dispute: string; intent: string | null; charge?: string; amount: number; status?: Stripe.Dispute.Status },
): F {
  return eventFrom(fixture, (e) => {
    const d = e.data.object;
    d.id = o.dispute;
    d.payment_intent = o.intent;
    d.charge = o.charge ?? sid("ch");
    d.amount = o.amount;
    if (o.status) d.status = o.status;
  });
}
