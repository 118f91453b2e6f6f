import type { AppConfig } from "./config";

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/**
 * CSRF defence for cookie-authenticated, state-changing requests: the Origin
 * (or, failing that, the Referer) must be one we trust. Requests that carry no
 * cookie (API keys, engine callbacks, Stripe) cannot ride a browser session
 * and are left to their own authentication.
 */
export function isCrossSiteRequest(request: Request, config: AppConfig): boolean {
  if (SAFE_METHODS.has(request.method)) return false;
  if (!request.headers.get("cookie")) return false;
  const trusted = new Set([new URL(config.APP_URL).origin, ...config.TRUSTED_ORIGINS.map((o) => new URL(o).origin)]);
  const origin = request.headers.get("origin");
  if (origin && origin !== "null") return !trusted.has(origin);
  const referer = request.headers.get("referer");
  if (referer) {
    try {
      return !trusted.has(new URL(referer).origin);
    } catch {
      return true;
    }
  }
  return true;
}
