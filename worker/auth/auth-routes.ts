import type { RequestContext } from "../context";
import { clientIp, enforceRateLimit } from "../lib/rate-limit";
import { guardedSignIn } from "./guarded-sign-in";

async function jsonOf(request: Request): Promise<Record<string, unknown> | null> {
  try {
    const body: unknown = await request.clone().json();
    return body && typeof body === "object" && !Array.isArray(body) ? (body as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/**
 * better-auth answers /api/auth/* itself; around it: the per-IP limit on
 * every POST, the per-account sign-in throttle, and a password change that
 * signs out every other session unless the caller asks to keep them
 * (better-auth's default is to keep them, which leaves a thief signed in).
 */
export async function handleAuthRoute(ctx: RequestContext, request: Request): Promise<Response> {
  if (request.method !== "POST") return ctx.auth().handler(request);
  const ip = clientIp(request);
  if (ip) await enforceRateLimit(ctx.env.AUTH_LIMITER, `auth:${ip}`);
  const path = new URL(request.url).pathname;
  if (path === "/api/auth/change-password") {
    const body = await jsonOf(request);
    if (body && body.revokeOtherSessions === undefined) {
      const headers = new Headers(request.headers);
      headers.delete("content-length");
      return ctx.auth().handler(new Request(request.url, { method: "POST", headers, body: JSON.stringify({ ...body, revokeOtherSessions: true }) }));
    }
  }
  if (path === "/api/auth/sign-in/email") {
    const email = (await jsonOf(request))?.email;
    if (typeof email === "string" && email.length <= 254) return guardedSignIn(ctx, request, email, () => ctx.auth().handler(request));
  }
  return ctx.auth().handler(request);
}
