import type { RequestContext } from "../worker/context";

declare module "@remix-run/cloudflare" {
  interface AppLoadContext {
    cloudflare: { env: Env; ctx: ExecutionContext };
    /** The same per-request context the API handlers use. */
    app: RequestContext;
  }
}
export {};
