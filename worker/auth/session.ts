import type { RequestContext } from "../context";
import type { CurrentUser } from "../services/account";
import { API_KEY_PREFIX, userForApiKey } from "../services/api-keys";
import { errors } from "../lib/errors";

export interface SessionOptions {
  /**
   * For a write that checks the session row itself, in the same D1 batch as
   * its effects (task creation): identity from the signed cache, and the
   * user carries `unverifiedSession` for that check.
   */
  verifyInBatch?: boolean;
}

/** The signed-in user for the API: an API key (`Authorization: Bearer utr_…`) or the session cookie; null if neither. */
export async function findUser(ctx: RequestContext, headers: Headers, opts: SessionOptions = {}): Promise<CurrentUser | null> {
  const authz = headers.get("authorization");
  const bearer = authz && /^Bearer\s+(\S+)$/i.exec(authz)?.[1];
  if (bearer?.startsWith(API_KEY_PREFIX)) {
    const user = await userForApiKey(ctx.db, bearer);
    if (!user) throw errors.unauthorized("That API key is not valid.");
    return user;
  }
  return findSessionUser(ctx, headers, opts);
}

/**
 * The signed-in user from the session cookie only. Pages use this: an API key
 * is for programs calling the API, and must not reach page actions (which can
 * mint keys or open billing).
 */
export async function findSessionUser(ctx: RequestContext, headers: Headers, opts: SessionOptions = {}): Promise<CurrentUser | null> {
  // Reads trust the signed session cookie (no D1 read while it is fresh); writes check the session row,
  // here or (verifyInBatch) in their own batch.
  const fresh = ctx.freshSession && !opts.verifyInBatch;
  const { headers: set, response: session } = await ctx.auth().api.getSession({
    headers,
    query: fresh ? { disableCookieCache: true } : {},
    returnHeaders: true,
  });
  // A cache cookie refreshed from the row goes back to the browser, so its next requests skip D1 again.
  ctx.responseCookies.push(...set.getSetCookie());
  if (!session) return null;
  const u = session.user as typeof session.user & { plan?: string | null };
  const user: CurrentUser = { id: u.id, email: u.email, name: u.name, plan: u.plan ?? "free" };
  if (ctx.freshSession && opts.verifyInBatch) user.unverifiedSession = { token: session.session.token };
  return user;
}

export async function requireUser(ctx: RequestContext, headers: Headers, opts: SessionOptions = {}): Promise<CurrentUser> {
  const user = await findUser(ctx, headers, opts);
  if (!user) throw errors.unauthorized();
  return user;
}
