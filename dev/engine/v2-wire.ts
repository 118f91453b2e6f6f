/**
 * Engine protocol v2 on the development engine's side (ADR 0009, DESIGN §4a):
 * the binary frame header, the DO → engine socket messages, the artifact
 * upload answers and the v2 submit's extra fields.
 *
 * Kept here rather than in worker/engine/ while the Worker's own v2 modules are
 * being written elsewhere; pinned by the shared fixtures in
 * test/fixtures/engine-protocol/v2/ (dev/engine/test/v2-wire.test.ts), so the two
 * copies cannot drift apart unnoticed. Plain Node with type stripping: zod only.
 */
import * as z from "zod";
import { SubmitRequest } from "../../worker/engine/protocol.ts";
import { CLOSE_CODES } from "../../worker/tasks/lifecycle.ts";
import { ARTIFACT_REGISTRY } from "../../worker/engine/artifacts.ts";

export const FRAME_HEADER_BYTES = 16;
export const FRAME_VERSION = 1;
/** Bit 0 of `flags`: the last frame of its segment. Every other bit is reserved (must be 0). */
export const FLAG_LAST_IN_SEGMENT = 1;
/** 4 s at 24 kHz, s16le mono. */
export const MAX_FRAME_PAYLOAD_BYTES = 192_000;

/** Close codes of the engine socket (ADR 0009), as the Durable Object uses them. */
export const CLOSE = CLOSE_CODES;

export type FrameHeader = {
  segment: number;
  /** Job-wide frame number: 0, 1, 2, … with no gaps. */
  frame: number;
  /** First sample's offset within its segment. */
  segmentOffset: number;
  /** First sample's offset in the live stream (sum of all earlier frames' samples). */
  streamOffset: number;
  lastInSegment: boolean;
};
export type DecodedFrame = FrameHeader & { version: number; flags: number; /** PCM s16le mono, a view into the frame. */ pcm: Uint8Array };

export type FrameRefusal = "short" | "version" | "flags" | "odd" | "oversized";

/** Header + PCM s16le, as one message for `WebSocket.send`. */
export function encodeFrame(header: FrameHeader, pcm: Uint8Array): Uint8Array {
  if (pcm.length % 2 !== 0) throw new RangeError("PCM s16le needs an even number of bytes");
  if (pcm.length > MAX_FRAME_PAYLOAD_BYTES) throw new RangeError(`frame payload ${pcm.length} > ${MAX_FRAME_PAYLOAD_BYTES} bytes`);
  const out = new Uint8Array(FRAME_HEADER_BYTES + pcm.length);
  const view = new DataView(out.buffer);
  view.setUint8(0, FRAME_VERSION);
  view.setUint8(1, header.lastInSegment ? FLAG_LAST_IN_SEGMENT : 0);
  view.setUint16(2, header.segment, true);
  view.setUint32(4, header.frame, true);
  view.setUint32(8, header.segmentOffset, true);
  view.setUint32(12, header.streamOffset, true);
  out.set(pcm, FRAME_HEADER_BYTES);
  return out;
}

export function decodeFrame(bytes: Uint8Array): { ok: true; frame: DecodedFrame } | { ok: false; reason: FrameRefusal } {
  if (bytes.length < FRAME_HEADER_BYTES) return { ok: false, reason: "short" };
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint8(0);
  if (version !== FRAME_VERSION) return { ok: false, reason: "version" };
  const flags = view.getUint8(1);
  if ((flags & ~FLAG_LAST_IN_SEGMENT) !== 0) return { ok: false, reason: "flags" };
  const payload = bytes.length - FRAME_HEADER_BYTES;
  if (payload % 2 !== 0) return { ok: false, reason: "odd" };
  if (payload > MAX_FRAME_PAYLOAD_BYTES) return { ok: false, reason: "oversized" };
  return {
    ok: true,
    frame: {
      version,
      flags,
      segment: view.getUint16(2, true),
      frame: view.getUint32(4, true),
      segmentOffset: view.getUint32(8, true),
      streamOffset: view.getUint32(12, true),
      lastInSegment: (flags & FLAG_LAST_IN_SEGMENT) !== 0,
      pcm: bytes.subarray(FRAME_HEADER_BYTES),
    },
  };
}

/** Samples of a frame's payload as numbers (for fixtures and tests). */
export function frameSamples(frame: DecodedFrame): number[] {
  const view = new DataView(frame.pcm.buffer, frame.pcm.byteOffset, frame.pcm.byteLength);
  const out: number[] = [];
  for (let i = 0; i < frame.pcm.length; i += 2) out.push(view.getInt16(i, true));
  return out;
}

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
