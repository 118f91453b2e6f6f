/**
 * Engine artifact uploads (ADR 0009): one route family for every kind in the
 * registry, a single body or R2 multipart parts. Every check happens before a
 * byte is stored, and a refusal names what is wrong (kind, index, content
 * type, size). The task's tracker decides whether the task still takes the
 * artifact; the bytes stream straight into R2.
 */
import { ARTIFACT_CONTENT, checkArtifactContent } from "../engine/artifact-content";
import { ARTIFACT_REGISTRY, artifactSpec, baseContentType, MiB, type ArtifactKind } from "../engine/artifacts";
import { MultipartComplete, type ArtifactAck, type MultipartPart, type MultipartStart } from "../engine/protocol";
import { AppError, parseOrThrow } from "../lib/errors";
import { newId } from "../lib/ids";
import { trackerFor } from "./tasks";
import type { UploadPermit } from "../../durable-objects/task-tracker";

/** v1 engines PUT whole finals in one body; their aliases keep v1's limit. */
const V1_SINGLE_MAX_BYTES = 200 * MiB;

export interface UploadTarget {
  env: Env;
  jobId: string;
  kind: string;
  index: number | null;
  /** Reached through a v1 path (`segments/{n}`, `final`, `final.mp3`): v1's size rule, no Content-Type check. */
  v1Alias?: boolean;
}

function contentLength(request: Request): number {
  const raw = request.headers.get("content-length");
  const length = raw === null ? NaN : Number(raw);
  // R2 needs a known length to stream a body through without buffering it.
  if (!Number.isSafeInteger(length) || length < 0) throw new AppError("length_required", 411, "Uploads need a Content-Length.");
  return length;
}

function checkContentType(request: Request, kind: ArtifactKind) {
  const spec = artifactSpec(kind);
  const got = baseContentType(request.headers.get("content-type"));
  if (!spec.content_types.includes(got)) {
    throw new AppError("unsupported_content_type", 415, `Artifacts of kind ${kind} are ${spec.content_types.join(" or ")}, not "${got || "(none)"}".`, {
      kind,
      content_type: got || null,
      expected: spec.content_types,
    });
  }
}

function tooLarge(kind: string, size: number, limit: number, hint = ""): AppError {
  return new AppError("payload_too_large", 413, `This ${kind} artifact is ${size} bytes; the limit here is ${limit}.${hint}`, { kind, size_bytes: size, limit });
}

async function permit(t: UploadTarget) {
  const p = (await trackerFor(t.env, t.jobId).beginArtifact(t.kind, t.index)) as UploadPermit;
  if (!p.ok) throw new AppError(p.code, p.status, p.message, p.details);
  return p;
}

async function record(t: UploadTarget, kind: ArtifactKind, key: string, size: number): Promise<ArtifactAck> {
  const recorded = await trackerFor(t.env, t.jobId).artifactStored({ kind, index: t.index, key, size_bytes: size, content_type: artifactSpec(kind).content_types[0]! });
  if (!recorded) {
    // The task ended while the bytes travelled: keep nothing.
    await t.env.AUDIO.delete(key);
    throw new AppError("job_finished", 409, "This job ended before the upload finished; nothing was kept.");
  }
  return { kind, index: t.index, size_bytes: size };
}

/** `PUT …/artifacts/{kind}[/{index}]` (and the v1 aliases). */
export async function putArtifact(t: UploadTarget, request: Request): Promise<ArtifactAck> {
  const length = contentLength(request);
  const p = await permit(t);
  const spec = artifactSpec(p.kind);
  if (!t.v1Alias) checkContentType(request, p.kind);
  const limit = t.v1Alias ? Math.min(spec.max_bytes, V1_SINGLE_MAX_BYTES) : Math.min(spec.max_bytes, ARTIFACT_REGISTRY.max_single_bytes);
  if (length > limit) throw tooLarge(p.kind, length, limit, length <= spec.max_bytes ? " Upload it in parts (POST …/uploads)." : "");
  if (length === 0 || !request.body) throw new AppError("invalid_request", 400, "The upload is empty.", { kind: p.kind, size_bytes: 0 });
  if (ARTIFACT_CONTENT[p.kind]) return putCheckedDocument(t, p.kind, p.key, request, length);
  const stored = await t.env.AUDIO.put(p.key, request.body, {
    httpMetadata: { contentType: spec.content_types[0] },
    customMetadata: { task_id: t.jobId },
  });
  return record(t, p.kind, p.key, stored.size);
}

/** A small document kind (peaks): read whole, validated against its schema, stored only when it passes. */
async function putCheckedDocument(t: UploadTarget, kind: ArtifactKind, key: string, request: Request, length: number): Promise<ArtifactAck> {
  const bytes = new Uint8Array(await request.arrayBuffer());
  if (bytes.byteLength !== length) throw new AppError("invalid_request", 400, `The body is ${bytes.byteLength} bytes, not the ${length} its Content-Length says.`, { kind });
  const check = checkArtifactContent(kind, bytes);
  if (!check.ok) {
    throw new AppError("invalid_artifact_content", 400, `This ${kind} artifact is not valid: ${check.path ? `${check.path}: ` : ""}${check.message}`.slice(0, 300), {
      kind,
      path: check.path || null,
    });
  }
  const stored = await t.env.AUDIO.put(key, bytes, { httpMetadata: { contentType: artifactSpec(kind).content_types[0] }, customMetadata: { task_id: t.jobId } });
  return record(t, kind, key, stored.size);
}

/** `POST …/artifacts/{kind}[/{index}]/uploads`: starts an R2 multipart upload. */
export async function startMultipart(t: UploadTarget, request: Request): Promise<MultipartStart> {
  const p = await permit(t);
  checkContentType(request, p.kind);
  if (ARTIFACT_CONTENT[p.kind]) {
    throw new AppError("single_body_only", 400, `Artifacts of kind ${p.kind} are checked whole: upload them in one PUT.`, { kind: p.kind });
  }
  const upload = await t.env.AUDIO.createMultipartUpload(p.key, {
    httpMetadata: { contentType: artifactSpec(p.kind).content_types[0] },
    customMetadata: { task_id: t.jobId },
  });
  const uploadId = newId("up");
  await trackerFor(t.env, t.jobId).registerMultipart(uploadId, { kind: p.kind, index: t.index, key: p.key, r2UploadId: upload.uploadId });
  return { upload_id: uploadId, part_size: ARTIFACT_REGISTRY.part_size };
}

async function openUpload(t: UploadTarget, uploadId: string) {
  const rec = await trackerFor(t.env, t.jobId).multipartFor(uploadId);
  if (!rec.ok) throw new AppError(rec.code, rec.status, rec.message);
  if (rec.kind !== t.kind || rec.index !== t.index) {
    throw new AppError("upload_not_found", 404, `Upload ${uploadId.slice(0, 40)} is not for ${t.kind}${t.index === null ? "" : `/${t.index}`}.`);
  }
  return rec;
}

/** `PUT …/uploads/{upload_id}/parts/{n}`: every part but the last is exactly `part_size`. */
export async function putPart(t: UploadTarget, uploadId: string, partNumber: number, request: Request): Promise<MultipartPart> {
  const length = contentLength(request);
  const rec = await openUpload(t, uploadId);
  const spec = artifactSpec(rec.kind);
  const partSize = ARTIFACT_REGISTRY.part_size;
  const maxParts = Math.min(10_000, Math.ceil(spec.max_bytes / partSize));
  if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > maxParts) {
    throw new AppError("invalid_part_number", 400, `Part numbers run from 1 to ${maxParts} for ${rec.kind}.`, { kind: rec.kind, part_number: partNumber });
  }
  if (length > partSize) throw tooLarge(rec.kind, length, partSize, " (one part)");
  if ((partNumber - 1) * partSize + length > spec.max_bytes) throw tooLarge(rec.kind, (partNumber - 1) * partSize + length, spec.max_bytes);
  if (length === 0 || !request.body) throw new AppError("invalid_request", 400, "The part is empty.", { kind: rec.kind, part_number: partNumber });
  const part = await t.env.AUDIO.resumeMultipartUpload(rec.key, rec.r2UploadId).uploadPart(partNumber, request.body);
  return { part_number: part.partNumber, etag: part.etag };
}

/** `POST …/uploads/{upload_id}/complete` `{parts}`: assembles the parts and records the artifact. */
export async function completeMultipart(t: UploadTarget, uploadId: string, body: unknown): Promise<ArtifactAck> {
  const { parts } = parseOrThrow(MultipartComplete, body);
  const rec = await openUpload(t, uploadId);
  const upload = t.env.AUDIO.resumeMultipartUpload(rec.key, rec.r2UploadId);
  let obj: R2Object;
  try {
    obj = await upload.complete(parts.map((p) => ({ partNumber: p.part_number, etag: p.etag })));
  } catch (err) {
    throw new AppError("invalid_parts", 400, `R2 refused the parts: ${err instanceof Error ? err.message : String(err)}`.slice(0, 300), { kind: rec.kind });
  }
  await trackerFor(t.env, t.jobId).multipartDone(uploadId);
  const spec = artifactSpec(rec.kind);
  if (obj.size > spec.max_bytes) {
    await t.env.AUDIO.delete(rec.key);
    throw tooLarge(rec.kind, obj.size, spec.max_bytes);
  }
  return record(t, rec.kind, rec.key, obj.size);
}
