import { UploadAck } from "../../worker/engine/protocol.ts";
import { CallbackError, isTransientStatus, type CallbackClient, type CallbackResponse } from "./callback-client.ts";
import { JobError, JobStopped } from "./job-errors.ts";
import { errorMessage } from "./log.ts";
import { ArtifactAck, MAX_SINGLE_BYTES, MultipartPart, MultipartStart, type ArtifactKind } from "./v2-wire.ts";

/**
 * Durable outputs of a job, uploaded with the job token.
 *
 * v1: `PUT {upload_url}/segments/{n}`, `/final`, `/final.mp3`, answered by UploadAck.
 * v2 (ADR 0009): `PUT {upload_url}/artifacts/{kind}[/{index}]` answered by
 * ArtifactAck; a body over the single-body limit goes in parts
 * (`POST …/uploads` → `{upload_id, part_size}`, `PUT …/uploads/{id}/parts/{n}`,
 * `POST …/uploads/{id}/complete`), so no request approaches the platform's
 * request size limit. Each request is retried by the callback client.
 */
export type ArtifactUploader = {
  put(kind: ArtifactKind, index: number | null, bytes: Uint8Array, contentType: string): Promise<void>;
};

/** Protocol 1 paths; kinds newer than v1 (alignment) have none and travel only as v2 artifacts. */
const V1_PATH: Partial<Record<ArtifactKind, (index: number | null) => string>> = {
  segment: (i) => `segments/${i}`,
  final: () => "final",
  final_mp3: () => "final.mp3",
  // No v1 path: the artifact route takes it from v1 engines too (its answer carries size_bytes).
  peaks: () => "artifacts/peaks",
};

export function createArtifactUploader(deps: {
  client: CallbackClient;
  uploadUrl: string;
  protocol: 1 | 2;
  /** Bodies above this go in parts (default the registry's 8 MiB; tests lower it). */
  maxSingleBytes?: number;
}): ArtifactUploader {
  const base = deps.uploadUrl.replace(/\/+$/, "");
  const maxSingle = deps.maxSingleBytes ?? MAX_SINGLE_BYTES;

  async function call(method: "POST" | "PUT", url: string, body: { bytes: Uint8Array | string; contentType: string }): Promise<unknown> {
    let answer: CallbackResponse;
    try {
      answer = await deps.client.request(method, url, body);
    } catch (err) {
      if (err instanceof CallbackError && err.stopsJob)
        throw new JobStopped(`the Worker refused the upload (${err.status})`, { cause: err });
      const retryable = !(err instanceof CallbackError) || err.status === null || isTransientStatus(err.status);
      throw new JobError("upload_failed", `upload failed: ${errorMessage(err)}`, retryable, { cause: err });
    }
    try {
      return JSON.parse(new TextDecoder().decode(answer.body));
    } catch {
      return undefined;
    }
  }

  function check<T>(
    schema: { safeParse(v: unknown): { success: true; data: T } | { success: false; error: { message: string } } },
    value: unknown,
    what: string,
  ): T {
    const parsed = schema.safeParse(value);
    if (!parsed.success) throw new JobError("upload_failed", `${what} answered without a valid reply: ${parsed.error.message}`, true);
    return parsed.data;
  }

  return {
    async put(kind, index, bytes, contentType) {
      if (deps.protocol === 1) {
        const path = V1_PATH[kind];
        if (!path) throw new JobError("upload_failed", `protocol 1 has no upload path for ${kind} artifacts`, false);
        const url = `${base}/${path(index)}`;
        check(UploadAck, await call("PUT", url, { bytes, contentType }), url);
        return;
      }
      const url = `${base}/artifacts/${kind}${index === null ? "" : `/${index}`}`;
      if (bytes.length <= maxSingle) {
        check(ArtifactAck, await call("PUT", url, { bytes, contentType }), url);
        return;
      }
      const start = check(
        MultipartStart,
        // The start names the artifact's own content type; the Worker checks it like a single PUT's.
        await call("POST", `${url}/uploads`, { bytes: new Uint8Array(0), contentType }),
        `${url}/uploads`,
      );
      const partsUrl = `${url}/uploads/${encodeURIComponent(start.upload_id)}`;
      const parts: MultipartPart[] = [];
      for (let offset = 0, n = 1; offset < bytes.length; offset += start.part_size, n++) {
        const part = bytes.subarray(offset, offset + start.part_size);
        const answer = check(
          MultipartPart,
          await call("PUT", `${partsUrl}/parts/${n}`, { bytes: part, contentType }),
          `${partsUrl}/parts/${n}`,
        );
        parts.push({ part_number: n, etag: answer.etag });
      }
      const done = await call("POST", `${partsUrl}/complete`, { bytes: JSON.stringify({ parts }), contentType: "application/json" });
      check(ArtifactAck, done, `${partsUrl}/complete`);
    },
  };
}
