import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createDb } from "../../worker/db/client";
import { keyForBearer, LAST_USED_RESOLUTION_MS } from "../../worker/services/api-keys";
import { ApiErrorBody } from "../../worker/lib/errors";
import { createVoice } from "../support/factories";
import { call, signUp } from "../support/http";

describe("API keys", () => {
  it("a key made in a session works as a Bearer on the API and can be revoked", async () => {
    const user = await signUp("apikey");
    const made = await call("/api/keys", { method: "POST", cookie: user.cookie, json: { name: "CI" } });
    expect(made.status).toBe(201);
    const { key } = (await made.json()) as { key: { id: string; key: string; prefix: string } };
    expect(key.key).toMatch(/^utr_[0-9a-f]{40}$/);

    const me = await call("/api/me", { origin: null, headers: { authorization: `Bearer ${key.key}` } });
    expect(me.status).toBe(200);
    expect(((await me.json()) as { user: { email: string } }).user.email).toBe(user.email);

    // the key itself is never listed again
    const listed = (await (await call("/api/keys", { cookie: user.cookie })).json()) as { keys: Record<string, unknown>[] };
    expect(listed.keys).toHaveLength(1);
    expect(JSON.stringify(listed)).not.toContain(key.key);
    expect(listed.keys[0]!.prefix).toBe(key.prefix);

    // a key cannot manage keys
    expect((await call("/api/keys", { origin: null, headers: { authorization: `Bearer ${key.key}` } })).status).toBe(403);

    expect((await call(`/api/keys/${key.id}`, { method: "DELETE", cookie: user.cookie })).status).toBe(204);
    const after = await call("/api/me", { origin: null, headers: { authorization: `Bearer ${key.key}` } });
    expect(after.status).toBe(401);
    expect(ApiErrorBody.parse(await after.json()).error.message).toContain("API key");
  });

  it("a key reaches only its owner's data, and another user cannot revoke it", async () => {
    const owner = await signUp("keyowner");
    const other = await signUp("keyother");
    const voice = await createVoice(other.id);
    const { key } = (await (await call("/api/keys", { method: "POST", cookie: owner.cookie, json: { name: "k" } })).json()) as {
      key: { id: string; key: string };
    };
    expect((await call(`/api/voices/${voice.id}`, { origin: null, headers: { authorization: `Bearer ${key.key}` } })).status).toBe(404);
    expect((await call(`/api/keys/${key.id}`, { method: "DELETE", cookie: other.cookie })).status).toBe(404);
    expect((await call("/api/me", { origin: null, headers: { authorization: `Bearer ${key.key}` } })).status).toBe(200);
  });

  it("moves a key's last use at most once a minute, so a program's reads make no write each", async () => {
    const user = await signUp("apikey-used");
    const made = (await (await call("/api/keys", { method: "POST", cookie: user.cookie, json: { name: "loop" } })).json()) as { key: { id: string; key: string } };
    const lastUsed = async () =>
      (await env.DB.prepare("SELECT last_used_at AS t FROM api_keys WHERE id = ?1").bind(made.key.id).first<{ t: number | null }>())!.t;
    expect(await lastUsed()).toBeNull();
    const db = createDb(env.DB);
    const t0 = Date.UTC(2030, 0, 1);
    expect((await keyForBearer(db, made.key.key, { now: t0 }))?.user.id).toBe(user.id);
    expect(await lastUsed()).toBe(t0);
    await keyForBearer(db, made.key.key, { now: t0 + LAST_USED_RESOLUTION_MS - 1 });
    expect(await lastUsed()).toBe(t0);
    await keyForBearer(db, made.key.key, { now: t0 + LAST_USED_RESOLUTION_MS });
    expect(await lastUsed()).toBe(t0 + LAST_USED_RESOLUTION_MS);
    // Over HTTP the write happens after the answer; the list shows it.
    await env.DB.prepare("UPDATE api_keys SET last_used_at = NULL WHERE id = ?1").bind(made.key.id).run();
    expect((await call("/api/me", { origin: null, headers: { authorization: `Bearer ${made.key.key}` } })).status).toBe(200);
    let listed: string | null = null;
    for (let i = 0; i < 50 && !listed; i++) {
      const keys = ((await (await call("/api/keys", { cookie: user.cookie })).json()) as { keys: { last_used_at: string | null }[] }).keys;
      listed = keys[0]!.last_used_at;
      if (!listed) await new Promise((r) => setTimeout(r, 20));
    }
    expect(listed).not.toBeNull();
  });

  it("refuses a made-up key", async () => {
    const res = await call("/api/me", { origin: null, headers: { authorization: `Bearer utr_${"0".repeat(40)}` } });
    expect(res.status).toBe(401);
  });
});

describe("API keys page", () => {
  it("creates a key shown once, then revokes it", async () => {
    const user = await signUp("keyspage");
    const page = await call("/account/keys", { cookie: user.cookie });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain("No keys yet.");
    const form = new FormData();
    form.set("intent", "create");
    form.set("name", "script");
    form.append("scope", "speech");
    form.append("scope", "voices:read");
    const made = await call("/account/keys", { method: "POST", cookie: user.cookie, body: form });
    const html = await made.text();
    const key = /utr_[0-9a-f]{40}/.exec(html)?.[0];
    expect(key).toBeDefined();
    expect((await call("/api/me", { origin: null, headers: { authorization: `Bearer ${key}` } })).status).toBe(200);
    const listed = await (await call("/account/keys", { cookie: user.cookie })).text();
    expect(listed).not.toContain(key!);
    const { keys } = (await (await call("/api/keys", { cookie: user.cookie })).json()) as { keys: { id: string }[] };
    const del = new FormData();
    del.set("intent", "delete");
    del.set("id", keys[0]!.id);
    await (await call("/account/keys", { method: "POST", cookie: user.cookie, body: del })).text();
    expect((await call("/api/me", { origin: null, headers: { authorization: `Bearer ${key}` } })).status).toBe(401);
  });

  it("Revoke without JavaScript asks first and revokes nothing; it never names another user's key", async () => {
    const owner = await signUp("keysask");
    const other = await signUp("keysnosy");
    const { key: made } = (await (
      await call("/api/keys", { method: "POST", cookie: owner.cookie, json: { name: "owner's secret script" } })
    ).json()) as {
      key: { id: string; key: string };
    };
    const ask = (cookie: string) => {
      const form = new FormData();
      form.set("intent", "confirm-revoke");
      form.set("id", made.id);
      return call("/account/keys", { method: "POST", cookie, body: form });
    };
    const html = await (await ask(owner.cookie)).text();
    expect(html).toContain("Revoke “owner&#x27;s secret script”?");
    expect(html).toContain("This cannot be undone.");
    expect((await call("/api/me", { origin: null, headers: { authorization: `Bearer ${made.key}` } })).status).toBe(200);
    const nosy = await (await ask(other.cookie)).text();
    expect(nosy).toContain("That key no longer exists.");
    expect(nosy).not.toContain("owner&#x27;s secret script");
    expect((await call("/api/me", { origin: null, headers: { authorization: `Bearer ${made.key}` } })).status).toBe(200);
  });

  it("signed-out visitors are sent to sign in", async () => {
    const res = await call("/account/keys");
    expect(res.status).toBe(302);
    expect(res.headers.get("location")).toBe("/sign-in?redirectTo=%2Faccount%2Fkeys");
  });
});

describe("API keys stay out of pages", () => {
  it("a bearer key cannot drive page actions (e.g. mint another key from /account/keys)", async () => {
    const user = await signUp("keypage-bearer");
    const { key } = (await (await call("/api/keys", { method: "POST", cookie: user.cookie, json: { name: "k" } })).json()) as {
      key: { key: string };
    };
    const form = new FormData();
    form.set("intent", "create");
    form.set("name", "minted");
    const res = await call("/account/keys", { method: "POST", body: form, headers: { authorization: `Bearer ${key.key}` } });
    expect(res.status).toBe(302);
    expect(res.headers.get("location")).toMatch(/^\/sign-in/);
    const { keys } = (await (await call("/api/keys", { cookie: user.cookie })).json()) as { keys: unknown[] };
    expect(keys).toHaveLength(1);
  });
});
