import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { ApiErrorBody } from "../../worker/lib/errors";
import { installFakeEngine } from "../support/fake-engine";
import { createVoice } from "../support/factories";
import { call, cookieFrom, form, signUp, type TestUser } from "../support/http";

// The auth limiter allows 20 a minute in fixed windows of real time: a loop that straddles a window's
// end starts counting again, so it may take up to 2 × 20 + 1 calls to be refused (under load, it did).
const LIMIT_TRIES = 45;

function signIn(email: string, password: string, ip: string, cookie?: string) {
  return call("/api/auth/sign-in/email", { method: "POST", json: { email, password }, cookie, headers: { "cf-connecting-ip": ip } });
}

async function knownDevice(user: TestUser): Promise<string> {
  const res = await signIn(user.email, user.password, "198.51.100.1");
  expect(res.status).toBe(200);
  return cookieFrom(res);
}

describe("sign-in is throttled per account as well as per IP", () => {
  it("300 wrong passwords for one account from 300 IPs: only a handful are even checked", async () => {
    const user = await signUp("throttled");
    const device = await knownDevice(user);
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    for (let i = 0; i < 300; i++) {
      const res = await signIn(user.email, `wrong password ${i}`, `203.0.${Math.floor(i / 250)}.${(i % 250) + 1}`);
      statuses.push(res.status);
      if (res.status === 429) {
        retryAfter ??= res.headers.get("retry-after");
        expect(ApiErrorBody.parse(await res.json()).error.code).toBe("rate_limited");
      } else await res.body?.cancel();
    }
    const checked = statuses.filter((s) => s === 401).length;
    // 5 free failures, the 6th starts a 2 s wait that doubles; the loop outlives a few waits at most.
    expect(checked).toBeGreaterThanOrEqual(6);
    expect(checked).toBeLessThanOrEqual(12);
    expect(statuses.filter((s) => s === 429).length).toBe(300 - checked);
    expect(Number(retryAfter)).toBeGreaterThan(0);

    // The right password from a new browser waits too (the attacker cannot tell it apart)…
    const stranger = await signIn(user.email, user.password, "198.51.100.7");
    expect(stranger.status).toBe(429);
    expect(stranger.headers.getSetCookie()).toEqual([]);
    // …but the owner's browser, which signed in before, is not locked out.
    const owner = await signIn(user.email, user.password, "198.51.100.8", device);
    expect(owner.status).toBe(200);
    // and a right password clears the count.
    const row = await env.DB.prepare("SELECT count(*) AS n FROM sign_in_failures WHERE account = ?1").bind(user.email.toLowerCase()).first<{ n: number }>();
    expect(row?.n).toBe(0);
  });

  it("the sign-in page answers 429 with Retry-After, not a 200", async () => {
    const user = await signUp("throttledpage");
    for (let i = 0; i < 6; i++) {
      const res = await call("/sign-in", { method: "POST", headers: { "cf-connecting-ip": `192.0.2.${i + 1}` }, ...form({ email: user.email, password: "nope nope" }) });
      expect(res.status).toBe(200);
      await res.text();
    }
    const res = await call("/sign-in", { method: "POST", headers: { "cf-connecting-ip": "192.0.2.99" }, ...form({ email: user.email, password: user.password }) });
    expect(res.status).toBe(429);
    expect(Number(res.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(res.headers.getSetCookie()).toEqual([]);
    expect(await res.text()).toContain("Too many wrong passwords for this account");
  });

  it("the per-IP limit answers the page with 429 and Retry-After too", async () => {
    const user = await signUp("iplimit");
    let last: Response | null = null;
    for (let i = 0; i < LIMIT_TRIES; i++) {
      last = await call("/forgot-password", { method: "POST", headers: { "cf-connecting-ip": "192.0.2.250" }, ...form({ email: user.email }) });
      if (last.status === 429) break;
      await last.text();
    }
    expect(last?.status).toBe(429);
    expect(last?.headers.get("retry-after")).toBe("60");
  });

  it("the client IP is CF-Connecting-IP only: a forged X-Forwarded-For changes nothing", async () => {
    const user = await signUp("xff");
    for (let i = 0; i < LIMIT_TRIES; i++) {
      const res = await call("/api/auth/sign-in/email", {
        method: "POST",
        json: { email: `nobody-${i}@example.com`, password: "x" },
        headers: { "cf-connecting-ip": "192.0.2.251", "x-forwarded-for": `10.0.0.${i}`, "x-real-ip": `10.1.0.${i}` },
      });
      await res.body?.cancel();
      if (res.status === 429) return expect(user).toBeTruthy();
    }
    throw new Error("the per-IP limit never applied");
  });
});

describe("password change signs out other sessions", () => {
  it("revokes every other session by default", async () => {
    const user = await signUp("pwchange");
    const other = cookieFrom(await signIn(user.email, user.password, "198.51.100.20"));
    expect((await call("/api/me", { cookie: other })).status).toBe(200);
    const res = await call("/api/auth/change-password", {
      method: "POST",
      cookie: user.cookie,
      json: { currentPassword: user.password, newPassword: "a brand new password" },
    });
    expect(res.status).toBe(200);
    // Its session row is gone: every write checks the row (ADR 0017), so the other session can change nothing.
    // (A read may still pass on the signed cookie cache until it expires, at most 5 minutes.)
    const write = await call("/api/me", { method: "PATCH", cookie: other, json: { name: "Taken over" } });
    expect(write.status).toBe(401);
    const sessions = await env.DB.prepare(`SELECT count(*) AS n FROM session WHERE user_id = ?1`).bind(user.id).first<{ n: number }>();
    expect(sessions?.n).toBe(1);
    // The session that changed it carries on with its new cookie.
    expect((await call("/api/me", { cookie: cookieFrom(res) || user.cookie })).status).toBe(200);
  });
});

async function keyWith(user: TestUser, scopes?: string[]): Promise<string> {
  const res = await call("/api/keys", { method: "POST", cookie: user.cookie, json: { name: "k", ...(scopes ? { scopes } : {}) } });
  expect(res.status).toBe(201);
  return ((await res.json()) as { key: { key: string } }).key.key;
}

function withKey(key: string, path: string, init: Parameters<typeof call>[1] = {}) {
  return call(path, { ...init, origin: null, headers: { authorization: `Bearer ${key}` } });
}

describe("API key scopes", () => {
  it("a key cannot reach billing, keys or account changes, whatever its scopes", async () => {
    const user = await signUp("keybilling");
    const key = await keyWith(user);
    const attempts: [string, Promise<Response>][] = [
      ["checkout", withKey(key, "/api/billing/checkout", { method: "POST", json: { pack: "small" } })],
      ["portal", withKey(key, "/api/billing/portal", { method: "POST" })],
      ["keys list", withKey(key, "/api/keys")],
      ["keys create", withKey(key, "/api/keys", { method: "POST", json: { name: "minted" } })],
      ["rename account", withKey(key, "/api/me", { method: "PATCH", json: { name: "Pwned" } })],
    ];
    for (const [what, pending] of attempts) {
      const res = await pending;
      expect(res.status, what).toBe(403);
      expect(ApiErrorBody.parse(await res.json()).error.code, what).toBe("session_required");
    }
    const me = (await (await call("/api/me", { cookie: user.cookie })).json()) as { user: { name: string } };
    expect(me.user.name).toBe("keybilling");
    const keys = (await (await call("/api/keys", { cookie: user.cookie })).json()) as { keys: unknown[] };
    expect(keys.keys).toHaveLength(1);
    const subs = await env.DB.prepare("SELECT count(*) AS n FROM subscriptions WHERE user_id = ?1").bind(user.id).first<{ n: number }>();
    expect(subs?.n).toBe(0);
  });

  it("a key does only what its scopes name", async () => {
    installFakeEngine();
    const user = await signUp("keyscopes");
    const voice = await createVoice(user.id);
    const speechOnly = await keyWith(user, ["speech"]);
    const readOnly = await keyWith(user, ["voices:read"]);

    const speak = await withKey(speechOnly, "/api/generations", { method: "POST", json: { voice_id: voice.id, text: "Hello.", language: "en" } });
    expect(speak.status).toBe(202);
    const refused: [string, Promise<Response>][] = [
      ["list voices", withKey(speechOnly, "/api/voices")],
      ["history", withKey(speechOnly, "/api/generations")],
      ["delete voice", withKey(readOnly, `/api/voices/${voice.id}`, { method: "DELETE" })],
      ["rename voice", withKey(readOnly, `/api/voices/${voice.id}`, { method: "PATCH", json: { name: "x" } })],
      ["speak", withKey(readOnly, "/api/generations", { method: "POST", json: { voice_id: voice.id, text: "Hi.", language: "en" } })],
    ];
    for (const [what, pending] of refused) {
      const res = await pending;
      expect(res.status, what).toBe(403);
      const body = ApiErrorBody.parse(await res.json());
      expect(body.error.code, what).toBe("insufficient_scope");
      expect(body.error.message, what).toContain("scope");
    }
    expect((await withKey(readOnly, "/api/voices")).status).toBe(200);
    expect((await call(`/api/voices/${voice.id}`, { cookie: user.cookie })).status).toBe(200);
    const list = (await (await call("/api/generations", { cookie: user.cookie })).json()) as { generations: unknown[] };
    expect(list.generations).toHaveLength(1);
  });

  it("refuses an unknown scope and an empty list", async () => {
    const user = await signUp("keybadscope");
    for (const scopes of [["billing"], [], ["speech", "admin"]]) {
      const res = await call("/api/keys", { method: "POST", cookie: user.cookie, json: { name: "k", scopes } });
      expect(res.status, JSON.stringify(scopes)).toBe(400);
    }
  });

  it("keys made before scopes existed keep speech, voices and history (ADR 0015)", async () => {
    const user = await signUp("oldkey");
    await env.DB.prepare("INSERT INTO api_keys (id, user_id, name, hash, prefix, created_at) VALUES ('key_old', ?1, 'old', 'hash-old', 'utr_old', 0)").bind(user.id).run();
    const { keys } = (await (await call("/api/keys", { cookie: user.cookie })).json()) as { keys: { scopes: string[] }[] };
    expect(keys[0]!.scopes).toEqual(["speech", "voices:read", "voices:write", "history"]);
  });

  it("the keys page lists each key's scopes and makes keys with the ones ticked", async () => {
    const user = await signUp("keyspagescopes");
    const body = new FormData();
    body.set("intent", "create");
    body.set("name", "reader");
    body.append("scope", "voices:read");
    body.append("scope", "history");
    const made = await call("/account/keys", { method: "POST", cookie: user.cookie, body });
    expect(made.status).toBe(200);
    const { keys } = (await (await call("/api/keys", { cookie: user.cookie })).json()) as { keys: { scopes: string[] }[] };
    expect(keys[0]!.scopes).toEqual(["voices:read", "history"]);
    const html = await (await call("/account/keys", { cookie: user.cookie })).text();
    expect(html).toMatch(/data-testid="key-scopes">.*voices:read.*history/s);
    const none = new FormData();
    none.set("intent", "create");
    none.set("name", "nothing");
    expect(await (await call("/account/keys", { method: "POST", cookie: user.cookie, body: none })).text()).toContain("Choose at least one thing the key may do.");
  });
});
