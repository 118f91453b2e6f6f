import type { RequestContext } from "../context";
import type { CurrentUser } from "../services/account";
import { API_KEY_PREFIX, userForApiKey } from "../services/api-keys";
import { errors } from "../lib/errors";

/** The signed-in user for the API: an API key (`Authorization: Bearer utr_…`) or the session cookie; null if neither. */
export async function findUser(ctx: RequestContext, headers: Headers): Promise<CurrentUser | null> {
  const authz = headers.get("authorization");
  const bearer = authz && /^Bearer\s+(\S+)$/i.exec(authz)?.[1];
  if (bearer?.startsWith(API_KEY_PREFIX)) {
    const user = await userForApiKey(ctx.db, bearer);
    if (!user) throw errors.unauthorized("That API key is not valid.");
    return user;
  }
  return findSessionUser(ctx, headers);
}

/**
 * The signed-in user from the session cookie only. Pages use this: an API key
 * is for programs calling the API, and must not reach page actions (which can
 * mint keys or open billing).
 */
export async function findSessionUser(ctx: RequestContext, headers: Headers): Promise<CurrentUser | null> {
  const session = await ctx.auth().api.getSession({ headers });
  if (!session) return null;
  const u = session.user as typeof session.user & { plan?: string | null };
  return { id: u.id, email: u.email, name: u.name, plan: u.plan ?? "free" };
}

export async function requireUser(ctx: RequestContext, headers: Headers): Promise<CurrentUser> {
  const user = await findUser(ctx, headers);
  if (!user) throw errors.unauthorized();
  return user;
}
