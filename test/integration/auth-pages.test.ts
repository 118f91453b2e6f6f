import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { call, cookieFrom, form, signUp, uniqueEmail } from "../support/http";
import { expectedErrors } from "../support/expected-errors";


describe("auth pages (Remix routes calling the same auth service)", () => {
  it("the sign-up form creates an account and redirects with a session cookie", async () => {
    const email = uniqueEmail("form");
    const res = await call("/sign-up", { method: "POST", ...form({ name: "Form", email, password: "long enough pw" }) });
    expect(res.status).toBe(302);
    expect(res.headers.get("location")).toBe("/");
    const me = await call("/api/me", { cookie: cookieFrom(res) });
    expect(((await me.json()) as { user: { email: string } }).user.email).toBe(email);
  });

  it("shows field errors next to the fields", async () => {
    const res = await call("/sign-up", { method: "POST", ...form({ name: "", email: "not-an-email", password: "short" }) });
    const html = await res.text();
    expect(html).toContain("Enter a valid email address.");
    expect(html).toContain("Use at least 8 characters.");
    expect(html).toContain("Tell us your name.");
    expect(html).toContain('aria-invalid="true"');
  });

  it("the sign-in form says when the password is wrong", async () => {
    const user = await signUp("formsignin");
    const res = await call("/sign-in", { method: "POST", ...form({ email: user.email, password: "wrong password" }) });
    expect(res.status).toBe(200);
    expect(await res.text()).toContain("That email and password do not match.");
  });

  it("the sign-in form signs in and sign-out signs out", async () => {
    const user = await signUp("formcycle");
    const res = await call("/sign-in", { method: "POST", ...form({ email: user.email, password: user.password, redirectTo: "/" }) });
    expect(res.status).toBe(302);
    const cookie = cookieFrom(res);
    expect((await call("/api/me", { cookie })).status).toBe(200);
    const out = await call("/sign-out", { method: "POST", cookie, ...form({}) });
    expect(out.status).toBe(302);
    // Sign-out clears both the session cookie and its signed cache in the browser.
    const cleared = out.headers.getSetCookie().filter((c) => /max-age=0/i.test(c)).map((c) => c.split("=")[0]);
    expect(cleared.some((n) => n?.endsWith("session_token"))).toBe(true);
    expect(cleared.some((n) => n?.endsWith("session_data"))).toBe(true);
    // A kept copy can no longer write, and without the cache cannot read either (ADR 0017).
    expect((await call("/api/me", { method: "PATCH", cookie, json: { name: "Kept copy" } })).status).toBe(401);
    expect((await call("/api/me", { cookie: cookie.split("; ").filter((c) => !c.includes("session_data")).join("; ") })).status).toBe(401);
  });

  it("the forgot-password form answers the same for unknown emails", async () => {
    const res = await call("/forgot-password", { method: "POST", ...form({ email: uniqueEmail("nobody") }) });
    expect(await res.text()).toContain("If an account exists for that email");
  });
});

describe("page actions and CSRF", () => {
  it("refuses a cookie-carrying page POST from a foreign origin before any action runs", async () => {
    const user = await signUp("pagecsrf");
    const res = await call("/sign-out", { method: "POST", cookie: user.cookie, origin: "https://evil.example", ...form({}) });
    expect(res.status).toBe(403);
    expect((await call("/api/me", { cookie: user.cookie })).status).toBe(200);
  });
});

describe("sign-in redirect stays on the site", () => {
  const payloads = ["/%5Cevil.test/", "/\\evil.test/", "/%09/evil.test/", "/\t/evil.test/", "//evil.test", "https://evil.test/", "/\n/evil.test"];

  it.each(payloads)("a redirectTo of %j lands on / after signing in", async (payload) => {
    const user = await signUp("redirect");
    const res = await call("/sign-in", { method: "POST", ...form({ email: user.email, password: user.password, redirectTo: payload }) });
    expect(res.status).toBe(302);
    expect(res.headers.get("location")).toBe("/");
  });

  it("the sign-in page does not echo an unsafe redirectTo into its form", async () => {
    const res = await call(`/sign-in?redirectTo=${encodeURIComponent("/\\evil.test/")}`);
    const html = await res.text();
    // (The page's own URL is in Remix's context; what matters is what the form posts back.)
    expect(html).toMatch(/<input type="hidden" name="redirectTo" value="\/"\/>/);
  });

  it("a same-site redirectTo is honoured", async () => {
    const user = await signUp("redirectok");
    const res = await call("/sign-in", { method: "POST", ...form({ email: user.email, password: user.password, redirectTo: "/history?page=2" }) });
    expect(res.headers.get("location")).toBe("/history?page=2");
  });
});

describe("auth API flows refuse off-site redirect targets too", () => {
  it.each(["/\\evil.test/", "/%5Cevil.test/", "//evil.test/", "https://evil.test/", "/\t/evil.test/"])(
    "a password reset asked with redirectTo %j is refused and makes no reset link",
    async (redirectTo) => {
      expectedErrors.allow = true; // better-auth logs the refusal as an error
      const user = await signUp("resetredirect");
      const res = await call("/api/auth/request-password-reset", { method: "POST", json: { email: user.email, redirectTo } });
      expect(res.status).toBe(403);
      const row = await env.DB.prepare("SELECT count(*) AS n FROM verification WHERE value = ?1").bind(user.id).first<{ n: number }>();
      expect(row?.n).toBe(0);
    },
  );
});
