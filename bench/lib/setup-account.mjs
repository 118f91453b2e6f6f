// A bench user with room to work: signed up through the API, then given the
// Studio plan and plenty of credits directly in the local D1, and one cloned
// voice (through POST /api/voices, or written straight to D1 + R2 if that fails).
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { ApiClient } from "./api-client.mjs";
import { speechLikeWav } from "./wav.mjs";

export async function createBenchUser(worker) {
  const client = new ApiClient(worker.origin);
  const email = `bench-${randomBytes(4).toString("hex")}@example.com`;
  const user = await client.signUp(email, randomBytes(12).toString("hex"), "Bench");
  const q = (s) => `'${String(s).replace(/'/g, "''")}'`;
  await worker.sql(
    `INSERT INTO credit_ledger (user_id, delta, kind, idempotency_key, note) VALUES (${q(user.id)}, 100000, 'adjustment', ${q(`bench:${user.id}`)}, 'npm run bench'); ` +
      `UPDATE user SET plan = 'studio' WHERE id = ${q(user.id)};`,
  );
  const me = await client.json("/api/me").catch(() => null);
  return { client, user, email, me };
}

/** Returns {voiceId, via: "api" | "wrangler", note}. */
export async function createBenchVoice(worker, client, userId) {
  const wav = speechLikeWav(12_000);
  const res = await client.createVoice({ wav, name: "Bench voice", language: "en" });
  if (res.status === 201 && res.body?.voice?.id) return { voiceId: res.body.voice.id, via: "api" };
  const note = `POST /api/voices answered ${res.status}: ${JSON.stringify(res.body).slice(0, 300)}`;
  const voiceId = `voice_bench${randomBytes(8).toString("hex")}`;
  const key = `users/${userId}/voices/${voiceId}/reference`;
  const file = join(worker.tmp, "reference.wav");
  writeFileSync(file, wav);
  await worker.r2Put(key, file, "audio/wav");
  const q = (s) => `'${String(s).replace(/'/g, "''")}'`;
  await worker.sql(
    `INSERT INTO voices (id, user_id, name, language, source, reference_key, reference_format, reference_mime, duration_ms, size_bytes) ` +
      `VALUES (${q(voiceId)}, ${q(userId)}, 'Bench voice', 'en', 'upload', ${q(key)}, 'wav', 'audio/wav', 12000, ${wav.length});`,
  );
  return { voiceId, via: "wrangler", note };
}
