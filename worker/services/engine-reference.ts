import { errors } from "../lib/errors";
import { audioKeys } from "../storage/keys";

/** The reference clip of a job's voice, for the engine (job token already checked). */
export async function referenceAudio(env: Env, jobId: string): Promise<Response> {
  const row = await env.DB.prepare(
    `SELECT v.user_id AS user_id, v.id AS voice_id, v.reference_mime AS mime FROM tasks t JOIN voices v ON v.id = t.voice_id AND v.user_id = t.user_id WHERE t.id = ?1`,
  )
    .bind(jobId)
    .first<{ user_id: string; voice_id: string; mime: string }>();
  if (!row) throw errors.notFound("reference");
  const obj = await env.AUDIO.get(audioKeys.reference(row.user_id, row.voice_id));
  if (!obj) throw errors.notFound("reference");
  return new Response(obj.body, { headers: { "content-type": row.mime, "content-length": String(obj.size), "x-content-type-options": "nosniff" } });
}
