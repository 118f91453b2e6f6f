import { env } from "cloudflare:workers";
import { audioKeys } from "../../worker/storage/keys";
import { newId } from "../../worker/lib/ids";
import { makeWav } from "./wav";

/** Inserts a voice with a real reference WAV in R2, as the clone endpoint would leave it. */
export async function createVoice(userId: string, opts: { name?: string; durationMs?: number; freq?: number } = {}) {
  const id = newId("voice");
  const wav = makeWav(opts.durationMs ?? 12_000, { sampleRate: 8000, freq: opts.freq ?? 180 });
  await env.AUDIO.put(audioKeys.reference(userId, id), wav, { httpMetadata: { contentType: "audio/wav" } });
  await env.DB.prepare(
    `INSERT INTO voices (id, user_id, name, language, source, reference_key, reference_format, reference_mime, duration_ms, size_bytes, created_at, updated_at)
     VALUES (?1, ?2, ?3, 'en', 'upload', ?4, 'wav', 'audio/wav', ?5, ?6, ?7, ?7)`,
  )
    .bind(id, userId, opts.name ?? "Test voice", audioKeys.reference(userId, id), opts.durationMs ?? 12_000, wav.byteLength, Date.now())
    .run();
  return { id, reference: wav };
}

/** Adds credits through the ledger (as a purchase would). */
export async function grantCredits(userId: string, credits: number) {
  await env.DB.prepare(
    `INSERT INTO credit_ledger (user_id, delta, kind, idempotency_key, note, created_at) VALUES (?1, ?2, 'adjustment', ?3, 'test grant', ?4)`,
  )
    .bind(userId, credits, newId("testgrant"), Date.now())
    .run();
}

export async function setPlan(userId: string, plan: "free" | "pro" | "studio") {
  await env.DB.prepare(`UPDATE user SET plan = ?2 WHERE id = ?1`).bind(userId, plan).run();
}

/** The ledger invariant (DESIGN §6): cached balance == ledger sum. Returns the balance. */
export async function expectLedgerInvariant(userId: string): Promise<number> {
  const row = await env.DB.prepare(
    `SELECT (SELECT coalesce(sum(delta), 0) FROM credit_ledger WHERE user_id = ?1) AS sum, (SELECT balance FROM credit_balances WHERE user_id = ?1) AS cached`,
  )
    .bind(userId)
    .first<{ sum: number; cached: number | null }>();
  const sum = row?.sum ?? 0;
  const cached = row?.cached ?? 0;
  if (sum !== cached) throw new Error(`ledger invariant broken for ${userId}: sum ${sum} != cached ${cached}`);
  const reserved = await env.DB.prepare(
    `SELECT count(*) AS n FROM credit_ledger WHERE user_id = ?1 AND kind IN ('capture','release') GROUP BY task_id HAVING count(*) > 1`,
  )
    .bind(userId)
    .first<{ n: number }>();
  if (reserved) throw new Error(`a task of ${userId} was settled twice`);
  return sum;
}
