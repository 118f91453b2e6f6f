import { desc } from "drizzle-orm";
import * as z from "zod";
import type { Db } from "../db/client";
import { devOutbox } from "../db/schema";
import type { AppConfig } from "../lib/config";
import { newId } from "../lib/ids";
import type { Logger } from "../lib/log";

export interface Mail {
  to: string;
  subject: string;
  text: string;
}
export interface Mailer {
  /** Which adapter this is, for logs and the health check. */
  readonly kind: "resend" | "dev-outbox" | "none";
  send(mail: Mail): Promise<void>;
}

export interface MailerDeps {
  config: AppConfig;
  log: Logger;
  db: Db;
  /** Injected so tests can stand in for the provider on the wire; defaults to the global fetch. */
  fetch?: typeof fetch;
}

/**
 * The one place mail leaves the system (docs/operations.md):
 * - `RESEND_API_KEY` set → Resend's HTTP API (any environment);
 * - development on a loopback APP_URL without a key → the local outbox, listed at /dev/outbox
 *   (never on a public host: the outbox page has no sign-in and lists reset links);
 * - otherwise (tests, a production without a key) → not sent, and only the
 *   subject and the recipient's domain are logged: a message's body holds a
 *   reset link, which is a key to the account, so it is never logged.
 */
export function createMailer({ config, log, db, fetch: doFetch = (input, init) => fetch(input, init) }: MailerDeps): Mailer {
  if (config.RESEND_API_KEY) return createResendMailer(config.RESEND_API_KEY, config.MAIL_FROM, log, doFetch);
  if (devOutboxEnabled(config)) return createDevOutbox(db, log, config.APP_URL);
  return {
    kind: "none",
    async send(mail) {
      log.warn("mail.not_sent", { reason: "no mail provider configured (RESEND_API_KEY)", subject: mail.subject, to_domain: domainOf(mail.to) });
    },
  };
}

/** The outbox exists only for a developer's own machine: development mode on localhost / 127.0.0.1. */
export function devOutboxEnabled(config: Pick<AppConfig, "APP_ENV" | "APP_URL" | "RESEND_API_KEY">): boolean {
  if (config.APP_ENV !== "development" || config.RESEND_API_KEY) return false;
  const host = new URL(config.APP_URL).hostname;
  return host === "localhost" || host === "127.0.0.1" || host === "[::1]";
}

function domainOf(address: string): string {
  return address.slice(address.lastIndexOf("@") + 1);
}

export const RESEND_API_URL = "https://api.resend.com/emails";

/** Resend's send-email request (the fields we use) and its answers; the test fake parses the same shapes. */
export const ResendSendRequest = z.object({
  from: z.string().min(3),
  to: z.union([z.string(), z.array(z.string()).min(1).max(50)]),
  subject: z.string().min(1),
  text: z.string().optional(),
  html: z.string().optional(),
});
export const ResendSendResponse = z.object({ id: z.string() });
export const ResendError = z.object({ statusCode: z.number().optional(), name: z.string().optional(), message: z.string().optional() });

export class MailDeliveryError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
    this.name = "MailDeliveryError";
  }
}

function createResendMailer(apiKey: string, from: string, log: Logger, doFetch: typeof fetch): Mailer {
  return {
    kind: "resend",
    async send(mail) {
      const body: z.infer<typeof ResendSendRequest> = { from, to: [mail.to], subject: mail.subject, text: mail.text };
      const res = await doFetch(RESEND_API_URL, {
        method: "POST",
        headers: {
          authorization: `Bearer ${apiKey}`,
          "content-type": "application/json",
          "user-agent": "utter-worker",
          // A retried send of the same message is delivered once.
          "idempotency-key": await idempotencyKey(mail),
        },
        body: JSON.stringify(body),
      });
      const answer: unknown = await res.json().catch(() => null);
      if (!res.ok) {
        const err = ResendError.safeParse(answer);
        const why = err.success ? `${err.data.name ?? "error"}: ${err.data.message ?? ""}` : `HTTP ${res.status}`;
        // The provider's words, never the message itself.
        log.error("mail.failed", { provider: "resend", status: res.status, why, subject: mail.subject, to_domain: domainOf(mail.to) });
        throw new MailDeliveryError(`The mail provider refused the message (${why}).`, res.status);
      }
      const sent = ResendSendResponse.safeParse(answer);
      log.info("mail.sent", { provider: "resend", id: sent.success ? sent.data.id : null, subject: mail.subject, to_domain: domainOf(mail.to) });
    },
  };
}

async function idempotencyKey(mail: Mail): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(`${mail.to}\n${mail.subject}\n${mail.text}`)));
  return `utter-${[...digest.subarray(0, 16)].map((b) => b.toString(16).padStart(2, "0")).join("")}`;
}

function createDevOutbox(db: Db, log: Logger, appUrl: string): Mailer {
  return {
    kind: "dev-outbox",
    async send(mail) {
      await db.insert(devOutbox).values({ id: newId("mail"), to: mail.to, subject: mail.subject, text: mail.text, createdAt: new Date() }).run();
      log.info("mail.outbox", { to: mail.to, subject: mail.subject, open: new URL("/dev/outbox", appUrl).toString() });
    },
  };
}

/** The development outbox, newest first (the /dev/outbox page). */
export async function listDevOutbox(db: Db, limit = 50) {
  return db.select().from(devOutbox).orderBy(desc(devOutbox.createdAt)).limit(limit).all();
}
