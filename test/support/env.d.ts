import type { D1Migration } from "@cloudflare/vitest-plugin";

declare global {
  namespace Cloudflare {
    interface Env {
      TEST_MIGRATIONS: D1Migration[];
      // Days the unit tests move Date ahead (ADR 0014); "0" normally.
      TEST_CLOCK_AHEAD_DAYS?: string;
      MIGRATION_DB: D1Database;
    }
  }
}
export {};
