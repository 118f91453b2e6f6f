/**
 * Tables of migrations/0005_security.sql. Times are epoch milliseconds.
 */
import { index, integer, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

/**
 * The consent given for a cloned voice (ADR 0016). Deliberately without
 * foreign keys: deleting the voice or the account keeps the record.
 */
export const voiceConsents = sqliteTable(
  "voice_consents",
  {
    id: text("id").primaryKey(),
    userId: text("user_id").notNull(),
    voiceId: text("voice_id").notNull(),
    statementVersion: text("statement_version").notNull(),
    clientIp: text("client_ip"),
    /** SHA-256 (hex) of the reference audio exactly as uploaded. */
    audioSha256: text("audio_sha256").notNull(),
    source: text("source", { enum: ["upload", "record"] }).notNull(),
    createdAt: integer("created_at", { mode: "timestamp_ms" }).notNull(),
  },
  (t) => [uniqueIndex("voice_consents_voice_idx").on(t.voiceId), index("voice_consents_user_idx").on(t.userId, t.createdAt)],
);

/** Failed sign-ins per account (worker/auth/sign-in-throttle.ts). */
export const signInFailures = sqliteTable("sign_in_failures", {
  /** The lower-cased email tried, whether or not an account has it (so the table cannot be used to probe). */
  account: text("account").primaryKey(),
  failures: integer("failures").notNull(),
  lastFailureAt: integer("last_failure_at").notNull(),
  blockedUntil: integer("blocked_until").notNull(),
});

/** Development only: what the local mailer "sent", listed at /dev/outbox. */
export const devOutbox = sqliteTable("dev_outbox", {
  id: text("id").primaryKey(),
  to: text("to").notNull(),
  subject: text("subject").notNull(),
  text: text("text").notNull(),
  createdAt: integer("created_at", { mode: "timestamp_ms" }).notNull(),
});
