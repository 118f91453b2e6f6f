import type { AppConfig } from "./config";

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/** APP_URL's origin and every valid TRUSTED_ORIGINS entry (a malformed entry is ignored, not a 500). */
export function trustedOrigins(config: Pick<AppConfig, "APP_URL" | "TRUSTED_ORIGINS">): Set<string> {
  const out = new Set([new URL(config.APP_URL).origin]);
  for (const o of config.TRUSTED_ORIGINS) {
    try {
      out.add(new URL(o).origin);
    } catch {
      // not a URL: trusts nothing
    }
  }
  return out;
}

function refererOrigin(request: Request): string | null {
  const referer = request.headers.get("referer");
  if (!referer) return null;
  try {
    return new URL(referer).origin;
  } catch {
    return "null";
  }
}

/**
 * CSRF defence for cookie-authenticated, state-changing requests: the Origin
 * (or, failing that, the Referer) must be one we trust. Requests that carry no
 * cookie (API keys, engine callbacks, Stripe) cannot ride a browser session
 * and are left to their own authentication.
 */
export function isCrossSiteRequest(request: Request, config: AppConfig): boolean {
  if (SAFE_METHODS.has(request.method)) return false;
  if (!request.headers.get("cookie")) return false;
  const trusted = trustedOrigins(config);
  const origin = request.headers.get("origin");
  if (origin && origin !== "null") return !trusted.has(origin);
  const from = refererOrigin(request);
  return from === null || !trusted.has(from);
}

/**
 * Page actions: the API rule, and also any POST whose Origin names a site we
 * do not trust (or is `null`), cookie or not. A page form is only ever
 * submitted from our own pages; an anonymous cross-site POST (sign-in,
 * sign-up, forgot-password) is refused with the same 403.
 */
export function isCrossSitePageRequest(request: Request, config: AppConfig): boolean {
  if (SAFE_METHODS.has(request.method)) return false;
  const origin = request.headers.get("origin");
  if (origin) return origin === "null" || !trustedOrigins(config).has(origin);
  return isCrossSiteRequest(request, config);
}

/**
 * Cross-site WebSocket hijacking: a browser sends the victim's cookie with an
 * upgrade from any page and GET is exempt from the CSRF rule, so every
 * upgrade's Origin must be trusted. Browsers always send Origin on a
 * WebSocket; a program with an API key may send none, and is allowed.
 */
export function isCrossSiteUpgrade(request: Request, config: AppConfig): boolean {
  if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") return false;
  const origin = request.headers.get("origin");
  if (origin === null) return false;
  return origin === "null" || !trustedOrigins(config).has(origin);
}
