import type { RequestContext } from "../context";
import type { CurrentUser } from "../services/account";
import { errors } from "../lib/errors";

/** The signed-in user from the session cookie, or null. */
export async function findUser(ctx: RequestContext, headers: Headers): Promise<CurrentUser | null> {
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
