import { describe, expect, it } from "vitest";
import { installFakeEngine } from "../support/fake-engine";
import { createVoice } from "../support/factories";
import { resetTokenFromOutbox } from "../support/dev-outbox";
import { call, signUp } from "../support/http";
import { ledgerCheckedUsers } from "../support/ledger-users";

// Issue 13, items 6 and 7: the 404 page, a spent password-reset link, refunded jobs in history.
const newUser = ledgerCheckedUsers();

describe("the not-found page", () => {
  it("is a 404 with a title, no router message, and the signed-in header for a signed-in person", async () => {
    const user = await newUser("not-found");
    const res = await call("/nope-404", { cookie: user.cookie, headers: { accept: "text/html" } });
    expect(res.status).toBe(404);
    const html = await res.text();
    expect(html).toContain("<title>Page not found — Utter</title>");
    expect(html).toContain("Page not found");
    expect(html).not.toContain("No route matches");
    expect(html).toContain('data-testid="credit-balance"');
    expect(html).toContain('rel="icon" href="/favicon.svg"');
  });

  it("offers sign-in to a signed-out visitor", async () => {
    const res = await call("/a/deeper/missing/page", { headers: { accept: "text/html" } });
    expect(res.status).toBe(404);
    const html = await res.text();
    expect(html).toContain("Page not found");
    expect(html).not.toContain('data-testid="credit-balance"');
    expect(html).toContain('href="/sign-in"');
  });
});

describe("a reset link that was used or expired", () => {
  it("shows the form while the link is fresh, and no form once it has been used", async () => {
    const user = await signUp("reset-spent");
    const token = await resetTokenFromOutbox(user.email);
    const fresh = await (await call(`/reset-password?token=${token}`, { headers: { accept: "text/html" } })).text();
    expect(fresh).toContain('name="password"');
    const reset = await call("/api/auth/reset-password", { method: "POST", json: { token, newPassword: "a brand new password" } });
    expect(reset.status).toBe(200);
    const again = await (await call(`/reset-password?token=${token}`, { headers: { accept: "text/html" } })).text();
    expect(again).toContain("This link has been used");
    expect(again).not.toContain('name="password"');
  });

  it("says so and offers a new one, with no password form", async () => {
    for (const path of ["/reset-password?token=spent-or-made-up-token", "/reset-password?error=INVALID_TOKEN", "/reset-password"]) {
      const res = await call(path, { headers: { accept: "text/html" } });
      expect(res.status).toBe(200);
      const html = await res.text();
      expect(html).toContain("This link has been used");
      expect(html).toContain('href="/forgot-password"');
      expect(html).not.toContain('name="password"');
    }
  });
});

describe("history", () => {
  it("says a cancelled job's credits were refunded", async () => {
    const engine = installFakeEngine();
    const user = await newUser("history-refund");
    const voice = await createVoice(user.id);
    const res = await call("/api/generations", { method: "POST", cookie: user.cookie, json: { voice_id: voice.id, text: "Hello there. This is a test.", language: "en" } });
    expect(res.status).toBe(202);
    const { task_id } = (await res.json()) as { task_id: string };
    await engine.waitForJob(task_id);
    expect((await call(`/api/tasks/${task_id}`, { method: "DELETE", cookie: user.cookie })).status).toBe(200);
    const html = await (await call("/history", { cookie: user.cookie, headers: { accept: "text/html" } })).text();
    expect(html).toContain("1 credit refunded");
  });

  it("says what a cancel after delivered parts charged, in the page and the API", async () => {
    const engine = installFakeEngine();
    const user = await newUser("history-partial");
    const voice = await createVoice(user.id);
    const text = "A sentence that is long enough to cost two credits in all. ".repeat(3).trim();
    const res = await call("/api/generations", { method: "POST", cookie: user.cookie, json: { voice_id: voice.id, text, language: "en" } });
    const { task_id, generation_id, cost } = (await res.json()) as { task_id: string; generation_id: string; cost: number };
    expect(cost).toBe(2);
    const job = await engine.waitForJob(task_id);
    await job.ack({ type: "started", segments_total: 2 });
    await job.segment(0, 300);
    expect((await call(`/api/tasks/${task_id}`, { method: "DELETE", cookie: user.cookie })).status).toBe(200);
    const g = (await (await call(`/api/generations/${generation_id}`, { cookie: user.cookie })).json()) as { generation: { charged: number | null; cost: number } };
    expect(g.generation).toMatchObject({ cost: 2, charged: 1 });
    const html = await (await call("/history", { cookie: user.cookie, headers: { accept: "text/html" } })).text();
    expect(html).toContain("charged 1 of 2 credits");
  });
});
