import { createRequestHandler, type ServerBuild } from "@remix-run/cloudflare";
// The Remix server build (run `npm run build` first; dev, test and deploy do).
// @ts-ignore -- generated JavaScript without declarations; typed as ServerBuild below
import * as remixBuild from "../build/server";
import { createApi } from "./api/app";
import { createRequestContext, requestIdFrom } from "./context";
import { AppError } from "./lib/errors";
import { createLogger, errorFields } from "./lib/log";
import { isCrossSitePageRequest } from "./lib/origin";
import { newCspNonce, pageSecurityHeaders } from "./lib/security-headers";
import { handleDeadLetters, handleTaskBatch } from "./queue/dispatch";
import { grantMonthlyCredits, purgeOldAudio, sweepStaleTasks } from "./scheduled/maintenance";

/** Must match the monthly entry of `[triggers] crons` in wrangler.toml. */
const MONTHLY_CRON = "0 3 1 * *";

export { TaskTracker } from "../durable-objects/task-tracker";

const api = createApi();

/**
 * Remix refuses an action whose Origin host differs from Host, with a 500.
 * Our own check above has already accepted the Origin (APP_URL or one of
 * TRUSTED_ORIGINS), so tell Remix the host the browser used.
 */
function forRemix(request: Request): Request {
  const origin = request.headers.get("origin");
  if (request.method === "GET" || request.method === "HEAD" || !origin) return request;
  const headers = new Headers(request.headers);
  headers.set("x-forwarded-host", new URL(origin).host);
  return new Request(request, { headers });
}
const handleRemix = createRequestHandler(remixBuild as unknown as ServerBuild);

export default {
  async fetch(request, env, exec) {
    const url = new URL(request.url);
    if (url.pathname.startsWith("/api/") || url.pathname.startsWith("/internal/") || url.pathname === "/mcp" || url.pathname.startsWith("/v1/")) {
      return api.fetch(request, env, exec);
    }
    const requestId = requestIdFrom(request);
    const nonce = newCspNonce();
    let security: Record<string, string> = {};
    try {
      const ctx = createRequestContext(env, exec, requestId, { method: request.method, cookie: request.headers.get("cookie") });
      security = pageSecurityHeaders(ctx.config, nonce);
      // Every page action, not only those that remember to check: the same CSRF rule as the API (ADR 0003),
      // and a foreign Origin is refused even without a cookie (sign-in, sign-up).
      if (isCrossSitePageRequest(request, ctx.config)) {
        return new Response("This request came from a site we do not trust.", {
          status: 403,
          headers: { ...security, "content-type": "text/plain; charset=utf-8", "x-request-id": requestId },
        });
      }
      const response = await handleRemix(forRemix(request), { cloudflare: { env, ctx: exec }, app: ctx, cspNonce: nonce });
      const headers = new Headers(response.headers);
      for (const [k, v] of Object.entries(security)) if (!headers.has(k)) headers.set(k, v);
      headers.set("x-request-id", requestId);
      for (const cookie of ctx.finish()) headers.append("set-cookie", cookie);
      return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
    } catch (err) {
      createLogger({ request_id: requestId }).error("page.unhandled", errorFields(err));
      const message = err instanceof AppError ? err.message : "Something went wrong on our side.";
      return new Response(`Utter is having trouble: ${message} (request ${requestId})`, {
        status: 500,
        headers: { ...security, "content-type": "text/plain; charset=utf-8", "x-request-id": requestId },
      });
    }
  },

  async queue(batch, env, _exec) {
    const log = createLogger({ queue: batch.queue });
    if (batch.queue.endsWith("-dlq")) await handleDeadLetters(batch, { env, log });
    else await handleTaskBatch(batch, { env, log });
  },

  async scheduled(controller, env, _exec) {
    const log = createLogger({ cron: controller.cron });
    if (controller.cron === MONTHLY_CRON) {
      log.info("cron.monthly_grants", { granted: await grantMonthlyCredits(env) });
      return;
    }
    const swept = await sweepStaleTasks(env, log);
    const purged = await purgeOldAudio(env, log);
    log.info("cron.maintenance", { ...swept, purged });
  },
} satisfies ExportedHandler<Env>;
