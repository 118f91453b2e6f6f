import type { RequestContext } from "../context";
import type { CurrentUser } from "../services/account";
import { API_KEY_PREFIX, keyForBearer } from "../services/api-keys";
import { AppError, errors } from "../lib/errors";
import type { Access, ApiKeyScope } from "./scopes";

export interface SessionOptions {
  /**
   * For a write that checks the session row itself, in the same D1 batch as
   * its effects (task creation): identity from the signed cache, and the
   * user carries `unverifiedSession` for that check.
   */
  verifyInBatch?: boolean;
}

/** Who is calling: a browser session, or an API key with its scopes. */
export type Caller = CurrentUser & ({ via: "session" } | { via: "api_key"; scopes: ApiKeyScope[] });

function bearerOf(headers: Headers): string | null {
  const authz = headers.get("authorization");
  return (authz && /^Bearer\s+(\S+)$/i.exec(authz)?.[1]) || null;
}

/** A key's "last used" write, after the answer; a failure there only costs that timestamp. */
function touchLater(ctx: RequestContext, work: Promise<unknown>): Promise<unknown> {
  return work.catch((err: unknown) => ctx.log.warn("api_key.touch_failed", { error: String(err) }));
}

/** The caller for the API: an API key (`Authorization: Bearer utr_…`) or the session cookie; null if neither. */
export async function findUser(ctx: RequestContext, headers: Headers, opts: SessionOptions = {}): Promise<Caller | null> {
  const bearer = bearerOf(headers);
  if (bearer?.startsWith(API_KEY_PREFIX)) {
    const found = await keyForBearer(ctx.db, bearer, { defer: (work) => ctx.waitUntil(touchLater(ctx, work)) });
    if (!found) throw errors.unauthorized("That API key is not valid.");
    return { ...found.user, via: "api_key", scopes: found.scopes };
  }
  const user = await findSessionUser(ctx, headers, opts);
  return user ? { ...user, via: "session" } : null;
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

/**
 * The caller, allowed to do what the route needs (`access`, stated by every
 * route): 401 when nobody is signed in, 403 `session_required` when an API
 * key calls a session-only route, 403 `insufficient_scope` when the key lacks the scope.
 */
export async function requireUser(ctx: RequestContext, headers: Headers, access: Access, opts: SessionOptions = {}): Promise<CurrentUser> {
  const caller = await findUser(ctx, headers, opts);
  if (!caller) throw errors.unauthorized();
  assertAccess(caller, access);
  return caller;
}

/** Throws unless `caller` may do what `access` names (see requireUser); for callers found another way (MCP, /v1). */
export function assertAccess(caller: Caller, access: Access): void {
  if (caller.via === "session" || access === "any") return;
  if (access === "session") {
    throw new AppError("session_required", 403, "Billing, API keys and account changes need a signed-in browser session; an API key cannot do this.");
  }
  const wanted: readonly ApiKeyScope[] = typeof access === "string" ? [access] : access;
  if (!wanted.some((s) => caller.scopes.includes(s))) {
    const names = wanted.map((s) => `"${s}"`).join(" or ");
    throw new AppError("insufficient_scope", 403, `This API key lacks the ${names} scope. Make a key with it on your API keys page.`, {
      required: wanted,
      granted: caller.scopes,
    });
  }
}

/** The caller of an API-key-only surface (MCP, /v1): a key as the bearer, never a cookie; null without one. */
export async function findApiKeyCaller(ctx: RequestContext, headers: Headers): Promise<Extract<Caller, { via: "api_key" }> | null> {
  const bearer = bearerOf(headers);
  if (!bearer?.startsWith(API_KEY_PREFIX)) return null;
  const found = await keyForBearer(ctx.db, bearer, { defer: (work) => ctx.waitUntil(touchLater(ctx, work)) });
  return found ? { ...found.user, via: "api_key", scopes: found.scopes } : null;
}
