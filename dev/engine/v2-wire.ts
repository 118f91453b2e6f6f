/**
 * Engine protocol v2 on the development engine's side (ADR 0009, DESIGN §4a):
 * the Worker's own frame codec, socket messages, artifact upload answers and
 * part sizes, re-exported, and the v2 submit's parser. Checked against the
 * shared fixtures in test/fixtures/engine-protocol/v2/
 * (dev/engine/test/v2-wire.test.ts). Plain Node with type stripping: zod only.
 */
import * as z from "zod";
import { SubmitRequest } from "../../worker/engine/protocol.ts";
import { CLOSE_CODES } from "../../worker/tasks/lifecycle.ts";
import { ARTIFACT_REGISTRY } from "../../worker/engine/artifacts.ts";

/** Close codes of the engine socket (ADR 0009), as the Durable Object uses them. */
export const CLOSE = CLOSE_CODES;

// Binary frames: the Worker's own codec (one for the Worker, this engine and the browser).
export { decodeFrame, encodeFramePcm, frameSamples, FRAME_MAX_PAYLOAD_BYTES, type FrameHeader } from "../../worker/engine/frames.ts";

// The socket's server messages and the artifact-upload answers, as the Worker defines them
// (ADR 0009): the engine parses exactly what the Durable Object and the upload routes validate.
export {
  ArtifactAck,
  MultipartComplete,
  MultipartPart,
  MultipartStart,
  StreamAck,
  StreamCancel,
  StreamHello,
  StreamServerMessage,
} from "../../worker/engine/protocol.ts";
export type { ArtifactKind } from "../../worker/engine/artifacts.ts";

/** The registry's single-body limit and part size (artifact-kinds.json): bigger bodies go in parts. */
export const MAX_SINGLE_BYTES = ARTIFACT_REGISTRY.max_single_bytes;
export const PART_SIZE = ARTIFACT_REGISTRY.part_size;

const StreamUrl = z.url({ protocol: /^wss?$/, error: "must be a ws(s) URL" });

/** What a job runs from: a v1 submit, or a v2 one with its socket URL. */
export type JobSubmit = SubmitRequest & { stream_url?: string };

/**
 * Parses a submit of either protocol. A v2 submit is a v1 one plus
 * `protocol: 2` and `callbacks.stream_url`; the rest is validated by the v1
 * schema, so both versions share every other rule.
 */
export function parseSubmit(
  body: unknown,
): { success: true; data: JobSubmit } | { success: false; issues: { path: string; message: string }[] } {
  const issues = (error: z.ZodError, prefix: (string | number)[] = []) =>
    error.issues.map((i) => ({ path: [...prefix, ...i.path].join(".") || "(body)", message: i.message }));
  const record = body && typeof body === "object" && !Array.isArray(body) ? (body as Record<string, unknown>) : null;
  if (record?.protocol !== 2) {
    const v1 = SubmitRequest.safeParse(body);
    return v1.success ? { success: true, data: v1.data } : { success: false, issues: issues(v1.error) };
  }
  const callbacks = record.callbacks && typeof record.callbacks === "object" ? (record.callbacks as Record<string, unknown>) : {};
  const { stream_url: streamUrl, ...v1Callbacks } = callbacks;
  const url = StreamUrl.safeParse(streamUrl);
  const v1 = SubmitRequest.safeParse({ ...record, protocol: 1, callbacks: v1Callbacks });
  const found = [...(url.success ? [] : issues(url.error, ["callbacks", "stream_url"])), ...(v1.success ? [] : issues(v1.error))];
  if (!v1.success || !url.success) return { success: false, issues: found };
  return { success: true, data: { ...v1.data, stream_url: url.data } };
}
