import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it } from "vitest";
import { newId } from "../../worker/lib/ids";
import { ApiErrorBody } from "../../worker/lib/errors";
import { createVoice, expectLedgerInvariant, grantCredits } from "../support/factories";
import { call, signUp, uniqueEmail } from "../support/http";
import {
  billingSnapshot,
  chargeRefundedEvent,
  deliver,
  deliverOk,
  disputeEvent,
  eventFrom,
  fixtures,
  invoicePaidEvent,
  ledgerByKey,
  linkCustomer,
  packPurchase,
  planCheckout,
  planOf,
  PRICES,
  refundObject,
  sid,
  signatureFor,
  stubStripeApi,
  subscriptionEvent,
  type Customer,
  type StripeStub,
} from "../support/stripe";

const userIds: string[] = [];
let stub: StripeStub | null = null;
afterEach(async () => {
  for (const id of userIds.splice(0)) await expectLedgerInvariant(id);
  if (stub) expect(stub.unexpected, "unexpected calls to Stripe").toEqual([]);
  stub = null;
});

/** A user with a Stripe customer, inserted directly (many tests need dozens). */
async function customer(tag = "billing"): Promise<Customer> {
  const id = newId("usr");
  await env.DB.prepare(`INSERT INTO user (id, name, email) VALUES (?1, ?2, ?3)`).bind(id, tag, uniqueEmail(tag)).run();
  userIds.push(id);
  return { id, customer: await linkCustomer(id) };
}

/** A signed-up user (with a session cookie) who has a Stripe customer. */
async function signedUpCustomer(tag: string) {
  const u = await signUp(tag);
  userIds.push(u.id);
  return { ...u, customer: await linkCustomer(u.id) };
}

async function balance(userId: string): Promise<number> {
  return expectLedgerInvariant(userId);
}

async function subscriptionRow(subId: string) {
  return env.DB.prepare(`SELECT user_id, status, plan, price_id, cancel_at_period_end, stripe_updated_at FROM subscriptions WHERE id = ?1`)
    .bind(subId)
    .first<{ user_id: string; status: string; plan: string; price_id: string | null; cancel_at_period_end: number; stripe_updated_at: number }>();
}

function permutations<T>(items: T[]): T[][] {
  if (items.length <= 1) return [items];
  return items.flatMap((item, i) => permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [item, ...rest]));
}

function shuffled<T>(items: T[]): T[] {
  const a = [...items];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

async function generate(cookie: string, voiceId: string) {
  return call("/api/generations", { method: "POST", cookie, json: { voice_id: voiceId, text: "Out of credits, this should not run.", language: "en" } });
}

describe("Stripe webhook: signatures", () => {
  it("rejects forged, wrong-secret, tampered-body, stale and unsigned deliveries with 400 and changes nothing", async () => {
    stub = stubStripeApi({});
    const u = await customer("sig");
    const event = packPurchase(u);
    const payload = JSON.stringify(event, null, 2);
    const before = await billingSnapshot(u.id);
    const now = Math.floor(Date.now() / 1000);

    const attempts: [string, Promise<Response>][] = [
      ["forged", deliver(event, { signature: `t=${now},v1=${"ab".repeat(32)}` })],
      ["wrong secret", deliver(event, { secret: "whsec_someone_elses_secret_0000000000" })],
      ["tampered body", (async () => deliver(event, { signature: await signatureFor(payload), body: payload.replace('"pack": "small"', '"pack": "large"') }))()],
      ["stale timestamp", deliver(event, { timestamp: now - 301 })],
      ["future-dated timestamp", deliver(event, { timestamp: now + 301 })],
      ["far-future timestamp", deliver(event, { timestamp: now + 86_400 * 365 })],
      ["no signature header", deliver(event, { signature: null })],
      ["garbage header", deliver(event, { signature: "not-a-signature" })],
    ];
    for (const [what, pending] of attempts) {
      const res = await pending;
      expect(res.status, what).toBe(400);
      const body = ApiErrorBody.parse(await res.json());
      expect(body.error.code, what).toBe("invalid_signature");
    }
    expect(await billingSnapshot(u.id)).toEqual(before);

    // The same event, correctly signed within the tolerance, is accepted.
    const ok = await deliver(event, { timestamp: now - 280 });
    expect(ok.status).toBe(200);
    expect(await balance(u.id)).toBe(500);
  });

  it("acknowledges event types it does not use without recording them", async () => {
    stub = stubStripeApi({});
    const u = await customer("unknown-type");
    const before = await billingSnapshot(u.id);
    const res = await deliver(eventFrom(fixtures.paymentIntentCreated));
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ received: true, result: "ignored" });
    expect(await billingSnapshot(u.id)).toEqual(before);
  });
});

describe("Stripe webhook: credit packs", () => {
  it("adds a pack's credits once when the same event arrives 20 times at once", async () => {
    stub = stubStripeApi({});
    const u = await customer("pack20");
    const event = packPurchase(u, { pack: "large" });
    const results = await Promise.all(Array.from({ length: 20 }, () => deliver(event)));
    expect(results.map((r) => r.status)).toEqual(Array(20).fill(200));
    const outcomes = await Promise.all(results.map(async (r) => ((await r.json()) as { result: string }).result));
    expect(outcomes.filter((o) => o === "applied")).toHaveLength(1);
    expect(outcomes.filter((o) => o === "duplicate")).toHaveLength(19);
    expect(await balance(u.id)).toBe(3_000);
    const purchase = await ledgerByKey(`purchase:${event.data.object.id}`);
    expect(purchase.results).toEqual([{ user_id: u.id, delta: 3_000, kind: "purchase" }]);
    const recorded = await env.DB.prepare(`SELECT type FROM stripe_events WHERE id = ?1`).bind(event.id).all();
    expect(recorded.results).toEqual([{ type: "checkout.session.completed" }]);

    // Stripe's later async-payment event for the same session (a different event id) adds nothing.
    const again = eventFrom(event, (e) => {
      (e as { type: string }).type = "checkout.session.async_payment_succeeded";
    });
    expect((await deliverOk(again)).result).toBe("applied");
    expect(await balance(u.id)).toBe(3_000);
  });

  it("waits for an asynchronous payment before adding credits", async () => {
    stub = stubStripeApi({});
    const u = await customer("async");
    const session = sid("cs_test");
    await deliverOk(packPurchase(u, { session, paid: false }));
    expect(await balance(u.id)).toBe(0);
    const succeeded = eventFrom(packPurchase(u, { session }), (e) => {
      (e as { type: string }).type = "checkout.session.async_payment_succeeded";
    });
    await deliverOk(succeeded);
    expect(await balance(u.id)).toBe(500);
  });
});

describe("Stripe webhook: subscriptions", () => {
  const T0 = 1_794_311_990;

  function lifecycle(u: Customer, sub: string) {
    return {
      created: subscriptionEvent(fixtures.subscriptionCreated, u, { sub, created: T0 + 1, status: "incomplete" }),
      invoice: invoicePaidEvent(u, { sub, created: T0 + 4 }),
      updated: subscriptionEvent(fixtures.subscriptionUpdated, u, { sub, created: T0 + 6, status: "active" }),
      deleted: subscriptionEvent(fixtures.subscriptionDeleted, u, { sub, created: T0 + 2_678_400, status: "canceled" }),
    };
  }

  it("every order of created / invoice.paid / updated / deleted ends as the newest subscription object says: canceled, Free, one month of credits", async () => {
    stub = stubStripeApi({});
    const orders = permutations(["created", "invoice", "updated", "deleted"] as const);
    expect(orders).toHaveLength(24);
    for (const order of orders) {
      const u = await customer("perm");
      const sub = sid("sub");
      const events = lifecycle(u, sub);
      for (const name of order) await deliverOk(events[name]);
      const row = await subscriptionRow(sub);
      expect({ order, status: row?.status, plan: await planOf(u.id) }).toEqual({ order, status: "canceled", plan: "free" });
      expect(row?.stripe_updated_at).toBe(events.deleted.created);
      expect(await balance(u.id)).toBe(1_000);
    }
  });

  it("every order of created / invoice.paid / updated ends on an active Pro plan", async () => {
    stub = stubStripeApi({});
    for (const order of permutations(["created", "invoice", "updated"] as const)) {
      const u = await customer("perm-live");
      const sub = sid("sub");
      const events = lifecycle(u, sub);
      for (const name of order) await deliverOk(events[name]);
      expect({ order, status: (await subscriptionRow(sub))?.status, plan: await planOf(u.id) }).toEqual({ order, status: "active", plan: "pro" });
      expect(await balance(u.id)).toBe(1_000);
    }
  });

  it("the same lifecycle delivered five times over, shuffled and concurrently, lands in the same state", async () => {
    stub = stubStripeApi({});
    const u = await customer("storm");
    const sub = sid("sub");
    const events = Object.values(lifecycle(u, sub));
    const storm = shuffled(events.flatMap((e) => Array(5).fill(e) as (typeof e)[]));
    const results = await Promise.all(storm.map((e) => deliver(e)));
    expect(results.every((r) => r.status === 200)).toBe(true);
    expect((await subscriptionRow(sub))?.status).toBe("canceled");
    expect(await planOf(u.id)).toBe("free");
    expect(await balance(u.id)).toBe(1_000);
    const applied = await env.DB.prepare(`SELECT count(*) AS n FROM stripe_events WHERE id IN (?1, ?2, ?3, ?4)`)
      .bind(...events.map((e) => e.id))
      .first<{ n: number }>();
    expect(applied?.n).toBe(4);
  });

  it("a canceled snapshot is never revived by an update sent in the same second", async () => {
    stub = stubStripeApi({});
    const u = await customer("tie");
    const sub = sid("sub");
    const deleted = subscriptionEvent(fixtures.subscriptionDeleted, u, { sub, created: T0 + 10, status: "canceled" });
    const updated = subscriptionEvent(fixtures.subscriptionUpdated, u, { sub, created: T0 + 10, status: "active" });
    await deliverOk(deleted);
    await deliverOk(updated);
    expect((await subscriptionRow(sub))?.status).toBe("canceled");
    expect(await planOf(u.id)).toBe("free");
  });

  it("derives the plan from the subscription's price and status: upgrade, past_due keeps it, unpaid drops to Free", async () => {
    stub = stubStripeApi({});
    const u = await customer("lifecycle");
    const sub = sid("sub");
    await deliverOk(subscriptionEvent(fixtures.subscriptionUpdated, u, { sub, created: T0 + 10, status: "active" }));
    expect(await planOf(u.id)).toBe("pro");
    await deliverOk(subscriptionEvent(fixtures.subscriptionUpdated, u, { sub, created: T0 + 20, status: "active", price: PRICES.studio }));
    expect(await planOf(u.id)).toBe("studio");
    expect((await subscriptionRow(sub))?.price_id).toBe(PRICES.studio);
    await deliverOk(subscriptionEvent(fixtures.subscriptionUpdated, u, { sub, created: T0 + 30, status: "past_due", price: PRICES.studio }));
    expect(await planOf(u.id)).toBe("studio");
    await deliverOk(subscriptionEvent(fixtures.subscriptionUpdated, u, { sub, created: T0 + 40, status: "unpaid", price: PRICES.studio }));
    expect(await planOf(u.id)).toBe("free");
    // An older snapshot arriving late changes nothing.
    await deliverOk(subscriptionEvent(fixtures.subscriptionUpdated, u, { sub, created: T0 + 25, status: "active", price: PRICES.pro }));
    expect(await planOf(u.id)).toBe("free");
    expect((await subscriptionRow(sub))?.status).toBe("unpaid");
  });

  it("cancel at period end keeps the plan until Stripe deletes the subscription", async () => {
    stub = stubStripeApi({});
    const u = await customer("cancel-later");
    const sub = sid("sub");
    await deliverOk(subscriptionEvent(fixtures.subscriptionUpdated, u, { sub, created: T0 + 10, status: "active", cancelAtPeriodEnd: true }));
    expect(await planOf(u.id)).toBe("pro");
    expect((await subscriptionRow(sub))?.cancel_at_period_end).toBe(1);
    await deliverOk(subscriptionEvent(fixtures.subscriptionDeleted, u, { sub, created: T0 + 99, status: "canceled" }));
    expect(await planOf(u.id)).toBe("free");
  });

  it("checkout.session.completed links the subscription at once, and Stripe's own snapshots override it whatever the order", async () => {
    stub = stubStripeApi({});
    const u = await customer("link");
    const sub = sid("sub");
    const checkout = planCheckout(u, { sub, plan: "pro" });
    await deliverOk(checkout);
    expect(await planOf(u.id)).toBe("pro");
    expect((await subscriptionRow(sub))?.user_id).toBe(u.id);
    await deliverOk(subscriptionEvent(fixtures.subscriptionDeleted, u, { sub, created: T0 + 99, status: "canceled" }));
    expect(await planOf(u.id)).toBe("free");

    // Reversed: the snapshot first, the checkout after it — the snapshot still wins.
    const v = await customer("link-late");
    const sub2 = sid("sub");
    await deliverOk(subscriptionEvent(fixtures.subscriptionDeleted, v, { sub: sub2, created: T0 + 99, status: "canceled" }));
    await deliverOk(planCheckout(v, { sub: sub2, plan: "pro" }));
    expect(await planOf(v.id)).toBe("free");
    expect((await subscriptionRow(sub2))?.status).toBe("canceled");
  });

  it("acknowledges a subscription of a customer that is not ours and stores nothing", async () => {
    stub = stubStripeApi({});
    const stranger = { id: "usr_nobody", customer: sid("cus") };
    const sub = sid("sub");
    const res = await deliverOk(subscriptionEvent(fixtures.subscriptionUpdated, stranger, { sub, created: T0, status: "active" }));
    expect(res.result).toBe("ignored");
    expect(await subscriptionRow(sub)).toBeNull();
  });
});

describe("Stripe webhook: plan invoices", () => {
  // The fixture's subscription period, and the one after it.
  const P1 = { start: 1_794_311_990, end: 1_796_990_390 };
  const P2 = { start: P1.end, end: P1.end + 2_592_000 };

  it("grants the plan's monthly credits once per subscription period; a renewal grants again", async () => {
    stub = stubStripeApi({});
    const u = await customer("invoices");
    const sub = sid("sub");
    const first = invoicePaidEvent(u, { sub, period: P1 });
    await Promise.all([deliver(first), deliver(first), deliver(first)]);
    expect(await balance(u.id)).toBe(1_000);
    await deliverOk(invoicePaidEvent(u, { sub, period: P2 }));
    expect(await balance(u.id)).toBe(2_000);
    const entry = await ledgerByKey(`plan-period:${sub}:${P1.end}:pro`);
    expect(entry.results).toEqual([{ user_id: u.id, delta: 1_000, kind: "grant" }]);
  });

  it("two paid invoices for one period grant the period's credits once", async () => {
    stub = stubStripeApi({});
    const u = await customer("two-invoices");
    const sub = sid("sub");
    // A second invoice for the same period (a manual invoice, a retried charge under a new invoice).
    await deliverOk(invoicePaidEvent(u, { sub, period: P1 }));
    await deliverOk(invoicePaidEvent(u, { sub, period: P1 }));
    expect(await balance(u.id)).toBe(1_000);
    // Even delivered at the same moment.
    const v = await customer("two-invoices-at-once");
    const sub2 = sid("sub");
    await Promise.all([deliver(invoicePaidEvent(v, { sub: sub2, period: P1 })), deliver(invoicePaidEvent(v, { sub: sub2, period: P1 }))]);
    expect(await balance(v.id)).toBe(1_000);
    const payments = await env.DB.prepare(`SELECT sum(credits) AS credits FROM stripe_payments WHERE user_id = ?1`).bind(v.id).first<{ credits: number }>();
    expect(payments?.credits).toBe(1_000);
  });

  it("an upgrade mid-period tops up to the new plan's monthly credits once; a downgrade takes nothing and grants nothing", async () => {
    stub = stubStripeApi({});
    const u = await customer("upgrade");
    const sub = sid("sub");
    await deliverOk(invoicePaidEvent(u, { sub, period: P1 }));
    expect(await balance(u.id)).toBe(1_000);
    // Half way through: $30 of Studio charged, $5 of unused Pro credited, "prorate and invoice immediately".
    const mid = { start: P1.start + 1_339_200, end: P1.end };
    const upgrade = invoicePaidEvent(u, {
      sub,
      period: mid,
      lines: [
        { price: PRICES.studio, amount: 3_000, proration: true },
        { price: PRICES.pro, amount: -500, proration: true },
      ],
    });
    await deliverOk(upgrade);
    expect(await balance(u.id)).toBe(10_000);
    // The same upgrade again (redelivered under a new event id, or a second invoice for it): nothing more.
    await deliverOk(invoicePaidEvent(u, { sub, period: mid, lines: [{ price: PRICES.studio, amount: 3_000, proration: true }, { price: PRICES.pro, amount: -500, proration: true }] }));
    expect(await balance(u.id)).toBe(10_000);
    // Down to Pro, then back up to Studio in the same period: still one period's worth of Studio.
    await deliverOk(invoicePaidEvent(u, { sub, amount: 0, period: mid, lines: [{ price: PRICES.studio, amount: -3_000, proration: true }, { price: PRICES.pro, amount: 500, proration: true }] }));
    expect(await balance(u.id)).toBe(10_000);
    await deliverOk(invoicePaidEvent(u, { sub, period: mid, lines: [{ price: PRICES.studio, amount: 3_000, proration: true }, { price: PRICES.pro, amount: -500, proration: true }] }));
    expect(await balance(u.id)).toBe(10_000);
    // The next period on Studio grants Studio's month.
    await deliverOk(invoicePaidEvent(u, { sub, period: P2, lines: [{ price: PRICES.studio, amount: 6_000 }] }));
    expect(await balance(u.id)).toBe(20_000);
    const grants = await env.DB.prepare(`SELECT idempotency_key AS k, delta FROM credit_ledger WHERE user_id = ?1 AND kind = 'grant' ORDER BY id`).bind(u.id).all();
    expect(grants.results).toEqual([
      { k: `plan-period:${sub}:${P1.end}:pro`, delta: 1_000 },
      { k: `plan-period:${sub}:${P1.end}:studio`, delta: 9_000 },
      { k: `plan-period:${sub}:${P2.end}:studio`, delta: 10_000 },
    ]);
  });
});

describe("Stripe webhook: refunds and disputes", () => {
  it("a refund takes back the refunded share of a pack, once per refund, and then new tasks get 402", async () => {
    const u = await signedUpCustomer("refund");
    const voice = await createVoice(u.id);
    // The monthly Free grant (100) happens on first use.
    expect((await call("/api/me", { cookie: u.cookie })).status).toBe(200);
    const intent = sid("pi");
    const charge = sid("ch");
    const r1 = refundObject({ charge, intent, amount: 250 });
    const r2 = refundObject({ charge, intent, amount: 250 });
    let listed = [r1];
    stub = stubStripeApi({ "GET /v1/refunds": () => ({ ...fixtures.api.refunds, data: listed }) });

    await deliverOk(packPurchase(u, { intent, pack: "small" }));
    expect(await balance(u.id)).toBe(600);
    await grantCredits(u.id, -200); // spent on earlier jobs
    expect(await balance(u.id)).toBe(400);

    await deliverOk(chargeRefundedEvent({ customer: u.customer, intent, charge, amount: 500, refunded: 250 }));
    expect(await balance(u.id)).toBe(150);
    expect(stub.to("GET /v1/refunds")[0]?.query.get("charge")).toBe(charge);

    // The second partial refund: Stripe's next event lists both; the first is not taken twice.
    listed = [r2, r1];
    await deliverOk(chargeRefundedEvent({ customer: u.customer, intent, charge, amount: 500, refunded: 500 }));
    expect(await balance(u.id)).toBe(-100);
    for (const r of [r1, r2]) expect((await ledgerByKey(`refund:${r.id}`)).results).toEqual([{ user_id: u.id, delta: -250, kind: "refund" }]);

    const refused = await generate(u.cookie, voice.id);
    expect(refused.status).toBe(402);
    const body = ApiErrorBody.parse(await refused.json());
    expect(body.error.code).toBe("insufficient_credits");
    expect(body.error.details).toEqual({ balance: -100, cost: 1 });
    expect(await balance(u.id)).toBe(-100);
  });

  it("a refund that later fails gives its credits back, once", async () => {
    stub = stubStripeApi({});
    const u = await customer("refund-failed");
    const intent = sid("pi");
    const charge = sid("ch");
    const refund = refundObject({ charge, intent, amount: 2_500, status: "pending" });
    await deliverOk(packPurchase(u, { intent, pack: "large" }));
    const before = await balance(u.id);
    await deliverOk(chargeRefundedEvent({ customer: u.customer, intent, charge, amount: 2_500, refunded: 2_500, embedRefunds: [refund] }));
    expect(await balance(u.id)).toBe(before - 3_000);
    const failed = eventFrom(fixtures.chargeRefunded, (e) => {
      (e as { type: string }).type = "charge.refund.updated";
      (e.data as { object: unknown }).object = { ...refund, status: "failed" };
    });
    await deliverOk(failed);
    await deliverOk({ ...failed, id: sid("evt") }); // a second notice of the same failure
    expect(await balance(u.id)).toBe(before);
    expect((await ledgerByKey(`refund-reversed:${refund.id}`)).results).toHaveLength(1);
  });

  it("uses refunds that come inside the event without asking Stripe", async () => {
    stub = stubStripeApi({});
    const u = await customer("refund-embedded");
    const intent = sid("pi");
    const charge = sid("ch");
    await deliverOk(packPurchase(u, { intent, pack: "large" }));
    await deliverOk(chargeRefundedEvent({ customer: u.customer, intent, charge, amount: 2_500, refunded: 2_500, embedRefunds: [refundObject({ charge, intent, amount: 2_500 })] }));
    expect(await balance(u.id)).toBe(0);
    expect(stub.requests).toEqual([]);
  });

  it("a refund of a plan invoice is traced through Stripe's invoice payments and takes back that share", async () => {
    const u = await customer("refund-plan");
    const sub = sid("sub");
    const intent = sid("pi");
    const charge = sid("ch");
    const invoice = invoicePaidEvent(u, { sub });
    stub = stubStripeApi({
      "GET /v1/invoice_payments": () => ({
        ...fixtures.api.invoicePayments,
        data: [{ ...fixtures.api.invoicePayments.data[0]!, invoice: invoice.data.object.id, payment: { type: "payment_intent", payment_intent: intent } }],
      }),
      "GET /v1/refunds": () => ({ ...fixtures.api.refunds, data: [refundObject({ charge, intent, amount: 500 })] }),
    });
    await deliverOk(invoice);
    expect(await balance(u.id)).toBe(1_000);
    await deliverOk(chargeRefundedEvent({ customer: u.customer, intent, charge, amount: 1_000, refunded: 500 }));
    expect(await balance(u.id)).toBe(500);
    const lookup = stub.to("GET /v1/invoice_payments")[0]!;
    expect(lookup.query.get("payment[type]")).toBe("payment_intent");
    expect(lookup.query.get("payment[payment_intent]")).toBe(intent);
    // The PaymentIntent is remembered: the next look-up is local.
    const stored = await env.DB.prepare(`SELECT payment_intent_id FROM stripe_payments WHERE id = ?1`).bind(invoice.data.object.id).first();
    expect(stored).toEqual({ payment_intent_id: intent });
  });

  it("a refund that arrives before its purchase is refused for redelivery, then applied once", async () => {
    const u = await customer("refund-early");
    const intent = sid("pi");
    const charge = sid("ch");
    stub = stubStripeApi({
      "GET /v1/invoice_payments": () => ({ ...fixtures.api.invoicePayments, data: [] }),
      "GET /v1/refunds": () => ({ ...fixtures.api.refunds, data: [refundObject({ charge, intent, amount: 500 })] }),
    });
    const refund = chargeRefundedEvent({ customer: u.customer, intent, charge, amount: 500, refunded: 500 });
    const early = await deliver(refund);
    expect(early.status).toBe(409);
    expect(ApiErrorBody.parse(await early.json()).error.code).toBe("event_not_ready");
    expect(await balance(u.id)).toBe(0);

    await deliverOk(packPurchase(u, { intent }));
    expect((await deliverOk(refund)).result).toBe("applied");
    expect(await deliverOk(refund)).toMatchObject({ result: "duplicate" });
    expect(await balance(u.id)).toBe(0);
  });

  it("a dispute holds back the disputed credits, tasks are refused at a balance of 0, and a won dispute gives them back", async () => {
    const u = await signedUpCustomer("dispute");
    const voice = await createVoice(u.id);
    expect((await call("/api/me", { cookie: u.cookie })).status).toBe(200);
    stub = stubStripeApi({});
    const intent = sid("pi");
    await deliverOk(packPurchase(u, { intent }));
    await grantCredits(u.id, -100);
    expect(await balance(u.id)).toBe(500);

    const dispute = sid("dp");
    const closedWon = disputeEvent(fixtures.disputeClosed, { dispute, intent, amount: 500, status: "won" });
    // Closed before it was opened (out of order): refused so Stripe sends it again later.
    expect((await deliver(closedWon)).status).toBe(409);

    const opened = disputeEvent(fixtures.disputeCreated, { dispute, intent, amount: 500 });
    await Promise.all(Array.from({ length: 5 }, () => deliver(opened)));
    expect(await balance(u.id)).toBe(0);
    expect((await ledgerByKey(`dispute:${dispute}`)).results).toEqual([{ user_id: u.id, delta: -500, kind: "dispute" }]);

    const refused = await generate(u.cookie, voice.id);
    expect(refused.status).toBe(402);
    expect(ApiErrorBody.parse(await refused.json()).error.details).toEqual({ balance: 0, cost: 1 });

    await deliverOk(closedWon);
    expect(await balance(u.id)).toBe(500);
    expect(await deliverOk(closedWon)).toMatchObject({ result: "duplicate" });
    expect(await balance(u.id)).toBe(500);
  });

  it("an inquiry that closes as warning_closed gives the held credits back; a lost dispute keeps them", async () => {
    stub = stubStripeApi({});
    const u = await customer("dispute-inquiry");
    const intent = sid("pi");
    await deliverOk(packPurchase(u, { intent }));
    const before = await balance(u.id);
    const inquiry = sid("dp");
    await deliverOk(disputeEvent(fixtures.disputeCreated, { dispute: inquiry, intent, amount: 500, status: "warning_needs_response" }));
    expect(await balance(u.id)).toBe(before - 500);
    await deliverOk(disputeEvent(fixtures.disputeClosed, { dispute: inquiry, intent, amount: 500, status: "warning_closed" }));
    expect(await balance(u.id)).toBe(before);

    const lost = sid("dp");
    await deliverOk(disputeEvent(fixtures.disputeCreated, { dispute: lost, intent, amount: 500 }));
    await deliverOk(disputeEvent(fixtures.disputeClosed, { dispute: lost, intent, amount: 500, status: "lost" }));
    expect(await balance(u.id)).toBe(before - 500);
  });

  it("a dispute without a PaymentIntent is traced through its charge", async () => {
    const u = await customer("dispute-charge");
    const intent = sid("pi");
    const charge = sid("ch");
    stub = stubStripeApi({
      [`GET /v1/charges/${charge}`]: () => ({ ...fixtures.chargeRefunded.data.object, id: charge, payment_intent: intent, customer: u.customer, refunds: null }),
    });
    await deliverOk(packPurchase(u, { intent, pack: "large" }));
    await deliverOk(disputeEvent(fixtures.disputeCreated, { dispute: sid("dp"), intent: null, charge, amount: 1_250 }));
    expect(await balance(u.id)).toBe(1_500);
  });
});

describe("Stripe webhook: ownership", () => {
  it("events for one customer never touch another user, even when their metadata names that user", async () => {
    const a = await customer("owner-a");
    const b = await customer("owner-b");
    const beforeB = await billingSnapshot(b.id);
    const intent = sid("pi");
    const charge = sid("ch");
    stub = stubStripeApi({ "GET /v1/refunds": () => ({ ...fixtures.api.refunds, data: [refundObject({ charge, intent, amount: 250 })] }) });

    // A's customer, B's id in the metadata and client_reference_id: the customer decides.
    await deliverOk(packPurchase({ id: b.id, customer: a.customer }, { intent }));
    const sub = sid("sub");
    await deliverOk(subscriptionEvent(fixtures.subscriptionUpdated, { id: b.id, customer: a.customer }, { sub, created: 1_794_400_000, status: "active" }));
    await deliverOk(invoicePaidEvent({ id: b.id, customer: a.customer }, { sub }));
    await deliverOk(chargeRefundedEvent({ customer: a.customer, intent, charge, amount: 500, refunded: 250 }));

    expect(await balance(a.id)).toBe(500 + 1_000 - 250);
    expect(await planOf(a.id)).toBe("pro");
    const afterB = await billingSnapshot(b.id);
    expect({ ...afterB, events: 0 }).toEqual({ ...beforeB, events: 0 });
  });
});
