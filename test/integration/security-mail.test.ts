import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import worker from "../../worker/index";
import { RESEND_API_URL, ResendSendRequest } from "../../worker/auth/mailer";
import { expectedErrors } from "../support/expected-errors";
import { call, cookieFrom, ORIGIN, signUp } from "../support/http";

/** Every line the Worker writes to the console during `work`, whatever the level. */
async function logLines<T>(work: () => Promise<T>): Promise<{ result: T; lines: string[] }> {
  const lines: string[] = [];
  const levels = ["log", "info", "warn", "debug", "error"] as const;
  const saved = levels.map((level) => console[level]);
  levels.forEach((level, i) => {
    // Error lines still reach the setup's check for unexpected errors.
    console[level] = (...args: unknown[]) => {
      lines.push(args.map(String).join(" "));
      if (level === "error") saved[i]!.apply(console, args);
    };
  });
  try {
    return { result: await work(), lines };
  } finally {
    levels.forEach((level, i) => (console[level] = saved[i]!));
  }
}

async function resetTokenOf(userId: string): Promise<string> {
  const row = await env.DB.prepare("SELECT identifier FROM verification WHERE value = ?1 AND identifier LIKE 'reset-password:%' ORDER BY created_at DESC")
    .bind(userId)
    .first<{ identifier: string }>();
  if (!row) throw new Error("no reset token was made");
  return row.identifier.slice("reset-password:".length);
}

/** The Worker with some env overridden (getConfig parses each env object once). */
async function fetchWith(overrides: Record<string, string>, path: string, init: RequestInit & { form?: Record<string, string> }) {
  const body = init.form ? new FormData() : init.body;
  if (init.form && body instanceof FormData) for (const [k, v] of Object.entries(init.form)) body.set(k, v);
  const headers = new Headers(init.headers);
  headers.set("origin", ORIGIN);
  headers.set("host", new URL(ORIGIN).host);
  const ctx = createExecutionContext();
  const res = await worker.fetch(
    new Request(new URL(path, ORIGIN), { ...init, body, headers, redirect: "manual" }) as Request<unknown, IncomingRequestCfProperties>,
    { ...env, ...overrides } as Env,
    ctx,
  );
  await waitOnExecutionContext(ctx);
  return res;
}

/**
 * A faithful stand-in for Resend's send-email endpoint on the wire: it checks
 * the bearer key, the JSON content type, the User-Agent Resend requires and
 * the body's shape, and answers `{id}` or Resend's error object.
 */
function installFakeResend(apiKey: string, opts: { fail?: { status: number; name: string; message: string } } = {}) {
  const sent: { body: ReturnType<typeof ResendSendRequest.parse>; idempotencyKey: string | null }[] = [];
  vi.spyOn(globalThis, "fetch").mockImplementation(async (input: RequestInfo | URL, init?: RequestInit) => {
    const req = new Request(input, init);
    if (req.url !== RESEND_API_URL || req.method !== "POST") throw new Error(`unexpected outbound fetch: ${req.method} ${req.url}`);
    if (req.headers.get("authorization") !== `Bearer ${apiKey}`) {
      return Response.json({ statusCode: 401, name: "missing_api_key", message: "Missing API key in the authorization header." }, { status: 401 });
    }
    if (!req.headers.get("user-agent")) return Response.json({ statusCode: 403, name: "missing_user_agent", message: "User-Agent required." }, { status: 403 });
    if (!req.headers.get("content-type")?.startsWith("application/json")) return Response.json({ statusCode: 422, name: "validation_error", message: "Invalid JSON." }, { status: 422 });
    const parsed = ResendSendRequest.safeParse(await req.json());
    if (!parsed.success) return Response.json({ statusCode: 422, name: "validation_error", message: parsed.error.message }, { status: 422 });
    if (opts.fail) return Response.json({ statusCode: opts.fail.status, name: opts.fail.name, message: opts.fail.message }, { status: opts.fail.status });
    sent.push({ body: parsed.data, idempotencyKey: req.headers.get("idempotency-key") });
    return Response.json({ id: `49a3999c-0ce1-4ea6-ab68-afcd6dc2e79${sent.length}` });
  });
  return { sent };
}

describe("no reset token in the log outside development", () => {
  it("test mode without a provider: the reset is made, nothing is sent, no log line holds the token", async () => {
    const user = await signUp("nolog");
    const { result, lines } = await logLines(() => call("/forgot-password", { method: "POST", body: (() => { const f = new FormData(); f.set("email", user.email); return f; })() }));
    expect(result.status).toBe(200);
    const token = await resetTokenOf(user.id);
    expect(token.length).toBeGreaterThan(10);
    expect(lines.some((l) => l.includes("mail.not_sent"))).toBe(true);
    for (const line of lines) expect(line).not.toContain(token);
    // The API route too.
    const api = await logLines(() => call("/api/auth/request-password-reset", { method: "POST", json: { email: user.email, redirectTo: "/reset-password" } }));
    expect(api.result.status).toBe(200);
    const second = await resetTokenOf(user.id);
    for (const line of api.lines) expect(line).not.toContain(second);
  });

  it("production with Resend: the link goes to Resend on its wire format, works, and never reaches the log", async () => {
    const user = await signUp("resend");
    const key = "re_test_0123456789abcdef";
    const resend = installFakeResend(key);
    const overrides = { APP_ENV: "production", RESEND_API_KEY: key, MAIL_FROM: "Utter <no-reply@utter.example>" };
    const { result, lines } = await logLines(() => fetchWith(overrides, "/forgot-password", { method: "POST", form: { email: user.email } }));
    expect(result.status).toBe(200);
    expect(resend.sent).toHaveLength(1);
    const mail = resend.sent[0]!;
    expect(mail.body).toMatchObject({ from: "Utter <no-reply@utter.example>", to: [user.email], subject: "Reset your Utter password" });
    expect(mail.idempotencyKey).toMatch(/^utter-[0-9a-f]{32}$/);
    const token = await resetTokenOf(user.id);
    expect(mail.body.text).toContain(token);
    for (const line of lines) expect(line).not.toContain(token);
    expect(lines.some((l) => l.includes("mail.sent"))).toBe(true);

    // The link in the mail resets the password.
    const reset = await call("/api/auth/reset-password", { method: "POST", json: { token, newPassword: "a new long password" } });
    expect(reset.status).toBe(200);
    const signIn = await call("/api/auth/sign-in/email", { method: "POST", json: { email: user.email, password: "a new long password" } });
    expect(signIn.status).toBe(200);
    expect(cookieFrom(signIn)).toContain("session_token");
  });

  it("a provider that refuses: the form answers as always, the failure is logged without the message", async () => {
    expectedErrors.allow = true;
    const user = await signUp("resendfail");
    const key = "re_test_fail_0123456789";
    const resend = installFakeResend(key, { fail: { status: 422, name: "validation_error", message: "The utter.example domain is not verified." } });
    const { result, lines } = await logLines(() =>
      fetchWith({ APP_ENV: "production", RESEND_API_KEY: key }, "/forgot-password", { method: "POST", form: { email: user.email } }),
    );
    expect(resend.sent).toHaveLength(0);
    expect(await result.text()).toContain("If an account exists for that email");
    const token = await resetTokenOf(user.id);
    for (const line of lines) expect(line).not.toContain(token);
    expect(lines.some((l) => l.includes("mail.failed") && l.includes("domain is not verified"))).toBe(true);
  });
});

describe("the development outbox", () => {
  it("lists the mail in development, and does not exist elsewhere", async () => {
    expect((await call("/dev/outbox")).status).toBe(404);
    expect((await fetchWith({ APP_ENV: "production" }, "/dev/outbox", { method: "GET" })).status).toBe(404);
    // Development mode on a public host (a mistaken deploy) has no outbox: it would list reset links to anyone.
    expect((await fetchWith({ APP_ENV: "development", APP_URL: "https://utter.example", TRUSTED_ORIGINS: "https://utter.example" }, "/dev/outbox", { method: "GET" })).status).toBe(404);
    const user = await signUp("outbox");
    const dev = { APP_ENV: "development" };
    expect((await fetchWith(dev, "/forgot-password", { method: "POST", form: { email: user.email } })).status).toBe(200);
    const html = await (await fetchWith(dev, "/dev/outbox", { method: "GET" })).text();
    const token = await resetTokenOf(user.id);
    expect(html).toContain("Reset your Utter password");
    expect(html).toContain(user.email);
    expect(html).toMatch(new RegExp(`<a href="[^"]*${token}`));
  });
});
