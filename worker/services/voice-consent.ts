import { eq } from "drizzle-orm";
import type { Db } from "../db/client";
import { voiceConsents } from "../db/schema";
import { AppError } from "../lib/errors";

/**
 * Cloning someone's voice needs their permission (ADR 0016). Every clone —
 * upload, browser recording or API — sends `consent` with the version of the
 * statement the person confirmed; the record of it is kept apart from the
 * voice so deleting the voice (or the account) keeps it. Designed voices are
 * nobody's voice and need none.
 */
export const CONSENT_STATEMENT_VERSION = "voice-consent-2026-12";
export const CONSENT_STATEMENT =
  "I confirm that this is my own voice, or that the person whose voice this is has given me permission to clone it and to use it as I intend. " +
  "I will not use it to deceive, impersonate or harm anyone.";

export function consentRequired(given: string | undefined): AppError {
  const stale = given !== undefined && given !== "";
  return new AppError(
    "consent_required",
    400,
    stale
      ? `The consent statement has changed (now "${CONSENT_STATEMENT_VERSION}"). Read it again and confirm it to clone this voice.`
      : `Confirm that you have the right to use this voice: send the field consent="${CONSENT_STATEMENT_VERSION}" to agree to the statement.`,
    { fields: [{ field: "consent", message: "required" }], statement_version: CONSENT_STATEMENT_VERSION, statement: CONSENT_STATEMENT },
  );
}

/** Throws the 400 unless `given` is the current statement's version. */
export function assertConsent(given: string | undefined): void {
  if (given !== CONSENT_STATEMENT_VERSION) throw consentRequired(given);
}

export interface ConsentRecord {
  userId: string;
  voiceId: string;
  clientIp: string | null;
  audioSha256: string;
  source: "upload" | "record";
  at: Date;
}

/** The statement that inserts the record, for the same D1 batch as the voice (it only lands if the voice did). */
export function insertConsentStatement(db: D1Database, c: ConsentRecord, id: string): D1PreparedStatement {
  return db
    .prepare(
      `INSERT INTO voice_consents (id, user_id, voice_id, statement_version, client_ip, audio_sha256, source, created_at)
       SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8 WHERE EXISTS (SELECT 1 FROM voices WHERE id = ?3 AND user_id = ?2)`,
    )
    .bind(id, c.userId, c.voiceId, CONSENT_STATEMENT_VERSION, c.clientIp, c.audioSha256, c.source, c.at.getTime());
}

export function consentView(row: typeof voiceConsents.$inferSelect) {
  return {
    statement_version: row.statementVersion,
    given_at: row.createdAt.toISOString(),
    audio_sha256: row.audioSha256,
  };
}
export type ConsentView = ReturnType<typeof consentView>;

/** The consent given for one of the caller's voices (the caller's own record only), or null. */
export async function getVoiceConsent(db: Db, userId: string, voiceId: string): Promise<ConsentView | null> {
  const row = await db.select().from(voiceConsents).where(eq(voiceConsents.voiceId, voiceId)).get();
  return row && row.userId === userId ? consentView(row) : null;
}

/** Hex SHA-256 over a stream of chunks, without holding them (Workers' DigestStream). */
export function createSha256() {
  // workerd's DigestStream lives on `crypto`; the DOM lib's Crypto type (pulled in by vite/client) hides it.
  const { DigestStream: Digest } = crypto as unknown as { DigestStream: typeof DigestStream };
  const stream = new Digest("SHA-256");
  const writer = stream.getWriter();
  return {
    async push(chunk: Uint8Array) {
      await writer.write(chunk);
    },
    async hex(): Promise<string> {
      await writer.close();
      const digest = new Uint8Array(await stream.digest);
      return [...digest].map((b) => b.toString(16).padStart(2, "0")).join("");
    },
  };
}
