import { createExecutionContext } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import worker from "../../worker/index";
import { describe, expect, it } from "vitest";
import { ApiErrorBody } from "../../worker/lib/errors";
import { installFakeEngine } from "../support/fake-engine";
import { createVoice } from "../support/factories";
import { call, form, ORIGIN, signUp, uniqueEmail, type TestUser } from "../support/http";

async function startTask(user: TestUser): Promise<string> {
  const voice = await createVoice(user.id);
  const res = await call("/api/generations", { method: "POST", cookie: user.cookie, json: { voice_id: voice.id, text: "Hello there.", language: "en" } });
  expect(res.status).toBe(202);
  return ((await res.json()) as { task_id: string }).task_id;
}

function upgrade(taskId: string, headers: Record<string, string>) {
  return exports.default.fetch(new Request(`${ORIGIN}/api/tasks/${taskId}/ws`, { headers: { upgrade: "websocket", ...headers } }));
}

describe("WebSocket upgrades check the Origin (cross-site WebSocket hijacking)", () => {
  it("refuses the owner's cookie from a foreign or null Origin with 403 and no snapshot", async () => {
    installFakeEngine();
    const user = await signUp("wsorigin");
    const taskId = await startTask(user);
    for (const origin of ["http://evil.test", "null", "http://localhost:8787.evil.test", "https://localhost:8787"]) {
      const res = await upgrade(taskId, { cookie: user.cookie, origin });
      expect(res.status, origin).toBe(403);
      expect(res.webSocket, origin).toBeNull();
      const body = ApiErrorBody.parse(await res.json());
      expect(body.error.code).toBe("cross_site_request");
    }
  });

  it("accepts the owner from our own origin, and a program with no Origin", async () => {
    installFakeEngine();
    const user = await signUp("wsok");
    const taskId = await startTask(user);
    for (const headers of [{ cookie: user.cookie, origin: ORIGIN }, { cookie: user.cookie }] as Record<string, string>[]) {
      const res = await upgrade(taskId, headers);
      expect(res.status).toBe(101);
      res.webSocket?.accept();
      res.webSocket?.close(1000, "done");
    }
  });
});

describe("security headers", () => {
  it("every page carries a nonce CSP, frame-ancestors 'none', DENY framing and nosniff, and its scripts carry the nonce", async () => {
    const user = await signUp("headers");
    for (const [path, cookie] of [
      ["/", undefined],
      ["/sign-in", undefined],
      ["/pricing", undefined],
      ["/docs/api", undefined],
      ["/account", user.cookie],
      ["/voices", user.cookie],
    ] as const) {
      const res = await call(path, { cookie });
      const csp = res.headers.get("content-security-policy") ?? "";
      expect(csp, path).toContain("frame-ancestors 'none'");
      expect(csp, path).toContain("object-src 'none'");
      const nonce = /'nonce-([A-Za-z0-9+/=]+)'/.exec(csp)?.[1];
      expect(nonce, path).toBeTruthy();
      expect(csp, path).not.toMatch(/script-src[^;]*'unsafe-inline'/);
      expect(res.headers.get("x-frame-options"), path).toBe("DENY");
      expect(res.headers.get("x-content-type-options"), path).toBe("nosniff");
      // APP_URL is http in tests: no HSTS (it would pin localhost to https).
      expect(res.headers.get("strict-transport-security"), path).toBeNull();
      const html = await res.text();
      const scripts = [...html.matchAll(/<script\b[^>]*>/g)].map((m) => m[0]);
      expect(scripts.length, path).toBeGreaterThan(0);
      for (const tag of scripts) {
        if (/\bsrc=/.test(tag) && !/type="module"/.test(tag)) continue;
        expect(tag, path).toContain(`nonce="${nonce}"`);
      }
    }
  });

  it("a fresh nonce per response", async () => {
    const a = (await call("/sign-in")).headers.get("content-security-policy");
    const b = (await call("/sign-in")).headers.get("content-security-policy");
    expect(a).not.toBe(b);
  });

  it("authenticated JSON is nosniff and no-store", async () => {
    const user = await signUp("jsonheaders");
    for (const path of ["/api/me", "/api/voices", "/api/generations", "/api/credits/ledger", "/api/keys"]) {
      const res = await call(path, { cookie: user.cookie });
      expect(res.status, path).toBe(200);
      expect(res.headers.get("x-content-type-options"), path).toBe("nosniff");
      expect(res.headers.get("cache-control"), path).toBe("no-store");
    }
    const refused = await call("/api/me");
    expect(refused.status).toBe(401);
    expect(refused.headers.get("cache-control")).toBe("no-store");
  });
});

describe("page actions and foreign origins", () => {
  it("a cross-site page POST without a cookie is a 403, not a 500, and signs nobody in", async () => {
    const user = await signUp("cookieless");
    for (const origin of ["http://evil.test", "null"]) {
      const res = await call("/sign-in", { method: "POST", origin, ...form({ email: user.email, password: user.password }) });
      expect(res.status, origin).toBe(403);
      expect(res.headers.getSetCookie(), origin).toEqual([]);
      expect(res.headers.get("content-security-policy")).toContain("frame-ancestors 'none'");
    }
    const signUpRes = await call("/sign-up", { method: "POST", origin: "http://evil.test", ...form({ name: "x", email: uniqueEmail("csrfsignup"), password: "long enough pw" }) });
    expect(signUpRes.status).toBe(403);
  });
});

describe("TRUSTED_ORIGINS on page actions", () => {
  it("a page POST from a second trusted origin runs the action (not Remix's 500); from an untrusted one it is a 403", async () => {
    const user = await signUp("secondorigin");
    const second = "http://127.0.0.1:8787";
    const post = (trustedOrigins: string) => {
      const e = { ...env, TRUSTED_ORIGINS: trustedOrigins } as Env;
      const body = new FormData();
      body.set("email", user.email);
      body.set("password", user.password);
      const req = new Request(`${ORIGIN}/sign-in`, { method: "POST", body, headers: { origin: second, host: "localhost:8787" }, redirect: "manual" });
      const ctx = createExecutionContext();
      return worker.fetch(req as Request<unknown, IncomingRequestCfProperties>, e, ctx);
    };
    const trusted = await post(`${ORIGIN},${second}`);
    expect(trusted.status).toBe(302);
    expect(trusted.headers.getSetCookie().length).toBeGreaterThan(0);
    const untrusted = await post(ORIGIN);
    expect(untrusted.status).toBe(403);
    expect(untrusted.headers.getSetCookie()).toEqual([]);
  });
});

describe("HSTS where the site is https", () => {
  it("pages and JSON carry Strict-Transport-Security when APP_URL is https", async () => {
    const https = "https://utter.example";
    const e = { ...env, APP_URL: https, TRUSTED_ORIGINS: https } as unknown as Env;
    for (const path of ["/sign-in", "/api/billing/plans"]) {
      const ctx = createExecutionContext();
      const res = await worker.fetch(new Request(`${https}${path}`, { headers: { host: "utter.example" } }) as Request<unknown, IncomingRequestCfProperties>, e, ctx);
      expect(res.status, path).toBe(200);
      expect(res.headers.get("strict-transport-security"), path).toMatch(/max-age=\d{7,}/);
      await res.text();
    }
  });
});
