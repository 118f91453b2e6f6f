import { Hono } from "hono";
import type { ApiEnv } from "../app";
import { documented } from "../route-doc";
import { Health } from "../response-schemas";

export const healthRoutes = new Hono<ApiEnv>().get(
  "/health",
  documented({
    operationId: "getHealth",
    summary: "Liveness, with D1 and R2 checked",
    tag: "Meta",
    access: "public",
    responses: [
      { status: 200, description: "Everything answers.", json: Health },
      { status: 503, description: "A binding does not answer.", json: Health },
    ],
    errors: [],
  }),
  async (c) => {
    const ctx = c.get("ctx");
    const check = async (fn: () => Promise<unknown>) => {
      const started = Date.now();
      try {
        await fn();
        return { ok: true, ms: Date.now() - started };
      } catch (err) {
        ctx.log.error("health.check_failed", { error: String(err) });
        return { ok: false, ms: Date.now() - started };
      }
    };
    const [d1, r2] = await Promise.all([check(() => c.env.DB.prepare("select 1").first()), check(() => c.env.AUDIO.head("health-probe"))]);
    const ok = d1.ok && r2.ok;
    return c.json(
      { status: ok ? "ok" : "degraded", version: ctx.config.VERSION, engine: ctx.config.ENGINE, checks: { d1, r2 } },
      ok ? 200 : 503,
    );
  },
);
