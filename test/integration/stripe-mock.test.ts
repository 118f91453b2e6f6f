import Stripe from "stripe";
import { describe, expect, it } from "vitest";
import { createStripeClient } from "../../worker/billing/stripe-client";
import { expectedErrors } from "../support/expected-errors";
import { customerCreation, stubStripeApi } from "../support/stripe";

// The billing tests' Stripe stub sends every request to Stripe's own stripe-mock first (ADR 0019).
// These tests show that check is live: a request Stripe would refuse does not get the stub's answer.
describe("Stripe requests are checked by stripe-mock", () => {
  const stripe = () => createStripeClient({ STRIPE_SECRET_KEY: "sk_test_51UtterFake0123456789abcdefABCDEF" });

  it("passes a request Stripe accepts to the test's handler", async () => {
    const stub = stubStripeApi({ "POST /v1/customers": customerCreation() });
    const customer = await stripe().customers.create({ email: "valid@example.test", metadata: { user_id: "u1" } }, { idempotencyKey: "k-valid" });
    expect(customer.email).toBe("valid@example.test");
    expect(stub.rejected).toEqual([]);
    expect(stub.to("POST /v1/customers")).toHaveLength(1);
  });

  it("refuses a parameter Stripe does not know, before any handler answers", async () => {
    expectedErrors.allow = true;
    const stub = stubStripeApi({ "POST /v1/customers": customerCreation() });
    const params = { email: "x@example.test", favourite_colour: "teal" } as unknown as Stripe.CustomerCreateParams;
    await expect(stripe().customers.create(params)).rejects.toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
    expect(stub.requests).toHaveLength(0);
    expect(stub.rejected).toEqual([expect.objectContaining({ line: "POST /v1/customers", status: 400 })]);
  });

  it("refuses a value outside an enumeration", async () => {
    expectedErrors.allow = true;
    const stub = stubStripeApi({ "POST /v1/checkout/sessions": () => ({}) });
    const params = { mode: "lifetime", success_url: "http://localhost:8787/account" } as unknown as Stripe.Checkout.SessionCreateParams;
    await expect(stripe().checkout.sessions.create(params)).rejects.toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
    expect(stub.rejected.map((r) => r.line)).toEqual(["POST /v1/checkout/sessions"]);
  });
});
