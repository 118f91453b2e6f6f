/**
 * Engine protocol v1 (DESIGN §4) and v2 (DESIGN §4a, ADR 0009): the only contract between the Worker and a
 * speech engine (the Modal GPU app in production, the development engine
 * locally). Defined once here; mirrored in Python by `modal/utter_engine/protocol.py`
 * and pinned by the shared fixtures in `test/fixtures/engine-protocol/`.
 *
 * This file must stay free of Worker-only imports: the development engine
 * (plain Node with type stripping) imports it directly.
 */
import * as z from "zod";
import { TASK_STATES, TERMINAL_STATES as LIFECYCLE_TERMINAL } from "../tasks/lifecycle.ts";
import { Peaks } from "./peaks.ts";

/** Protocol v1, the base every engine speaks (the development engine reports it on /health until it streams). */
export const PROTOCOL_VERSION = 1 as const;
/** The version the Worker submits (ADR 0009). Engines accept 1 and 2; one that cannot hold a socket falls back to v1 events. */
export const SUBMIT_PROTOCOL_VERSION = 2 as const;
export const PROTOCOL_VERSIONS = [1, 2] as const;

/** Language codes accepted end to end (DESIGN §1). */
export const LANGUAGE_CODES = ["auto", "en", "zh", "ja", "ko", "de", "fr", "ru", "pt", "es", "it"] as const;
export const LanguageCode = z.enum(LANGUAGE_CODES);
export type LanguageCode = z.infer<typeof LanguageCode>;

export const JobKind = z.enum(["generate", "design_preview"]);
export type JobKind = z.infer<typeof JobKind>;

/** Opaque id used for jobs, voices, tasks: url-safe, bounded. */
const Id = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, "must be 1-64 url-safe characters");

/** Callback and reference URLs: http(s) only, so an engine never dereferences another scheme. */
const HttpUrl = z.url({ protocol: /^https?$/, error: "must be an http(s) URL" });
/** The engine socket's URL (v2). */
const WsUrl = z.url({ protocol: /^wss?$/, error: "must be a ws(s) URL" });

export const ErrorCode = z
  .string()
  .regex(/^[a-z][a-z0-9_]{0,63}$/, "must be a snake_case code");

/** Codes engines are expected to use; others are allowed but treated as generic. */
export const KNOWN_ENGINE_ERROR_CODES = [
  "invalid_input",
  "reference_unavailable",
  "reference_unusable",
  "generation_failed",
  "runaway_generation",
  "out_of_memory",
  "upload_failed",
  "engine_timeout",
  "engine_unavailable",
  "internal",
] as const;

export const EngineError = z.object({
  code: ErrorCode,
  message: z.string().min(1).max(1000),
  retryable: z.boolean(),
});
export type EngineError = z.infer<typeof EngineError>;

/**
 * Names the reference's bytes: the Worker gives a new id whenever they could differ (ADR 0024). An
 * engine may reuse what it derived from a reference with the same id and the same `reference_text`
 * without downloading it again; without it, or on a miss, it downloads `reference_url`.
 */
export const ReferenceId = z.string().regex(/^[A-Za-z0-9_.:-]{1,128}$/, "1–128 characters of A–Z a–z 0–9 _ . : -");

export const VoiceRef = z.object({
  voice_id: Id,
  reference_url: HttpUrl,
  reference_text: z.string().max(5000).optional(),
  reference_id: ReferenceId.optional(),
});
export type VoiceRef = z.infer<typeof VoiceRef>;

/** Seeds run 0 … 2^31 − 1 (a non-negative int32: what torch, numpy and the dev engine all accept). */
export const SEED_MAX = 2 ** 31 - 1;
export const Seed = z
  .number()
  .int(`must be a whole number from 0 to ${SEED_MAX}`)
  .min(0, `must be from 0 to ${SEED_MAX}`)
  .max(SEED_MAX, `must be from 0 to ${SEED_MAX}`);

/** The longest pause between sentences a job may ask for. */
export const MAX_PAUSE_MS = 3000;

/** A job may be resumed this many times after an interruption before it fails whole (ADR 0023). */
export const MAX_RESUMES = 3;

/**
 * A resumed job (ADR 0023): the same job id, resubmitted after an engine failure, a deadline or a
 * preemption that the first attempt did not recover from. Parts `0…segment−1` are durable artifacts
 * already (the engine reads them back with the job token, `GET {upload_url}/artifacts/segment/{n}`,
 * instead of rendering them again); the engine renders from `segment`, its frames continue at
 * `stream_offset` (samples) and its events at `next_seq`.
 */
export const ResumeFrom = z.object({
  /** 1 for the first resume; part of the submit's idempotency key, so a resume is a new call. */
  attempt: z.number().int().min(1).max(MAX_RESUMES),
  /** The first part that is not durable yet. */
  segment: z.number().int().min(0).max(9999),
  /** Samples of the live stream before that part (its first frame's `stream_offset`); absent: the durable parts' length. */
  stream_offset: z.number().int().min(0).optional(),
  /** The lowest `seq` the Worker will accept (its last accepted + 1). */
  next_seq: z.number().int().min(0),
});
export type ResumeFrom = z.infer<typeof ResumeFrom>;

/**
 * A part regeneration (ADR 0026): the text is the source take's, split the same way into
 * `segments_total` parts; the engine renders only the parts in `indices` and reads every other part
 * back (`GET {upload_url}/artifacts/segment/{n}`, the job token), then stitches the final from all
 * of them. An engine whose split of the text gives another part count fails the job non-retryably.
 */
export const RenderParts = z
  .object({
    indices: z.array(z.number().int().min(0).max(999)).min(1).max(1000),
    segments_total: z.number().int().min(1).max(1000),
  })
  .superRefine((v, ctx) => {
    if (v.indices.some((i, k) => k > 0 && i <= v.indices[k - 1]!)) {
      ctx.addIssue({ code: "custom", path: ["indices"], message: "indices must be strictly ascending" });
    }
    if (v.indices.some((i) => i >= v.segments_total)) {
      ctx.addIssue({ code: "custom", path: ["indices"], message: "every index must be below segments_total" });
    }
  });
export type RenderParts = z.infer<typeof RenderParts>;

export const SubmitRequest = z
  .object({
    protocol: z.union([z.literal(1), z.literal(2)]),
    job_id: Id,
    kind: JobKind,
    /** Up to the longest plan limit (worker/services/pricing.ts `textChars`). */
    text: z
      .string()
      .min(1)
      .max(50_000)
      .refine((t) => t.trim().length > 0, "must not be blank"),
    language: LanguageCode,
    voice: VoiceRef.optional(),
    /** Natural-language voice description (design_preview) or style instruction. */
    instruct: z.string().min(1).max(500).optional(),
    /** Optional seed for repeatable output: the same seed, text and voice give the same take (ADR 0022). */
    seed: Seed.optional(),
    /**
     * Silence between sentences and parts, in ms (a paragraph break gets twice it). Absent: the
     * engine matches the voice's own pauses (docs/engine-protocol.md "Joins").
     */
    pause_ms: z.number().int().min(0).max(MAX_PAUSE_MS).optional(),
    output: z.object({
      format: z.literal("wav"),
      sample_rate: z.number().int().min(8000).max(48000),
    }),
    callbacks: z.object({
      events_url: HttpUrl,
      /** Segments go to `${upload_url}/segments/{index}`, the stitched file to `${upload_url}/final`. */
      upload_url: HttpUrl,
      /** Job token: bearer for every callback, upload and reference download. Opaque to engines. */
      token: z.string().min(16).max(512),
      /** v2: the task's engine socket (`…/internal/engine/jobs/:id/stream`); required when `protocol` is 2. */
      stream_url: WsUrl.optional(),
    }),
    /** ISO-8601 instant after which the Worker no longer accepts this job's events. */
    deadline: z.iso.datetime({ offset: true }),
    /** Present on a resumed attempt only (ADR 0023). */
    resume_from: ResumeFrom.optional(),
    /** Present on a part regeneration only (ADR 0026): render these parts, read the rest back. */
    render_parts: RenderParts.optional(),
  })
  .superRefine((v, ctx) => {
    if (v.protocol === 2 && !v.callbacks.stream_url) {
      ctx.addIssue({ code: "custom", path: ["callbacks", "stream_url"], message: "protocol 2 jobs need callbacks.stream_url" });
    }
    if (v.kind === "generate" && !v.voice) {
      ctx.addIssue({ code: "custom", path: ["voice"], message: "generate jobs need a voice" });
    }
    if (v.kind === "design_preview" && !v.instruct) {
      ctx.addIssue({ code: "custom", path: ["instruct"], message: "design_preview jobs need an instruct (voice description)" });
    }
    if (v.kind !== "generate" && v.render_parts) {
      ctx.addIssue({ code: "custom", path: ["render_parts"], message: "only generate jobs regenerate parts" });
    }
  });
export type SubmitRequest = z.infer<typeof SubmitRequest>;

/**
 * The `Idempotency-Key` of a submit: the job id, and for a resumed attempt the job id and the attempt,
 * so an engine that dedupes by key starts the resume rather than answering the first call (ADR 0023).
 */
export function submitIdempotencyKey(job: Pick<SubmitRequest, "job_id" | "resume_from">): string {
  return job.resume_from ? `${job.job_id}.resume.${job.resume_from.attempt}` : job.job_id;
}

export const SubmitResponse = z.object({ call_id: z.string().min(1).max(256) });
export type SubmitResponse = z.infer<typeof SubmitResponse>;

export const CancelResponse = z.object({ cancelled: z.boolean() });
export type CancelResponse = z.infer<typeof CancelResponse>;

const EventBase = { job_id: Id, seq: z.number().int().min(0) };

export const StartedEvent = z.object({
  ...EventBase,
  type: z.literal("started"),
  /** How many segments the text was split into, when known. */
  segments_total: z.number().int().min(1).max(1000).optional(),
  /** v2, optional: characters (code points) per segment, in index order, for fair charging (ADR 0009). */
  segment_chars: z.array(z.number().int().min(0).max(5000)).min(1).max(1000).optional(),
});
export const ProgressEvent = z.object({
  ...EventBase,
  type: z.literal("progress"),
  progress: z.number().min(0).max(1),
  stage: z.string().min(1).max(64),
});
/** Sent only after the segment's upload has been accepted, so its URL plays at once. */
export const SegmentEvent = z.object({
  ...EventBase,
  type: z.literal("segment"),
  index: z.number().int().min(0).max(999),
  duration_ms: z.number().int().min(0),
  /** v2, optional: the characters of text this segment speaks. */
  chars: z.number().int().min(0).max(5000).optional(),
});
export const HeartbeatEvent = z.object({ ...EventBase, type: z.literal("heartbeat") });
/** Sent only after the final upload has been accepted. */
export const CompletedEvent = z.object({
  ...EventBase,
  type: z.literal("completed"),
  duration_ms: z.number().int().min(0),
  sample_rate: z.number().int().min(8000).max(48000),
  size_bytes: z.number().int().min(44),
});
export const FailedEvent = z.object({ ...EventBase, type: z.literal("failed"), error: EngineError });

export const EngineEvent = z.discriminatedUnion("type", [
  StartedEvent,
  ProgressEvent,
  SegmentEvent,
  HeartbeatEvent,
  CompletedEvent,
  FailedEvent,
]);
export type EngineEvent = z.infer<typeof EngineEvent>;
export type EngineEventType = EngineEvent["type"];

export const TaskState = z.enum(TASK_STATES);
export type TaskState = z.infer<typeof TaskState>;
export const TERMINAL_STATES: readonly TaskState[] = LIFECYCLE_TERMINAL;

/**
 * The Worker's answer to an event POST (200). `accepted` is false for duplicate,
 * stale or late events. `state` lets the engine stop early: once it is terminal
 * (e.g. the user cancelled) the engine should stop generating.
 */
export const EventAck = z.object({ accepted: z.boolean(), state: TaskState });
export type EventAck = z.infer<typeof EventAck>;

/** The Worker's answer to a segment or final upload (201). */
export const UploadAck = z.object({ size_bytes: z.number().int().min(0) });
export type UploadAck = z.infer<typeof UploadAck>;

/** The largest event body accepted (HTTP or socket text message). */
export const EVENT_MAX_BYTES = 16 * 1024;
/** An event `seq` further than this above the last accepted one is refused (ADR 0009 amendment). */
export const SEQ_MAX_GAP = 10_000;

// ---- v2: the engine socket (DO → engine text messages) ----

const ArtifactRef = z.object({ kind: z.string().min(1).max(32), index: z.number().int().min(0).nullable() });

/** First message on an accepted engine socket: where the engine stands. */
export const StreamHello = z.object({
  type: z.literal("hello"),
  protocol: z.literal(2).optional(),
  acked_seq: z.number().int().min(-1),
  state: TaskState,
  artifacts: z.array(ArtifactRef),
  last_frame: z.number().int().min(-1),
  sample_rate: z.number().int().min(8000).max(48000).optional(),
});
export type StreamHello = z.infer<typeof StreamHello>;

/** The answer to each event on the socket, sent before any fan-out or slow work. */
export const StreamAck = z.object({ type: z.literal("ack"), seq: z.number().int().min(0), accepted: z.boolean(), state: TaskState });
export type StreamAck = z.infer<typeof StreamAck>;

/** The task ended from outside (user cancel, deadline): stop; the socket closes with 4009. */
export const StreamCancel = z.object({ type: z.literal("cancel"), state: z.enum(["cancelled", "failed"]) });
export type StreamCancel = z.infer<typeof StreamCancel>;

export const StreamServerMessage = z.discriminatedUnion("type", [StreamHello, StreamAck, StreamCancel]);
export type StreamServerMessage = z.infer<typeof StreamServerMessage>;

// ---- v2: artifact uploads ----

export const ArtifactAck = z.object({ kind: z.string().min(1).max(32), index: z.number().int().min(0).nullable(), size_bytes: z.number().int().min(0) });
export type ArtifactAck = z.infer<typeof ArtifactAck>;

export const MultipartStart = z.object({ upload_id: z.string().min(1).max(1024), part_size: z.number().int().positive() });
export type MultipartStart = z.infer<typeof MultipartStart>;

export const MultipartPart = z.object({ part_number: z.number().int().min(1).max(10_000), etag: z.string().min(1).max(256) });
export type MultipartPart = z.infer<typeof MultipartPart>;

export const MultipartComplete = z.object({
  parts: z
    .array(MultipartPart)
    .min(1)
    .max(10_000)
    .refine((parts) => parts.every((p, i) => i === 0 || p.part_number > parts[i - 1]!.part_number), "parts must be in ascending part_number order"),
});
export type MultipartComplete = z.infer<typeof MultipartComplete>;

/** Every schema the shared fixtures name, by the name they use. */
export const PROTOCOL_SCHEMAS = {
  SubmitRequest,
  SubmitResponse,
  CancelResponse,
  EngineEvent,
  EventAck,
  UploadAck,
  StreamHello,
  StreamAck,
  StreamCancel,
  ArtifactAck,
  MultipartStart,
  MultipartPart,
  MultipartComplete,
  Peaks,
} as const;
export type ProtocolSchemaName = keyof typeof PROTOCOL_SCHEMAS;
