/**
 * Takes (ADR 0022): a generation rendered again with the same text and voice,
 * a new or chosen seed. Each take is a task of the generation (numbered 1, 2, …)
 * with its own artifacts and its own charge; the generation row mirrors its
 * preferred take, which downloads and `GET /api/generations/:id` serve unless a
 * take is asked for.
 */
import { and, eq } from "drizzle-orm";
import * as z from "zod";
import type { RequestContext } from "../context";
import { generations, tasks } from "../db/schema";
import { Seed, type EngineError } from "../engine/protocol";
import { AppError, errors } from "../lib/errors";
import { artifactUrl, audioUrls } from "../storage/keys";
import { isActive } from "../tasks/lifecycle";
import type { CurrentUser } from "./account";
import { artifactKindsByTask } from "./artifacts";
import { getGenerationView, getOwnedGeneration, randomSeed, settledCredits, takesOf } from "./generations";
import { generationCost } from "./pricing";
import { createTask, type CreatedTask, type TaskInput } from "./tasks";

/** Takes one generation may have: enough to choose from, few enough to list side by side. */
export const MAX_TAKES = 20;

export const CreateTakeBody = z.strictObject({
  /** 0 … 2^31 − 1; left out, the Worker picks one and records it. */
  seed: Seed.optional(),
});
export type CreateTakeBody = z.infer<typeof CreateTakeBody>;

export const PreferTakeBody = z.strictObject({ take: z.number().int().min(1).max(MAX_TAKES) });

/** `?take=N` on a generation and its audio: that take instead of the preferred one. */
export const TakeQuery = z.object({ take: z.coerce.number().int().min(1).max(MAX_TAKES).optional() });

type TaskRow = typeof tasks.$inferSelect;

export async function takeTasks(ctx: Pick<RequestContext, "db">, userId: string, generationId: string): Promise<TaskRow[]> {
  const rows = await ctx.db
    .select()
    .from(tasks)
    .where(and(eq(tasks.generationId, generationId), eq(tasks.userId, userId)))
    .all();
  return rows.sort((a, b) => (a.take ?? 1) - (b.take ?? 1));
}

/**
 * A new take of one of the caller's generations: the preferred take's input
 * again (text, language, pauses and whatever else it carried) with a new seed,
 * charged like a new generation of that text. Another user's generation is a 404.
 */
export async function createTake(ctx: RequestContext, user: CurrentUser, generationId: string, body: CreateTakeBody): Promise<CreatedTask> {
  const g = await getOwnedGeneration(ctx, user.id, generationId);
  if (!g.voiceId) throw errors.conflict("voice_deleted", "The voice of this speech was deleted, so it cannot be made again.");
  const rows = await takeTasks(ctx, user.id, g.id);
  if (rows.length >= MAX_TAKES) {
    throw new AppError("too_many_takes", 409, `A generation keeps at most ${MAX_TAKES} takes. Delete it and start again to make more.`, {
      limit: MAX_TAKES,
    });
  }
  const source = rows.find((t) => t.id === g.taskId) ?? rows[0];
  // Every task's input is a TaskInput (services/tasks.ts writes it); the JSON column reads back as unknown.
  const input = (source?.input ?? { text: g.text, language: g.language }) as TaskInput;
  const next = rows.reduce((n, t) => Math.max(n, t.take ?? 1), 0) + 1;
  return createTask(ctx, user, {
    kind: "generate",
    input: { ...input, seed: body.seed ?? randomSeed() },
    cost: generationCost(input.text),
    voice: { id: g.voiceId },
    takeOf: { generationId: g.id, take: next },
  });
}

/** One take as the takes list shows it. */
export function takeView(generationId: string, t: TaskRow, preferred: boolean, kinds: ReadonlySet<string> = new Set(), settled?: number) {
  // Written only by the settle, as StoredResult / EngineError (tasks/settle.ts); JSON columns read back as unknown.
  const result = t.result as { duration_ms: number } | null;
  const input = t.input as TaskInput;
  const stopped = t.status === "failed" || t.status === "cancelled";
  const take = t.take ?? 1;
  return {
    take,
    task_id: t.id,
    seed: input.seed ?? null,
    status: t.status,
    preferred,
    cost: t.cost,
    /** Credits kept: all of them on success, those of the delivered parts on a stop; null while it runs. */
    charged: t.status === "succeeded" ? t.cost : stopped && settled !== undefined ? t.cost - settled : null,
    /** Credits given back when it failed or was cancelled; null unless it stopped. */
    released: stopped && settled !== undefined ? settled : null,
    duration_ms: t.status === "succeeded" ? (result?.duration_ms ?? null) : null,
    audio_url:
      t.status !== "succeeded" ? null : preferred ? audioUrls.generation(generationId) : audioUrls.generationTake(generationId, take),
    formats: (t.status !== "succeeded" ? [] : kinds.has("final_mp3") ? ["wav", "mp3"] : ["wav"]) as ("wav" | "mp3")[],
    /** The take's waveform peaks (ADR 0023), so its player never decodes the whole file. */
    peaks_url: t.status === "succeeded" && kinds.has("peaks") ? artifactUrl(t.id, "peaks", null) : null,
    error: t.error as EngineError | null,
    /** A part regeneration (ADR 0026): which part it rendered, from which take's task, and that part's own audio. */
    part: input.part
      ? {
          index: input.part.index,
          source_task_id: input.part.source_task_id,
          audio_url: t.status === "succeeded" ? artifactUrl(t.id, "segment", input.part.index) : null,
        }
      : null,
    created_at: t.createdAt.toISOString(),
    completed_at: t.finishedAt?.toISOString() ?? null,
  };
}
export type TakeView = ReturnType<typeof takeView>;

/** Every take of one of the caller's generations, oldest first, with seed, state, duration and charge. */
export async function listTakes(ctx: RequestContext, userId: string, generationId: string) {
  const g = await getOwnedGeneration(ctx, userId, generationId);
  const rows = await takeTasks(ctx, userId, g.id);
  const [kinds, settled] = await Promise.all([
    artifactKindsByTask(
      ctx.env.DB,
      userId,
      rows.filter((t) => t.status === "succeeded").map((t) => t.id),
    ),
    settledCredits(
      ctx.env.DB,
      userId,
      rows.filter((t) => t.status === "failed" || t.status === "cancelled").map((t) => t.id),
    ),
  ]);
  const preferred = rows.find((t) => t.id === g.taskId);
  return {
    generation_id: g.id,
    preferred_take: preferred?.take ?? 1,
    takes: rows.map((t) => takeView(g.id, t, t.id === g.taskId, kinds.get(t.id), settled.get(t.id))),
  };
}

/** Makes a finished take the one downloads and the API return; the generation row then mirrors it. */
export async function setPreferredTake(ctx: RequestContext, userId: string, generationId: string, take: number) {
  const g = await getOwnedGeneration(ctx, userId, generationId);
  const rows = await takesOf(ctx.env.DB, userId, [g.id]);
  const wanted = rows.find((r) => r.take === take);
  if (!wanted) throw errors.notFound("take");
  const t = await ctx.db
    .select()
    .from(tasks)
    .where(and(eq(tasks.id, wanted.id), eq(tasks.userId, userId)))
    .get();
  if (!t) throw errors.notFound("take");
  if (t.status !== "succeeded") {
    throw errors.conflict(
      "take_not_ready",
      isActive(t.status) ? "This take is still being made." : `This take ${t.status}; it has no audio to use.`,
      { status: t.status },
    );
  }
  const result = t.result as { duration_ms: number; sample_rate: number; size_bytes: number; key: string } | null; // settle's StoredResult
  await ctx.db
    .update(generations)
    .set({
      taskId: t.id,
      status: "succeeded",
      error: null,
      audioKey: result?.key ?? null,
      durationMs: result?.duration_ms ?? null,
      sizeBytes: result?.size_bytes ?? null,
      sampleRate: result?.sample_rate ?? null,
      completedAt: t.finishedAt,
    })
    .where(and(eq(generations.id, g.id), eq(generations.userId, userId)))
    .run();
  return getGenerationView(ctx, userId, g.id);
}
