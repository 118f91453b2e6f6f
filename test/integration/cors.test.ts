import { describe, expect, it } from "vitest";
import { call, signUp } from "../support/http";

const THIRD_PARTY = "https://app.third-party.example";

async function keyFor(tag: string) {
  const user = await signUp(tag);
  const made = await call("/api/keys", { method: "POST", cookie: user.cookie, json: { name: "browser app" } });
  const { key } = (await made.json()) as { key: { key: string } };
  return { user, key: key.key };
}

describe("CORS for API-key clients", () => {
  it("answers a preflight for the API with the methods and headers a key client needs, never credentials", async () => {
    const res = await call("/api/generations", {
      method: "OPTIONS",
      origin: THIRD_PARTY,
      headers: { "access-control-request-method": "POST", "access-control-request-headers": "authorization, content-type" },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get("access-control-allow-origin")).toBe("*");
    expect(res.headers.get("access-control-allow-methods")).toContain("POST");
    expect(res.headers.get("access-control-allow-headers")?.toLowerCase()).toContain("authorization");
    expect(res.headers.get("access-control-allow-credentials")).toBeNull();
    expect(Number(res.headers.get("access-control-max-age"))).toBeGreaterThan(0);
  });

  it("lets a third-party page read a key-authenticated response and its errors", async () => {
    const { user, key } = await keyFor("cors-key");
    const me = await call("/api/me", { origin: THIRD_PARTY, headers: { authorization: `Bearer ${key}` } });
    expect(me.status).toBe(200);
    expect(me.headers.get("access-control-allow-origin")).toBe("*");
    expect(me.headers.get("access-control-allow-credentials")).toBeNull();
    expect(((await me.json()) as { user: { email: string } }).user.email).toBe(user.email);

    const bad = await call("/api/voices/nope", { origin: THIRD_PARTY, headers: { authorization: `Bearer ${key}` } });
    expect(bad.status).toBe(404);
    expect(bad.headers.get("access-control-allow-origin")).toBe("*");
    expect(bad.headers.get("access-control-expose-headers")?.toLowerCase()).toContain("x-request-id");
  });

  it("still refuses a cookie-authenticated change from another site, preflight or not", async () => {
    const { user } = await keyFor("cors-cookie");
    const res = await call("/api/keys", { method: "POST", origin: THIRD_PARTY, cookie: user.cookie, json: { name: "stolen" } });
    expect(res.status).toBe(403);
    expect(res.headers.get("access-control-allow-credentials")).toBeNull();
    const listed = (await (await call("/api/keys", { cookie: user.cookie })).json()) as { keys: unknown[] };
    expect(listed.keys).toHaveLength(1);
  });

  it("offers no CORS on sign-in, Stripe's webhook or the engine callbacks", async () => {
    for (const path of ["/api/auth/sign-in/email", "/api/webhooks/stripe", "/internal/engine/jobs/x/events"]) {
      const res = await call(path, { method: "OPTIONS", origin: THIRD_PARTY, headers: { "access-control-request-method": "POST" } });
      expect(res.headers.get("access-control-allow-origin"), path).toBeNull();
    }
  });
});
