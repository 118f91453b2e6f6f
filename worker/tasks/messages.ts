/**
 * WebSocket messages from a task's Durable Object to the browser (DESIGN §5),
 * defined once and imported by the DO, the API and the browser hook.
 */
import * as z from "zod";
import { EngineError, TaskState } from "../engine/protocol";

export const SegmentView = z.object({ index: z.number().int().min(0), url: z.string(), duration_ms: z.number().int().min(0) });
export type SegmentView = z.infer<typeof SegmentView>;

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
  created_at: z.string(),
  updated_at: z.string(),
});
export type TaskView = z.infer<typeof TaskView>;

export const TaskSnapshot = z.object({ seq: z.number().int(), task: TaskView, segments: z.array(SegmentView) });
export type TaskSnapshot = z.infer<typeof TaskSnapshot>;

export const ServerMessage = z.discriminatedUnion("type", [
  z.object({ type: z.literal("snapshot"), seq: z.number().int(), task: TaskView, segments: z.array(SegmentView) }),
  z.object({ type: z.literal("status"), seq: z.number().int(), status: TaskState }),
  z.object({ type: z.literal("progress"), seq: z.number().int(), progress: z.number(), stage: z.string() }),
  z.object({ type: z.literal("segment"), seq: z.number().int(), index: z.number().int(), url: z.string(), duration_ms: z.number().int() }),
  z.object({ type: z.literal("completed"), seq: z.number().int(), result: TaskResult }),
  z.object({ type: z.literal("failed"), seq: z.number().int(), error: EngineError }),
  z.object({ type: z.literal("cancelled"), seq: z.number().int() }),
]);
export type ServerMessage = z.infer<typeof ServerMessage>;
