/**
 * WebSocket messages from a task's Durable Object to the browser (DESIGN §5,
 * ADR 0009), defined once and imported by the DO, the API and the browser hook
 * (types only there). The state and message-type lists come from the zod-free
 * lifecycle module.
 */
import * as z from "zod";
import { EngineError, TaskState } from "../engine/protocol";

export const SegmentView = z.object({ index: z.number().int().min(0), url: z.string(), duration_ms: z.number().int().min(0) });
export type SegmentView = z.infer<typeof SegmentView>;

/** An announced artifact of any kind, as the player sees it (ADR 0009). */
export const ArtifactView = z.object({
  kind: z.string(),
  index: z.number().int().min(0).nullable(),
  url: z.string(),
  size_bytes: z.number().int().min(0),
  content_type: z.string(),
});
export type ArtifactView = z.infer<typeof ArtifactView>;

/** Where the live frame stream stands for a listener joining now. */
export const LiveView = z.object({
  sample_rate: z.number().int(),
  /** The last frame relayed before this snapshot (-1 none). */
  last_frame: z.number().int().min(-1),
  /** Buffered frames sent right after the snapshot, byte-identical to the live ones. */
  replay: z.object({ first_frame: z.number().int().min(0), frames: z.number().int().min(1) }).nullable(),
});
export type LiveView = z.infer<typeof LiveView>;

/** What a cancelled or failed task charged for the audio it delivered (DESIGN §6). */
export const ChargeView = z.object({
  credits: z.number().int().min(0),
  of: z.number().int().min(0),
  parts_delivered: z.number().int().min(0),
  parts_total: z.number().int().min(0).nullable(),
});
export type ChargeView = z.infer<typeof ChargeView>;

export const TaskResult = z.object({
  duration_ms: z.number().int(),
  sample_rate: z.number().int(),
  size_bytes: z.number().int(),
  audio_url: z.string(),
  generation_id: z.string().nullable(),
  /** Download formats; MP3 when the engine also uploaded one. */
  formats: z.array(z.enum(["wav", "mp3"])).optional(),
});
export type TaskResult = z.infer<typeof TaskResult>;

export const TaskView = z.object({
  id: z.string(),
  kind: z.enum(["generate", "design_preview"]),
  status: TaskState,
  progress: z.number().min(0).max(1),
  stage: z.string().nullable(),
  segments_total: z.number().int().nullable(),
  generation_id: z.string().nullable(),
  voice_id: z.string().nullable(),
  cost: z.number().int(),
  error: EngineError.nullable(),
  result: TaskResult.nullable(),
  /** Set when a cancelled or failed task kept some credits for delivered audio. */
  charge: ChargeView.nullable().optional(),
  created_at: z.string(),
  updated_at: z.string(),
});
export type TaskView = z.infer<typeof TaskView>;

export const TaskSnapshot = z.object({
  seq: z.number().int(),
  task: TaskView,
  segments: z.array(SegmentView),
  artifacts: z.array(ArtifactView),
  live: LiveView,
});
export type TaskSnapshot = z.infer<typeof TaskSnapshot>;

export const ServerMessage = z.discriminatedUnion("type", [
  TaskSnapshot.extend({ type: z.literal("snapshot") }),
  z.object({ type: z.literal("status"), seq: z.number().int(), status: TaskState }),
  z.object({ type: z.literal("progress"), seq: z.number().int(), progress: z.number(), stage: z.string() }),
  z.object({ type: z.literal("segment"), seq: z.number().int(), index: z.number().int(), url: z.string(), duration_ms: z.number().int() }),
  ArtifactView.extend({ type: z.literal("artifact"), seq: z.number().int() }),
  z.object({ type: z.literal("completed"), seq: z.number().int(), result: TaskResult }),
  z.object({ type: z.literal("failed"), seq: z.number().int(), error: EngineError, charge: ChargeView.optional() }),
  z.object({ type: z.literal("cancelled"), seq: z.number().int(), charge: ChargeView.optional() }),
  z.object({ type: z.literal("resync"), seq: z.number().int(), reason: z.literal("behind") }),
]);
export type ServerMessage = z.infer<typeof ServerMessage>;

/**
 * A text message on a listener's socket: one ServerMessage, or several in order as a JSON array
 * when they queued up behind a large fan-out (ADR 0027). Binary messages are frames, or a batch of
 * frames (`worker/engine/frames.ts`).
 */
export const ListenerText = z.union([ServerMessage, z.array(ServerMessage).min(2).max(64)]);
export type ListenerText = z.infer<typeof ListenerText>;
