import { Hono, type Context } from "hono";
import type { ApiEnv } from "../app";
import { bearer, verifyJobToken } from "../../engine/job-token";
import { AppError, errors, parseOrThrow } from "../../lib/errors";
import { trackerFor } from "../../services/tasks";
import { EngineEvent, EventAck } from "../../engine/protocol";
import { audioKeys } from "../../storage/keys";

const SEGMENT_MAX_BYTES = 25 * 1024 * 1024;
const FINAL_MAX_BYTES = 200 * 1024 * 1024;

/**
 * Engine callbacks (DESIGN §4). Every request carries the job token minted
 * for this job: a missing, forged or expired token is 401, another job's 403,
 * and nothing changes.
 */
export const engineCallbackRoutes = new Hono<ApiEnv>();

engineCallbackRoutes.use("/jobs/:id/*", async (c, next) => {
  const ctx = c.get("ctx");
  const check = await verifyJobToken(ctx.config.JOB_TOKEN_SECRET, bearer(c.req.raw), c.req.param("id"));
  if (!check.ok) {
    ctx.log.warn("engine.token_refused", { job_id: c.req.param("id"), reason: check.reason });
    throw new AppError(check.status === 403 ? "forbidden" : "unauthorized", check.status, `Job token refused (${check.reason}).`);
  }
  await next();
});

engineCallbackRoutes.post("/jobs/:id/events", async (c) => {
  const id = c.req.param("id");
  let raw: unknown;
  try {
    raw = await c.req.json();
  } catch {
    throw new AppError("invalid_json", 400, "The event body must be JSON.");
  }
  const event = parseOrThrow(EngineEvent, raw, "event");
  if (event.job_id !== id) throw new AppError("forbidden", 403, "The event names another job.");
  const ack = EventAck.parse(await trackerFor(c.env, id).engineEvent(event));
  return c.json(ack, 200);
});

engineCallbackRoutes.get("/jobs/:id/reference", async (c) => {
  const id = c.req.param("id");
  const row = await c.env.DB.prepare(
    `SELECT v.user_id AS user_id, v.id AS voice_id, v.reference_mime AS mime FROM tasks t JOIN voices v ON v.id = t.voice_id AND v.user_id = t.user_id WHERE t.id = ?1`,
  )
    .bind(id)
    .first<{ user_id: string; voice_id: string; mime: string }>();
  if (!row) throw errors.notFound("reference");
  const obj = await c.env.AUDIO.get(audioKeys.reference(row.user_id, row.voice_id));
  if (!obj) throw errors.notFound("reference");
  return new Response(obj.body, { headers: { "content-type": row.mime, "content-length": String(obj.size), "x-content-type-options": "nosniff" } });
});

async function storeUpload(c: Context<ApiEnv>, id: string, path: string): Promise<Response> {
  const limit = path.startsWith("final") ? FINAL_MAX_BYTES : SEGMENT_MAX_BYTES;
  const contentType = path === "final.mp3" ? "audio/mpeg" : "audio/wav";
  const length = Number(c.req.header("content-length") ?? NaN);
  // R2 needs a known length to stream a body through without buffering it.
  if (!Number.isFinite(length)) throw new AppError("length_required", 411, "Uploads need a Content-Length.");
  if (length > limit) throw new AppError("payload_too_large", 413, `Uploads here are limited to ${limit} bytes.`);
  if (length < 44) throw new AppError("invalid_request", 400, "That upload is too small to be audio.");
  const tracker = trackerFor(c.env, id);
  const permit = await tracker.beginUpload(path);
  if (!permit.ok) throw new AppError(permit.code, permit.status, permit.message);
  const body = c.req.raw.body;
  if (!body) throw new AppError("invalid_request", 400, "The upload is empty.");
  const stored = await c.env.AUDIO.put(permit.key, body, { httpMetadata: { contentType }, customMetadata: { task_id: id } });
  await tracker.uploaded(path, stored.size);
  return c.json({ size_bytes: stored.size }, 201);
}

engineCallbackRoutes.put("/jobs/:id/segments/:index{[0-9]{1,3}}", (c) => storeUpload(c, c.req.param("id"), `segments/${Number(c.req.param("index"))}`));
engineCallbackRoutes.put("/jobs/:id/final", (c) => storeUpload(c, c.req.param("id"), "final"));
// Optional: an MP3 of the final audio, uploaded before `completed` (docs/engine-protocol.md).
engineCallbackRoutes.put("/jobs/:id/final.mp3", (c) => storeUpload(c, c.req.param("id"), "final.mp3"));
