import type { AppConfig } from "../lib/config";
import type { Logger } from "../lib/log";

export interface Mail {
  to: string;
  subject: string;
  text: string;
}
export interface Mailer {
  send(mail: Mail): Promise<void>;
}

/**
 * Pluggable mail sender. No provider is wired yet: in development and tests
 * the message (with its link) goes to the log, where a developer can click it.
 * In production a provider must be configured before password reset is
 * advertised (see docs/operations.md).
 */
export function createMailer(_config: AppConfig, log: Logger): Mailer {
  return {
    async send(mail) {
      log.info("mail.outbox", { to: mail.to, subject: mail.subject, body: mail.text });
    },
  };
}
