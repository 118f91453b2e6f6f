/** The host the tests' Stripe stub sends requests to; vitest.config.ts's outbound service forwards it to stripe-mock. */
export const STRIPE_MOCK_HOST = "stripe-mock.test";
