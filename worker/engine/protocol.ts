/**
 * Engine protocol v1 (DESIGN §4): the only contract between the Worker and a
 * speech engine (the Modal GPU app in production, the development engine
 * locally). Defined once here; mirrored in Python by `modal/utter_engine/protocol.py`
 * and pinned by the shared fixtures in `test/fixtures/engine-protocol/`.
 *
 * This file must stay free of Worker-only imports: the development engine
 * (plain Node with type stripping) imports it directly.
 */
import * as z from "zod";

export const PROTOCOL_VERSION = 1 as const;

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

export const VoiceRef = z.object({
  voice_id: Id,
  reference_url: HttpUrl,
  reference_text: z.string().max(5000).optional(),
});
export type VoiceRef = z.infer<typeof VoiceRef>;

export const SubmitRequest = z
  .object({
    protocol: z.literal(PROTOCOL_VERSION),
    job_id: Id,
    kind: JobKind,
    text: z
      .string()
      .min(1)
      .max(5000)
      .refine((t) => t.trim().length > 0, "must not be blank"),
    language: LanguageCode,
    voice: VoiceRef.optional(),
    /** Natural-language voice description (design_preview) or style instruction. */
    instruct: z.string().min(1).max(500).optional(),
    /** Optional seed for repeatable output. */
    seed: z.number().int().min(0).max(2 ** 31 - 1).optional(),
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
    }),
    /** ISO-8601 instant after which the Worker no longer accepts this job's events. */
    deadline: z.iso.datetime({ offset: true }),
  })
  .superRefine((v, ctx) => {
    if (v.kind === "generate" && !v.voice) {
      ctx.addIssue({ code: "custom", path: ["voice"], message: "generate jobs need a voice" });
    }
    if (v.kind === "design_preview" && !v.instruct) {
      ctx.addIssue({ code: "custom", path: ["instruct"], message: "design_preview jobs need an instruct (voice description)" });
    }
  });
export type SubmitRequest = z.infer<typeof SubmitRequest>;

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

export const TaskState = z.enum(["queued", "dispatched", "running", "succeeded", "failed", "cancelled"]);
export type TaskState = z.infer<typeof TaskState>;
export const TERMINAL_STATES: readonly TaskState[] = ["succeeded", "failed", "cancelled"];

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

/** Every schema the shared fixtures name, by the name they use. */
export const PROTOCOL_SCHEMAS = {
  SubmitRequest,
  SubmitResponse,
  CancelResponse,
  EngineEvent,
  EventAck,
  UploadAck,
} as const;
export type ProtocolSchemaName = keyof typeof PROTOCOL_SCHEMAS;
