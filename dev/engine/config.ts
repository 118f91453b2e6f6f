import * as z from "zod";

/** The dev engine's environment, parsed once at start; a bad value stops it with a clear message. */
const EngineEnv = z
  .object({
    NODE_ENV: z.string().optional(),
    DEV_ENGINE_PORT: z.coerce.number().int().min(0).max(65535).default(8788),
    /** Loopback only by default: the engine trusts anyone holding the token. */
    DEV_ENGINE_HOST: z.string().min(1).default("127.0.0.1"),
    ENGINE_TOKEN: z.string().min(8).optional(),
    DEV_ENGINE_SEGMENT_DELAY_MS: z.coerce.number().int().min(0).max(60_000).default(0),
    DEV_ENGINE_HEARTBEAT_MS: z.coerce.number().int().min(10).max(10_000).default(5000),
    /** v2 jobs: send audio frames no faster than real time, so the live path can be watched (and heard) as it streams. */
    DEV_ENGINE_REALTIME: z.enum(["0", "1", "false", "true"]).default("0"),
    /**
     * Fault injection for resume (ADR 0023, bench/long-form.mjs): a job's first attempt fails
     * (retryable) once this share of its parts is durable; the Worker resumes it. 0 = off.
     */
    DEV_ENGINE_FAIL_AT: z.coerce.number().min(0).max(1).default(0),
  })
  .transform((env, ctx) => {
    // The well-known default is fine on a laptop, never anywhere that says it is production.
    if (!env.ENGINE_TOKEN && env.NODE_ENV === "production") {
      ctx.addIssue({ code: "custom", path: ["ENGINE_TOKEN"], message: "required when NODE_ENV=production" });
      return z.NEVER;
    }
    return {
      port: env.DEV_ENGINE_PORT,
      host: env.DEV_ENGINE_HOST,
      token: env.ENGINE_TOKEN ?? "dev-engine-token",
      segmentDelayMs: env.DEV_ENGINE_SEGMENT_DELAY_MS,
      heartbeatMs: env.DEV_ENGINE_HEARTBEAT_MS,
      realtime: env.DEV_ENGINE_REALTIME === "1" || env.DEV_ENGINE_REALTIME === "true",
      failAt: env.DEV_ENGINE_FAIL_AT,
    };
  });
export type EngineConfig = z.output<typeof EngineEnv>;

export function parseEngineConfig(env: Record<string, string | undefined>): EngineConfig {
  const parsed = EngineEnv.safeParse(env);
  if (!parsed.success) {
    throw new Error(`invalid dev engine environment: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
  }
  return parsed.data;
}
