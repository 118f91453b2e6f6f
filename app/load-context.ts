import type { RequestContext } from "../worker/context";

declare module "@remix-run/cloudflare" {
  interface AppLoadContext {
    cloudflare: { env: Env; ctx: ExecutionContext };
    /** The same per-request context the API handlers use. */
    app: RequestContext;
    /** This response's Content-Security-Policy nonce (worker/lib/security-headers.ts). */
    cspNonce: string;
  }
}
export {};
