import type { AppConfig } from "./config";

/** A fresh nonce per page response: Remix's inline hydration scripts carry it, nothing else may run. */
export function newCspNonce(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

/**
 * Where a page's forms may send the browser: our own origin, plus the OAuth
 * providers and Stripe pages that sign-in and billing redirect to after a
 * POST (Chromium applies `form-action` to the redirect too).
 */
function formTargets(config: AppConfig): string[] {
  const out = ["'self'"];
  if (config.GITHUB_CLIENT_ID) out.push("https://github.com");
  if (config.GOOGLE_CLIENT_ID) out.push("https://accounts.google.com");
  if (config.STRIPE_SECRET_KEY) out.push("https://checkout.stripe.com", "https://billing.stripe.com");
  return out;
}

function socketOrigin(appUrl: string): string {
  const u = new URL(appUrl);
  return `${u.protocol === "https:" ? "wss:" : "ws:"}//${u.host}`;
}

/**
 * The Content-Security-Policy of every page. Scripts: our bundle and the
 * nonce'd inline scripts Remix writes. Styles allow inline because React
 * renders `style` attributes and wavesurfer.js puts a <style> in its shadow
 * root; styles cannot run code. Audio and waveforms play from blob: URLs
 * (recordings, decoded previews). `frame-ancestors 'none'`: no site may frame us.
 */
export function contentSecurityPolicy(config: AppConfig, nonce: string): string {
  return [
    "default-src 'self'",
    `script-src 'self' 'nonce-${nonce}'`,
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:",
    "media-src 'self' blob: data:",
    "font-src 'self'",
    `connect-src 'self' ${socketOrigin(config.APP_URL)} blob:`,
    "worker-src 'self' blob:",
    "object-src 'none'",
    "base-uri 'self'",
    `form-action ${formTargets(config).join(" ")}`,
    "frame-ancestors 'none'",
  ].join("; ");
}

/** Headers every HTML page (and the Worker's own plain-text error pages) carries. */
export function pageSecurityHeaders(config: AppConfig, nonce: string): Record<string, string> {
  const headers: Record<string, string> = {
    "Content-Security-Policy": contentSecurityPolicy(config, nonce),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "Permissions-Policy": "microphone=(self), camera=(), geolocation=()",
    "Cross-Origin-Opener-Policy": "same-origin",
  };
  Object.assign(headers, transportHeaders(config));
  return headers;
}

/** HSTS only where the site is served over HTTPS (never on http://localhost). */
export function transportHeaders(config: Pick<AppConfig, "APP_URL">): Record<string, string> {
  return config.APP_URL.startsWith("https://") ? { "Strict-Transport-Security": "max-age=31536000; includeSubDomains" } : {};
}
