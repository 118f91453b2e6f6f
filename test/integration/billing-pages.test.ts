import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it } from "vitest";
import { call, form } from "../support/http";
import { ledgerCheckedUsers } from "../support/ledger-users";
import { customerCreation, fixtures, linkCustomer, sid, stubStripeApi, type StripeStub } from "../support/stripe";

const newUser = ledgerCheckedUsers();
let stub: StripeStub | null = null;
afterEach(async () => {
  if (stub) expect(stub.unexpected, "unexpected calls to Stripe").toEqual([]);
  stub = null;
});



function stripeForPages() {
  return stubStripeApi({
    "POST /v1/customers": customerCreation(),
    "POST /v1/checkout/sessions": (req) => ({ ...fixtures.api.checkoutSession, customer: req.form.get("customer"), url: "https://checkout.stripe.com/c/pay/cs_test_page" }),
    "POST /v1/billing_portal/sessions": (req) => ({ ...fixtures.api.portalSession, customer: req.form.get("customer") }),
  });
}

describe("/pricing", () => {
  it("shows plans and packs from the pricing module to everyone", async () => {
    const res = await call("/pricing");
    expect(res.status).toBe(200);
    const html = await res.text();
    for (const text of ["Free", "Pro", "Studio", "1,000 credits a month", "10,000 credits a month", "Unlimited voices", "30 saved voices", "$10", "$60", "500 credits", "3,000 credits", "$25"]) {
      expect(html, text).toContain(text);
    }
    expect(html).toContain("Sign up to subscribe");
    expect(html).toContain('<h1>Pricing</h1>');
  });

  it("marks the signed-in user's plan and posts a purchase to Stripe Checkout", async () => {
    stub = stripeForPages();
    const user = await newUser("pricing-buy");
    const page = await (await call("/pricing", { cookie: user.cookie })).text();
    expect(page).toMatch(/data-plan="free" aria-current="true"|aria-current="true"[^>]*data-plan="free"/);
    expect(page).toContain("Your plan");
    expect(page).toContain("Subscribe to Pro");
    const key = /name="requestKey" value="([^"]+)"/.exec(page)?.[1];
    expect(key).toBeTruthy();

    const res = await call("/pricing", { method: "POST", cookie: user.cookie, ...form({ plan: "pro", requestKey: key! }) });
    expect(res.status).toBe(302);
    expect(res.headers.get("location")).toBe("https://checkout.stripe.com/c/pay/cs_test_page");
    const [session] = stub.to("POST /v1/checkout/sessions");
    expect(session!.form.get("mode")).toBe("subscription");
    expect(session!.form.get("client_reference_id")).toBe(user.id);
    expect(session!.headers.get("idempotency-key")).toBe(`utter-checkout-${user.id}-plan-pro-${key}`);
  });

  it("sends signed-out buyers to sign in and shows errors in the page", async () => {
    stub = stripeForPages();
    const out = await call("/pricing", { method: "POST", ...form({ pack: "small" }) });
    expect(out.status).toBe(302);
    expect(out.headers.get("location")).toBe("/sign-in?redirectTo=/pricing");
    const user = await newUser("pricing-bad");
    const bad = await call("/pricing", { method: "POST", cookie: user.cookie, ...form({ pack: "gigantic" }) });
    expect(bad.status).toBe(200);
    expect(await bad.text()).toContain("Choose a plan or a credit pack to buy.");
    expect(stub.requests).toEqual([]);
  });
});

describe("/account", () => {
  it("redirects signed-out visitors to sign in and back", async () => {
    const res = await call("/account");
    expect(res.status).toBe(302);
    expect(res.headers.get("location")).toBe("/sign-in?redirectTo=/account");
  });

  it("shows profile, plan, balance and a paginated ledger", async () => {
    const user = await newUser("account-page");
    // 30 entries + this month's grant: two pages of 20.
    const stmt = env.DB.prepare(`INSERT INTO credit_ledger (user_id, delta, kind, idempotency_key, note) VALUES (?1, 1, 'adjustment', ?2, ?3)`);
    await env.DB.batch(Array.from({ length: 30 }, (_, i) => stmt.bind(user.id, sid("adj"), `Entry number ${i + 1}`)));
    const res = await call("/account", { cookie: user.cookie });
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toContain(user.email);
    expect(html).toMatch(/data-testid="account-plan"[^>]*>Free</);
    expect(html).toMatch(/data-testid="account-balance"[^>]*>130</);
    expect(html).toContain("Entry number 30");
    expect(html).not.toContain("Entry number 10<");
    const older = /href="(\/account\?cursor=\d+)#ledger-heading"/.exec(html)?.[1];
    expect(older).toBeTruthy();
    const page2 = await (await call(older!, { cookie: user.cookie })).text();
    expect(html).toContain("Plan credits"); // this month's grant, newest
    expect(page2).toContain("Entry number 10<");
    expect(page2).not.toContain("Entry number 30");
    expect(page2).toContain("Newest entries");
    // No billing account yet: no "Manage billing" button, but packs to buy.
    expect(html).not.toContain("Manage billing");
    expect(html).toContain("Buy 500 credits");
  });

  it("updates the name, with a field error for an empty one", async () => {
    const user = await newUser("account-name");
    const bad = await call("/account", { method: "POST", cookie: user.cookie, ...form({ intent: "profile", name: "  " }) });
    expect(await bad.text()).toContain("Tell us your name.");
    const ok = await call("/account", { method: "POST", cookie: user.cookie, ...form({ intent: "profile", name: "New Name" }) });
    expect(ok.status).toBe(200);
    const row = await env.DB.prepare(`SELECT name FROM user WHERE id = ?1`).bind(user.id).first<{ name: string }>();
    expect(row?.name).toBe("New Name");
  });

  it("Manage billing redirects to the portal of the user's customer; buying a pack goes to Checkout", async () => {
    stub = stripeForPages();
    const user = await newUser("account-portal");
    const customer = await linkCustomer(user.id);
    const html = await (await call("/account", { cookie: user.cookie })).text();
    expect(html).toContain("Manage billing");
    const portal = await call("/account", { method: "POST", cookie: user.cookie, ...form({ intent: "portal" }) });
    expect(portal.status).toBe(302);
    expect(portal.headers.get("location")).toBe(fixtures.api.portalSession.url);
    expect(stub.to("POST /v1/billing_portal/sessions")[0]!.form.get("customer")).toBe(customer);

    const buy = await call("/account", { method: "POST", cookie: user.cookie, ...form({ intent: "buy", pack: "small" }) });
    expect(buy.status).toBe(302);
    expect(stub.to("POST /v1/checkout/sessions")[0]!.form.get("customer")).toBe(customer);
  });

  it("explains when there is no billing account to manage yet", async () => {
    stub = stripeForPages();
    const user = await newUser("account-no-portal");
    const res = await call("/account", { method: "POST", cookie: user.cookie, ...form({ intent: "portal" }) });
    expect(res.status).toBe(200);
    expect(await res.text()).toContain("You have no billing account yet.");
    expect(stub.requests).toEqual([]);
  });
});
