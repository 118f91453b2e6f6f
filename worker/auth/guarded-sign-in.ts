import type { RequestContext } from "../context";
import { isKnownDevice, knownDeviceCookie } from "./known-device";
import { createSignInThrottle } from "./sign-in-throttle";

/**
 * One email+password attempt, for the API route and the sign-in page alike:
 * refused with a 429 (AppError) while the account must wait, unless this
 * browser signed in to it before; a wrong password counts against the
 * account; a right one clears the count and marks the browser as known.
 * `attempt` is better-auth's sign-in, answering a Response.
 */
export async function guardedSignIn(ctx: RequestContext, request: Request, email: string, attempt: () => Promise<Response>): Promise<Response> {
  const throttle = createSignInThrottle(ctx.db);
  if (!(await isKnownDevice(ctx.config, request.headers, email))) await throttle.check(email);
  const res = await attempt();
  if (res.status === 401) {
    await throttle.recordFailure(email);
    return res;
  }
  if (!res.ok) return res;
  await throttle.recordSuccess(email);
  const headers = new Headers(res.headers);
  headers.append("Set-Cookie", await knownDeviceCookie(ctx.config, email));
  return new Response(res.body, { status: res.status, statusText: res.statusText, headers });
}
