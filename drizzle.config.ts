import { defineConfig } from "drizzle-kit";

// Migrations are generated offline from the schema and applied by wrangler
// (`npm run db:migrate:local`) and by the tests (readD1Migrations).
export default defineConfig({
  dialect: "sqlite",
  schema: "./worker/db/schema.ts",
  out: "./migrations",
});
