import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";
import { fixtureBytesPlugin } from "./test/support/fixture-bytes-plugin";
import { STRIPE_MOCK_HOST, forwardToStripeMock, startStripeMock } from "./test/support/stripe-mock/server";

// Kept apart from vite.config.ts so the Remix plugin does not load in tests.
export default defineConfig(async () => {
  const migrations = await readD1Migrations("./migrations");
  // Every outbound Stripe request in the tests is checked by Stripe's own stripe-mock (ADR 0019).
  const stripeMock = await startStripeMock();
  return {
    plugins: [
      fixtureBytesPlugin(),
      cloudflareTest({
        main: "./worker/index.ts",
        wrangler: { configPath: "./wrangler.toml" },
        miniflare: {
          bindings: {
            TEST_MIGRATIONS: migrations,
            APP_ENV: "test",
            APP_URL: "http://localhost:8787",
            TRUSTED_ORIGINS: "http://localhost:8787",
            BETTER_AUTH_SECRET: "test-better-auth-secret-0123456789abcdef",
            JOB_TOKEN_SECRET: "test-job-token-secret-0123456789abcdef",
            ENGINE_TOKEN: "test-engine-token",
            ENGINE_URL: "http://engine.test",
            QUEUE_RETRY_BASE_DELAY_S: "0",
            // Tasks go through the queue alone in the suite, so tests can hold, reorder and fault
            // its deliveries; test/integration/dispatch-on-create.test.ts runs the creating request's
            // own dispatch (ADR 0029), as wrangler dev and production do.
            // `npm run bench:burst` measures both (UTTER_DISPATCH_ON_CREATE=1 and 0).
            DISPATCH_ON_CREATE: process.env.UTTER_DISPATCH_ON_CREATE ?? "0",
            // A frame's position is written with the next write or when the engine's socket closes; the timed
            // write (500 ms by default, ADR 0030) would otherwise race the tests that look at storage.
            FRAME_POSITION_FLUSH_MS: "60000",
            // `node scripts/run-suites.mjs --clock-ahead=N worker-unit`: Date runs N days ahead (ADR 0014).
            TEST_CLOCK_AHEAD_DAYS: process.env.UTTER_TEST_CLOCK_AHEAD_DAYS ?? "0",
            // Billing: a test-mode-looking key (stripe-mock checks its shape; the stub answers over fetch) and the webhook secret tests sign with.
            STRIPE_SECRET_KEY: "sk_test_51UtterFake0123456789abcdefABCDEF",
            STRIPE_WEBHOOK_SECRET: "whsec_utter_test_secret_0123456789abcdef",
            STRIPE_PRICE_PRO: "price_test_pro_monthly",
            STRIPE_PRICE_STUDIO: "price_test_studio_monthly",
            STRIPE_PRICE_PACK_SMALL: "price_test_pack_small",
            STRIPE_PRICE_PACK_LARGE: "price_test_pack_large",
          },
          // A second, empty database for migration tests (e.g. 0004's backfill from the columns it replaces).
          d1Databases: { MIGRATION_DB: "utter-migration-test" },
          // No test reaches the network: a fetch that no test mocked (e.g. a queue retry
          // running after its test restored the fake engine) gets a 503 here, not a DNS lookup.
          // The one exception is stripe-mock on loopback, which the Stripe stub asks to validate requests.
          outboundService: async (request: Request) => {
            const url = new URL(request.url);
            if (url.host !== STRIPE_MOCK_HOST) return new Response("no outbound network in tests", { status: 503 });
            return forwardToStripeMock(stripeMock, request);
          },
          // Queue delivery in tests: no batching delay.
          queueConsumers: {
            "utter-tasks": { maxBatchTimeout: 0, maxRetries: 3, deadLetterQueue: "utter-tasks-dlq" },
            "utter-tasks-dlq": { maxBatchTimeout: 0 },
          },
        },
      }),
    ],
    test: {
      include: ["test/{unit,integration}/**/*.test.ts"],
      setupFiles: ["./test/support/setup.ts"],
      deps: { optimizer: { ssr: { enabled: true, include: ["@remix-run/cloudflare"] } } },
      testTimeout: 30_000,
    },
  };
});
