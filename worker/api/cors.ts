import type { MiddlewareHandler } from "hono";
import { cors } from "hono/cors";

/**
 * CORS for API-key clients (a third party's browser app calling the API with a
 * key): any origin may call, and no origin is ever allowed credentials, so a
 * cross-origin page can never read a response made with the person's cookie
 * (ACAO `*` and credentials are exclusive in browsers). Cookie-authenticated
 * state changes stay guarded by the origin check. Not offered on routes that
 * only a browser session or a server uses: sign-in (`/api/auth`), Stripe's
 * webhook and the engine callbacks.
 */
const NOT_CORS = [/^\/api\/auth\//, /^\/api\/webhooks\//, /^\/internal\//];

export const API_CORS_HEADERS = {
  allowMethods: ["GET", "HEAD", "POST", "PATCH", "DELETE"],
  allowHeaders: ["Authorization", "Content-Type", "Idempotency-Key", "Range", "Mcp-Protocol-Version", "Mcp-Session-Id", "Last-Event-ID"],
  exposeHeaders: ["X-Request-Id", "Retry-After", "Content-Range", "Content-Length", "Accept-Ranges", "Content-Disposition", "Mcp-Session-Id"],
  maxAge: 86_400,
} as const;

const apiCors = cors({
  origin: "*",
  credentials: false,
  allowMethods: [...API_CORS_HEADERS.allowMethods],
  allowHeaders: [...API_CORS_HEADERS.allowHeaders],
  exposeHeaders: [...API_CORS_HEADERS.exposeHeaders],
  maxAge: API_CORS_HEADERS.maxAge,
});

export const corsForApiKeys: MiddlewareHandler = async (c, next) => {
  if (NOT_CORS.some((re) => re.test(c.req.path))) return next();
  return apiCors(c, next);
};
