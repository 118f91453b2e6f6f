import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { expect } from "vitest";
import worker from "../../worker/index";
import { ORIGIN } from "./http";

/**
 * Asks for a password reset as development would (no mail provider: the mail
 * lands in the local outbox, worker/auth/mailer.ts) and returns the link's token.
 */
export async function resetTokenFromOutbox(email: string): Promise<string> {
  const ctx = createExecutionContext();
  const req = new Request(`${ORIGIN}/api/auth/request-password-reset`, {
    method: "POST",
    headers: { "content-type": "application/json", origin: ORIGIN },
    body: JSON.stringify({ email, redirectTo: "/reset-password" }),
  });
  const res = await worker.fetch(req as Request<unknown, IncomingRequestCfProperties>, { ...env, APP_ENV: "development" } as Env, ctx);
  await waitOnExecutionContext(ctx);
  expect(res.status).toBe(200);
  const mail = await env.DB.prepare('SELECT text FROM dev_outbox WHERE "to" = ?1 ORDER BY rowid DESC').bind(email).first<{ text: string }>();
  const token = /\/api\/auth\/reset-password\/([A-Za-z0-9_-]+)/.exec(mail?.text ?? "")?.[1];
  expect(token, "a reset link in the outbox").toBeDefined();
  return token!;
}
