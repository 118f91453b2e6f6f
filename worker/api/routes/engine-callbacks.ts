import { Hono, type Context } from "hono";
import type { ApiEnv } from "../app";
import { undocumented } from "../route-doc";
import { bearer, verifyJobToken } from "../../engine/job-token";
import { V1_UPLOAD_ALIASES } from "../../engine/artifacts";
import { AppError, parseOrThrow } from "../../lib/errors";
import { trackerFor } from "../../services/tasks";
import { completeMultipart, putArtifact, putPart, startMultipart, type UploadTarget } from "../../services/artifact-uploads";
import { EngineEvent, EventAck, EVENT_MAX_BYTES } from "../../engine/protocol";
import { referenceAudio } from "../../services/engine-reference";
import { serveObject } from "../../storage/serve";
import { upgradeHeaders } from "../../lib/websocket-upgrade";

/**
 * Engine callbacks (DESIGN §4, §4a, ADR 0009). Every request carries the job
 * token minted for this job: a missing, forged or expired token is 401,
 * another job's 403, and nothing changes.
 */
export const engineCallbackRoutes = new Hono<ApiEnv>();

/** The engine's side of the protocol (DESIGN §4/§4a), for engines holding a job token: not a public API. */
const ENGINE_ONLY = undocumented("the engine protocol (DESIGN §4/§4a), called by engines with a job token, not by API clients");

engineCallbackRoutes.use("/jobs/:id/*", async (c, next) => {
  const ctx = c.get("ctx");
  // Only the socket may carry the token in the query: some WebSocket clients cannot set headers.
  const isStream = c.req.path.endsWith("/stream");
  const token = bearer(c.req.raw) ?? (isStream ? (c.req.query("token") ?? null) : null);
  const check = await verifyJobToken(ctx.config.JOB_TOKEN_SECRET, token, c.req.param("id"));
  if (!check.ok) {
    ctx.log.warn("engine.token_refused", { job_id: c.req.param("id"), reason: check.reason });
    throw new AppError(check.status === 403 ? "forbidden" : "unauthorized", check.status, `Job token refused (${check.reason}).`);
  }
  await next();
});

/** The v2 engine socket: handed to the task's tracker, which speaks the protocol (hello, acks, frames). */
engineCallbackRoutes.get("/jobs/:id/stream", ENGINE_ONLY, async (c) => {
  if (c.req.header("upgrade")?.toLowerCase() !== "websocket") throw new AppError("upgrade_required", 426, "Open this URL as a WebSocket.");
  const id = c.req.param("id");
  // Fresh headers: nothing the caller sent beyond the upgrade reaches the object.
  const headers = upgradeHeaders(c.req.raw.headers, { "x-utter-job": id });
  return trackerFor(c.env, id).fetch(new Request("https://tracker.internal/engine", { headers }));
});

engineCallbackRoutes.post("/jobs/:id/events", ENGINE_ONLY, async (c) => {
  const id = c.req.param("id");
  const declared = Number(c.req.header("content-length") ?? 0);
  if (declared > EVENT_MAX_BYTES) throw new AppError("payload_too_large", 413, `Event bodies are limited to ${EVENT_MAX_BYTES} bytes.`);
  const text = await c.req.text();
  if (text.length > EVENT_MAX_BYTES) throw new AppError("payload_too_large", 413, `Event bodies are limited to ${EVENT_MAX_BYTES} bytes.`);
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new AppError("invalid_json", 400, "The event body must be JSON.");
  }
  const event = parseOrThrow(EngineEvent, raw, "event");
  if (event.job_id !== id) throw new AppError("forbidden", 403, "The event names another job.");
  const ack = EventAck.parse(await trackerFor(c.env, id).engineEvent(event));
  return c.json(ack, 200);
});

engineCallbackRoutes.get("/jobs/:id/reference", ENGINE_ONLY, (c) => referenceAudio(c.env, c.req.param("id")));

/**
 * `…/artifacts/{kind}[/{index}]` — PUT one body; `…/uploads` POST to start parts;
 * `…/uploads/{id}/parts/{n}` PUT; `…/uploads/{id}/complete` POST. Parsed here
 * rather than by route patterns so an unknown kind or a bad index gets a 4xx
 * that names it, whatever follows.
 */
async function artifactRoute(c: Context<ApiEnv>): Promise<Response> {
  const id = c.req.param("id")!;
  const rest = c.req.path.split("/artifacts/")[1] ?? "";
  const parts = rest.split("/").filter(Boolean).map(decodeURIComponent);
  const kind = parts.shift() ?? "";
  let index: number | null = null;
  if (parts[0] !== undefined && parts[0] !== "uploads") {
    const raw = parts.shift()!;
    if (!/^\d{1,5}$/.test(raw))
      throw new AppError("invalid_artifact_index", 400, `"${raw.slice(0, 20)}" is not an artifact index.`, {
        kind,
        index: raw.slice(0, 20),
      });
    index = Number(raw);
  }
  const t: UploadTarget = { env: c.env, jobId: id, kind, index };
  const method = c.req.method;
  if (parts.length === 0 && method === "PUT") return c.json(await putArtifact(t, c.req.raw), 201);
  if (parts[0] === "uploads") {
    if (parts.length === 1 && method === "POST") return c.json(await startMultipart(t, c.req.raw), 201);
    const uploadId = parts[1] ?? "";
    if (parts.length === 4 && parts[2] === "parts" && method === "PUT") {
      if (!/^\d{1,5}$/.test(parts[3]!))
        throw new AppError("invalid_part_number", 400, "Part numbers are integers from 1.", { part_number: parts[3]!.slice(0, 20) });
      return c.json(await putPart(t, uploadId, Number(parts[3]), c.req.raw), 200);
    }
    if (parts.length === 3 && parts[2] === "complete" && method === "POST") {
      let body: unknown;
      try {
        body = await c.req.json();
      } catch {
        throw new AppError("invalid_json", 400, "The complete body must be JSON {parts:[{part_number, etag}]}.");
      }
      return c.json(await completeMultipart(t, uploadId, body), 201);
    }
  }
  throw new AppError("not_found", 404, `No upload route ${method} …/artifacts/${rest.slice(0, 80)}.`);
}

engineCallbackRoutes.on(["PUT", "POST"], "/jobs/:id/artifacts/*", ENGINE_ONLY, artifactRoute);

/**
 * `GET …/artifacts/{kind}[/{index}]` (job token): a stored artifact of this running job, so a resumed
 * attempt takes its finished parts back instead of rendering them again (ADR 0013 proposal 1, ADR 0023).
 * 404 for one not stored, or once the task has ended.
 */
engineCallbackRoutes.get("/jobs/:id/artifacts/:kind/:index{[0-9]{1,5}}?", ENGINE_ONLY, async (c) => {
  const id = c.req.param("id");
  const raw = c.req.param("index");
  const stored = await trackerFor(c.env, id).durableArtifact(c.req.param("kind"), raw === undefined ? null : Number(raw));
  if (!stored) throw new AppError("not_found", 404, "No such artifact of this job is stored (or the job has ended).");
  return serveObject(c.env.AUDIO, stored.key, c.req.raw, { contentType: stored.content_type, cacheControl: "no-store" });
});

// v1 paths, aliases of the registry's kinds (ADR 0009).
engineCallbackRoutes.put("/jobs/:id/segments/:index{[0-9]{1,4}}", ENGINE_ONLY, async (c) =>
  c.json(
    await putArtifact(
      { env: c.env, jobId: c.req.param("id"), kind: V1_UPLOAD_ALIASES.segments!.kind, index: Number(c.req.param("index")), v1Alias: true },
      c.req.raw,
    ),
    201,
  ),
);
engineCallbackRoutes.put("/jobs/:id/final", ENGINE_ONLY, async (c) =>
  c.json(await putArtifact({ env: c.env, jobId: c.req.param("id"), kind: "final", index: null, v1Alias: true }, c.req.raw), 201),
);
engineCallbackRoutes.put("/jobs/:id/final.mp3", ENGINE_ONLY, async (c) =>
  c.json(await putArtifact({ env: c.env, jobId: c.req.param("id"), kind: "final_mp3", index: null, v1Alias: true }, c.req.raw), 201),
);
