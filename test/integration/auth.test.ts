import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import worker from "../../worker/index";
import { createVoice } from "../support/factories";
import { call, cookieFrom, ORIGIN, signUp, uniqueEmail } from "../support/http";
import { expectedErrors } from "../support/expected-errors";

// The auth limiter allows 20 a minute in fixed windows of real time: a loop that straddles a window's
// end starts counting again, so it may take up to 2 × 20 + 1 calls to be refused (under load, it did).
const LIMIT_TRIES = 45;

/** What a browser sends after `res`: its Set-Cookie headers applied to `cookie` (expired ones removed). */
function browserCookies(cookie: string, res: Response): string {
  const jar = new Map(cookie.split("; ").filter(Boolean).map((c) => [c.split("=")[0]!, c] as const));
  for (const set of res.headers.getSetCookie()) {
    const pair = set.split(";")[0]!;
    const name = pair.split("=")[0]!;
    if (/max-age=0/i.test(set) || pair.endsWith("=")) jar.delete(name);
    else jar.set(name, pair);
  }
  return [...jar.values()].join("; ");
}

/** The session token cookie alone, without better-auth's signed session cache. */
function withoutCache(cookie: string): string {
  return cookie
    .split("; ")
    .filter((c) => !c.includes("session_data"))
    .join("; ");
}

describe("accounts (better-auth at /api/auth)", () => {
  it("signs up, reads /api/me, signs out and signs back in", async () => {
    const user = await signUp("alice");
    const me = await call("/api/me", { cookie: user.cookie });
    expect(me.status).toBe(200);
    const body = (await me.json()) as { user: { email: string }; plan: { id: string }; credits: { balance: number } };
    expect(body.user.email).toBe(user.email);
    expect(body.plan.id).toBe("free");
    expect(body.credits.balance).toBe(100);

    const out = await call("/api/auth/sign-out", { method: "POST", cookie: user.cookie, json: {} });
    expect(out.status).toBe(200);
    // The browser's cookies after sign-out: both the session and its cached copy are cleared.
    expect(await call("/api/me", { cookie: browserCookies(user.cookie, out) }).then((r) => r.status)).toBe(401);
    // A copy of the old cookies (ADR 0017): the session row is gone, so no write is accepted …
    expect((await call("/api/me", { method: "PATCH", cookie: user.cookie, json: { name: "Mallory" } })).status).toBe(401);
    // … not even a task, whose batch checks the session row itself …
    const voice = await createVoice(user.id);
    const task = await call("/api/generations", { method: "POST", cookie: user.cookie, json: { voice_id: voice.id, text: "Hello.", language: "en" } });
    expect(task.status).toBe(401);
    const held = await env.DB.prepare(`SELECT count(*) AS n FROM tasks WHERE user_id = ?1`).bind(user.id).first<{ n: number }>();
    expect(held?.n).toBe(0);
    // … and without its signed cache (which reads trust for at most SESSION_COOKIE_CACHE_S) nothing is.
    expect((await call("/api/me", { cookie: withoutCache(user.cookie) })).status).toBe(401);

    const back = await call("/api/auth/sign-in/email", { method: "POST", json: { email: user.email, password: user.password } });
    expect(back.status).toBe(200);
    const again = await call("/api/me", { cookie: cookieFrom(back) });
    expect(again.status).toBe(200);
  });

  it("sets an HttpOnly, SameSite=Lax session cookie", async () => {
    const res = await call("/api/auth/sign-up/email", {
      method: "POST",
      json: { email: uniqueEmail("cookie"), password: "long enough pw", name: "C" },
    });
    expect(res.status).toBe(200);
    const session = res.headers.getSetCookie().find((c) => c.includes("session_token="));
    expect(session).toBeDefined();
    expect(session).toMatch(/HttpOnly/i);
    expect(session).toMatch(/SameSite=Lax/i);
    expect(session).toMatch(/Path=\//i);
    // http://localhost in tests: not Secure; production (https APP_URL) uses __Secure- cookies.
    expect(session).not.toMatch(/Secure;/);
  });

  it("refuses a wrong password without a session", async () => {
    const user = await signUp("wrongpw");
    const res = await call("/api/auth/sign-in/email", { method: "POST", json: { email: user.email, password: "not the password" } });
    expect(res.status).toBe(401);
    expect(res.headers.getSetCookie().some((c) => c.includes("session_token=") && !c.includes("Max-Age=0"))).toBe(false);
  });

  it("refuses a duplicate email", async () => {
    const user = await signUp("dup");
    const res = await call("/api/auth/sign-up/email", { method: "POST", json: { email: user.email, password: "another password", name: "Dup" } });
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
    const body = (await res.json()) as { code?: string };
    expect(body.code).toMatch(/ALREADY_EXISTS/);
  });

  it("refuses a sign-up from a foreign Origin", async () => {
    expectedErrors.allow = true; // better-auth logs the refused origin
    const res = await call("/api/auth/sign-up/email", {
      method: "POST",
      origin: "https://evil.example",
      json: { email: uniqueEmail("evil"), password: "long enough pw", name: "E" },
    });
    expect(res.status).toBe(403);
  });

  it("refuses a cookie-carrying state change from a foreign Origin on our API", async () => {
    const user = await signUp("csrf");
    const res = await call("/api/auth/sign-out", { method: "POST", cookie: user.cookie, origin: "https://evil.example", json: {} });
    expect(res.status).toBe(403);
    const body = (await res.json()) as { error: { code: string } };
    expect(body.error.code).toBe("cross_site_request");
    // The session survived.
    expect((await call("/api/me", { cookie: user.cookie })).status).toBe(200);
  });

  it("password reset: the link is mailed (to the outbox in development) and sets a new password", async () => {
    const user = await signUp("reset");
    // Development, no provider: the mail lands in the local outbox (worker/auth/mailer.ts), never in the log.
    const ctx = createExecutionContext();
    const req = new Request(`${ORIGIN}/api/auth/request-password-reset`, {
      method: "POST",
      headers: { "content-type": "application/json", origin: ORIGIN },
      body: JSON.stringify({ email: user.email, redirectTo: "/reset-password" }),
    });
    const res = await worker.fetch(req as Request<unknown, IncomingRequestCfProperties>, { ...env, APP_ENV: "development" } as Env, ctx);
    await waitOnExecutionContext(ctx);
    expect(res.status).toBe(200);
    const mail = await env.DB.prepare("SELECT text FROM dev_outbox WHERE \"to\" = ?1").bind(user.email).first<{ text: string }>();
    expect(mail).not.toBeNull();
    const url = /http:\/\/localhost:8787\/api\/auth\/reset-password\/([A-Za-z0-9_-]+)/.exec(mail!.text);
    expect(url).not.toBeNull();
    const token = url![1]!;
    const reset = await call("/api/auth/reset-password", { method: "POST", json: { token, newPassword: "a brand new password" } });
    expect(reset.status).toBe(200);
    const old = await call("/api/auth/sign-in/email", { method: "POST", json: { email: user.email, password: user.password } });
    expect(old.status).toBe(401);
    const fresh = await call("/api/auth/sign-in/email", { method: "POST", json: { email: user.email, password: "a brand new password" } });
    expect(fresh.status).toBe(200);
  });
});

describe("rate limits", () => {
  it("limits auth attempts per client IP with 429 and Retry-After", async () => {
    const ip = `203.0.113.${Math.floor(Math.random() * 200) + 1}`;
    const statuses: number[] = [];
    let limited: Response | null = null;
    for (let i = 0; i < LIMIT_TRIES; i++) {
      const res = await call("/api/auth/sign-in/email", {
        method: "POST",
        headers: { "cf-connecting-ip": ip },
        json: { email: uniqueEmail("rl"), password: "whatever-password" },
      });
      statuses.push(res.status);
      if (res.status === 429) {
        limited = res;
        break;
      }
      await res.arrayBuffer();
    }
    expect(limited, `statuses: ${statuses.join(",")}`).not.toBeNull();
    expect(limited!.headers.get("retry-after")).toBe("60");
    expect(((await limited!.json()) as { error: { code: string } }).error.code).toBe("rate_limited");
    // another IP is not affected
    const other = await call("/api/auth/sign-in/email", {
      method: "POST",
      headers: { "cf-connecting-ip": "198.51.100.7" },
      json: { email: uniqueEmail("rl"), password: "whatever-password" },
    });
    expect(other.status).toBe(401);
  });
});
