import { data, redirect, type AppLoadContext } from "@remix-run/cloudflare";
import { findSessionUser } from "../../worker/auth/session";
import { isCrossSiteRequest } from "../../worker/lib/origin";
import type { CurrentUser } from "../../worker/services/account";

/**
 * The signed-in user for a page, or a redirect to the sign-in page that comes
 * back here afterwards. (`requireUser` answers the API's 401; pages redirect.)
 */
export async function requirePageUser(context: AppLoadContext, request: Request): Promise<CurrentUser> {
  const user = await findSessionUser(context.app, request.headers);
  if (user) return user;
  const url = new URL(request.url);
  throw redirect(`/sign-in?redirectTo=${encodeURIComponent(url.pathname + url.search)}`);
}

/**
 * CSRF defence for page actions, the same rule the API applies (DESIGN §7):
 * a cookie-carrying POST must come from one of our origins.
 */
export function assertSameOrigin(context: AppLoadContext, request: Request): void {
  if (isCrossSiteRequest(request, context.app.config)) {
    throw data("This request came from a site we do not trust.", { status: 403 });
  }
}

/** Both checks every page action starts with. */
export async function requireActionUser(context: AppLoadContext, request: Request): Promise<CurrentUser> {
  assertSameOrigin(context, request);
  return requirePageUser(context, request);
}
