import { describe, expect, it } from "vitest";
import { ApiErrorBody } from "../../worker/lib/errors";
import { call, signUp } from "../support/http";

describe("API basics", () => {
  it("health checks D1 and R2 and reports the version", async () => {
    const res = await call("/api/health");
    expect(res.status).toBe(200);
    const body = (await res.json()) as { status: string; version: string; checks: { d1: { ok: boolean }; r2: { ok: boolean } } };
    expect(body.status).toBe("ok");
    expect(body.checks.d1.ok).toBe(true);
    expect(body.checks.r2.ok).toBe(true);
    expect(typeof body.version).toBe("string");
    expect(res.headers.get("x-request-id")).toMatch(/^[A-Za-z0-9-]+$/);
  });

  it("/api/me without a session is 401 in the JSON error shape", async () => {
    const res = await call("/api/me");
    expect(res.status).toBe(401);
    const body = ApiErrorBody.parse(await res.json());
    expect(body.error.code).toBe("unauthorized");
    expect(body.error.message.length).toBeGreaterThan(0);
  });

  it("an unknown API route is a JSON 404", async () => {
    const res = await call("/api/nope");
    expect(res.status).toBe(404);
    expect(ApiErrorBody.parse(await res.json()).error.code).toBe("not_found");
  });

  it("lists the supported languages", async () => {
    const res = await call("/api/languages");
    const body = (await res.json()) as { languages: { code: string }[] };
    expect(body.languages.map((l) => l.code)).toEqual(["auto", "en", "zh", "ja", "ko", "de", "fr", "ru", "pt", "es", "it"]);
  });

  it("renders the landing page through Remix", async () => {
    const res = await call("/");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/text\/html/);
    const html = await res.text();
    expect(html).toContain("Your voice, reading anything.");
    expect(res.headers.get("x-request-id")).toBeTruthy();
  });
});

describe("validation", () => {
  it("a malformed body is a 400 that names the bad field", async () => {
    const user = await signUp("validate");
    const res = await call("/api/me", { method: "PATCH", cookie: user.cookie, json: { name: 42 } });
    expect(res.status).toBe(400);
    const body = ApiErrorBody.parse(await res.json());
    expect(body.error.code).toBe("invalid_request");
    expect(body.error.message).toContain("name");
    expect(body.error.details).toEqual({ fields: [expect.objectContaining({ field: "name" })] });
  });

  it("a body that is not JSON is a 400", async () => {
    const user = await signUp("notjson");
    const res = await call("/api/me", { method: "PATCH", cookie: user.cookie, body: "{nope", headers: { "content-type": "application/json" } });
    expect(res.status).toBe(400);
    expect(ApiErrorBody.parse(await res.json()).error.code).toBe("invalid_json");
  });

  it("unknown fields are refused rather than silently dropped", async () => {
    const user = await signUp("strict");
    const res = await call("/api/me", { method: "PATCH", cookie: user.cookie, json: { name: "Ok", plan: "studio" } });
    expect(res.status).toBe(400);
    const me = (await (await call("/api/me", { cookie: user.cookie })).json()) as { plan: { id: string } };
    expect(me.plan.id).toBe("free");
  });

  it("a valid update is applied", async () => {
    const user = await signUp("rename");
    const res = await call("/api/me", { method: "PATCH", cookie: user.cookie, json: { name: "  New Name " } });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { user: { name: string } }).user.name).toBe("New Name");
  });
});
