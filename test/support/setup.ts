import { applyD1Migrations } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, beforeEach, vi } from "vitest";
import { expectedErrors } from "./expected-errors";
import { moveDateAhead } from "./shifted-date";

// CI runs the unit tests a year ahead too (ADR 0014): a test that depends on today's date fails the day it is written.
moveDateAhead(Number(env.TEST_CLOCK_AHEAD_DAYS ?? "0"));

// Migrations are idempotent (applyD1Migrations records what ran), so every file can call this.
await applyD1Migrations(env.DB, env.TEST_MIGRATIONS);

// An unexpected console.error is a bug: fail the test that caused it.
let errorsSeen: unknown[][] = [];
beforeEach(() => {
  errorsSeen = [];
  vi.spyOn(console, "error").mockImplementation((...args: unknown[]) => {
    errorsSeen.push(args);
  });
});
afterEach(() => {
  vi.restoreAllMocks();
  const seen = errorsSeen;
  errorsSeen = [];
  if (seen.length && !expectedErrors.allow) {
    throw new Error(`unexpected console.error: ${seen.map((a) => a.map(String).join(" ")).join("\n")}`);
  }
  expectedErrors.allow = false;
});
