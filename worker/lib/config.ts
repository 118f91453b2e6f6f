import * as z from "zod";
import { AppError } from "./errors";

const csv = z
  .string()
  .optional()
  .transform((v) => (v ?? "").split(",").map((s) => s.trim()).filter(Boolean));

const optionalSecret = z.string().min(1).optional().catch(undefined);

/**
 * The Worker's configuration, parsed from env at the edge of every request so
 * a missing variable is named clearly instead of failing somewhere deep.
 */
export const AppConfig = z
  .object({
    APP_ENV: z.enum(["development", "test", "production"]).default("development"),
    APP_URL: z.url(),
    TRUSTED_ORIGINS: csv,
    BETTER_AUTH_SECRET: z.string().min(32, "must be at least 32 characters"),
    JOB_TOKEN_SECRET: z.string().min(32, "must be at least 32 characters"),
    /** Which engine is behind ENGINE_URL: all three speak the same protocol over HTTP (docs/engine.md). */
    ENGINE: z.enum(["local", "modal", "selfhosted"]).default("local"),
    ENGINE_URL: z.url(),
    ENGINE_TOKEN: z.string().min(8),
    /** Public base URL the engine uses to call back; defaults to APP_URL. */
    ENGINE_CALLBACK_URL: z.url().optional(),
    GITHUB_CLIENT_ID: optionalSecret,
    GITHUB_CLIENT_SECRET: optionalSecret,
    GOOGLE_CLIENT_ID: optionalSecret,
    GOOGLE_CLIENT_SECRET: optionalSecret,
    STRIPE_SECRET_KEY: optionalSecret,
    STRIPE_WEBHOOK_SECRET: optionalSecret,
    STRIPE_PRICE_PRO: optionalSecret,
    STRIPE_PRICE_STUDIO: optionalSecret,
    STRIPE_PRICE_PACK_SMALL: optionalSecret,
    STRIPE_PRICE_PACK_LARGE: optionalSecret,
    /** Mail (worker/auth/mailer.ts, docs/operations.md): Resend's API key, and the sender it is verified for. */
    RESEND_API_KEY: optionalSecret,
    MAIL_FROM: z.string().min(3).default("Utter <no-reply@localhost>"),
    VERSION: z.string().default("dev"),
    /** First redelivery delay of a failed dispatch, doubled per attempt (tests set 0). */
    QUEUE_RETRY_BASE_DELAY_S: z.coerce.number().int().min(0).max(60).default(2),
    /**
     * "1": the creating request dispatches its task itself, after answering (ADR 0029); the queue message follows
     * DISPATCH_FALLBACK_DELAY_S later and only acts if that did not. "0": the queue alone.
     */
    DISPATCH_ON_CREATE: z
      .enum(["0", "1"])
      .default("1")
      .transform((v) => v === "1"),
    DISPATCH_FALLBACK_DELAY_S: z.coerce.number().int().min(0).max(60).default(10),
    /**
     * Longest a relayed frame's position stays unwritten in the task's object (ADR 0030): it goes with the
     * next write, when the engine's socket closes, or after this long. The worker suite sets a minute so no
     * timer fires inside a test.
     */
    FRAME_POSITION_FLUSH_MS: z.coerce.number().int().min(0).max(60_000).default(500),
  })
  .transform((c) => ({ ...c, ENGINE_CALLBACK_URL: c.ENGINE_CALLBACK_URL ?? c.APP_URL }));
export type AppConfig = z.infer<typeof AppConfig>;

const cache = new WeakMap<object, AppConfig>();

/** Parses (once per env object) or throws a 500 naming every bad variable. */
export function getConfig(env: Env): AppConfig {
  const hit = cache.get(env);
  if (hit) return hit;
  const parsed = AppConfig.safeParse(env);
  if (!parsed.success) {
    const names = parsed.error.issues.map((i) => `${i.path.join(".")} (${i.message})`).join(", ");
    throw new AppError("misconfigured", 500, `Server misconfigured: check environment variables ${names}.`);
  }
  cache.set(env, parsed.data);
  return parsed.data;
}
