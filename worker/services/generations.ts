import { and, desc, eq, lt, or } from "drizzle-orm";
import { containsText } from "../db/search";
import * as z from "zod";
import type { RequestContext } from "../context";
import { generations } from "../db/schema";
import { LanguageCode, MAX_PAUSE_MS, type EngineError } from "../engine/protocol";
import { errors } from "../lib/errors";
import { ledgerKeys } from "./credits";
import { artifactUrl, audioKeys, audioUrls } from "../storage/keys";
import { deletePrefix } from "../storage/serve";
import type { CurrentUser } from "./account";
import { LIMITS } from "./limits";
import { generationCost, planOf } from "./pricing";
import { hasSpeakableText, NOT_SPEAKABLE } from "./speakable";
import { createTask, type CreatedTask } from "./tasks";
import { artifactKindsByTask, deleteTaskArtifacts } from "./artifacts";

export const CreateGenerationBody = z.strictObject({
  voice_id: z.string().min(1).max(64),
  text: z
    .string()
    .refine((t) => t.trim().length >= LIMITS.textChars.min, "must not be empty")
    .refine((t) => [...t].length <= LIMITS.textChars.max, `must be at most ${LIMITS.textChars.max} characters`)
    .refine(hasSpeakableText, NOT_SPEAKABLE),
  language: LanguageCode.default("auto"),
  seed: z.number().int().min(0).max(2 ** 31 - 1).optional(),
  /** Silence between sentences and parts in ms (twice at a paragraph break); left out, the engine matches the voice's own pauses. */
  pause_ms: z.number().int().min(0).max(MAX_PAUSE_MS, `must be at most ${MAX_PAUSE_MS} ms`).optional(),
});
export type CreateGenerationBody = z.infer<typeof CreateGenerationBody>;

/** The longest text the user's stored plan takes (a plan a webhook just changed applies at once), for the generate form. */
export async function textLimitFor(ctx: Pick<RequestContext, "env">, user: Pick<CurrentUser, "id" | "plan">): Promise<number> {
  const row = await ctx.env.DB.prepare(`SELECT plan FROM user WHERE id = ?1`).bind(user.id).first<{ plan: string | null }>();
  return planOf(row?.plan ?? user.plan).textChars;
}

/** A generation with one of the user's voices; a voice that is not theirs (or gone) is a 404 from the creation batch. */
export async function createGeneration(ctx: RequestContext, user: CurrentUser, body: CreateGenerationBody): Promise<CreatedTask> {
  const text = body.text.trim();
  return createTask(ctx, user, {
    kind: "generate",
    input: {
      text,
      language: body.language,
      ...(body.seed !== undefined ? { seed: body.seed } : {}),
      ...(body.pause_ms !== undefined ? { pause_ms: body.pause_ms } : {}),
    },
    cost: generationCost(text),
    voice: { id: body.voice_id },
    planChars: [...text].length,
  });
}

export const GenerationQuery = z.object({
  search: z.string().max(200).optional(),
  voice_id: z.string().max(64).optional(),
  status: z.enum(["queued", "dispatched", "running", "succeeded", "failed", "cancelled"]).optional(),
  cursor: z.string().regex(/^\d+$/).optional(),
  limit: z.coerce.number().int().min(1).max(100).default(20),
});

type GenerationRow = typeof generations.$inferSelect;

/**
 * `kinds`: the task's unindexed artifact kinds (final, final_mp3), from task_artifacts.
 * `settled`: the credits its settle gave back (the ledger's `settle:<task>` delta), when settled.
 */
export function generationView(g: GenerationRow, kinds: ReadonlySet<string> = new Set(), settled?: number) {
  const stopped = g.status === "failed" || g.status === "cancelled";
  return {
    id: g.id,
    task_id: g.taskId,
    voice_id: g.voiceId,
    voice_name: g.voiceName,
    voice_deleted: g.voiceId === null,
    text: g.text,
    language: g.language,
    status: g.status,
    cost: g.cost,
    /** Credits actually charged: all of them on success; on a stop, those of the parts delivered (DESIGN §6). */
    charged: g.status === "succeeded" ? g.cost : stopped && settled !== undefined ? g.cost - settled : null,
    duration_ms: g.durationMs,
    size_bytes: g.sizeBytes,
    sample_rate: g.sampleRate,
    audio_url: g.status === "succeeded" ? audioUrls.generation(g.id) : null,
    formats: (g.status !== "succeeded" ? [] : kinds.has("final_mp3") ? ["wav", "mp3"] : ["wav"]) as ("wav" | "mp3")[],
    /** The waveform for the player, so an hour of audio is never decoded in the browser (ADR 0023). */
    peaks_url: g.status === "succeeded" && kinds.has("peaks") ? artifactUrl(g.taskId, "peaks", null) : null,
    // Only settle writes it, always an EngineError (tasks/settle.ts); the JSON column reads back as unknown.
    error: g.error as EngineError | null,
    created_at: g.createdAt.toISOString(),
    completed_at: g.completedAt?.toISOString() ?? null,
  };
}

export async function listGenerations(ctx: RequestContext, userId: string, q: z.infer<typeof GenerationQuery>) {
  const search = q.search?.trim();
  const rows = await ctx.db
    .select()
    .from(generations)
    .where(
      and(
        eq(generations.userId, userId),
        q.voice_id ? eq(generations.voiceId, q.voice_id) : undefined,
        q.status ? eq(generations.status, q.status) : undefined,
        search ? or(containsText(generations.text, search), containsText(generations.voiceName, search)) : undefined,
        q.cursor ? lt(generations.createdAt, new Date(Number(q.cursor))) : undefined,
      ),
    )
    .orderBy(desc(generations.createdAt))
    .limit(q.limit + 1)
    .all();
  const page = rows.slice(0, q.limit);
  const [kinds, settled] = await Promise.all([
    artifactKindsByTask(ctx.env.DB, userId, page.filter((g) => g.status === "succeeded").map((g) => g.taskId)),
    settledCredits(ctx.env.DB, userId, page.filter((g) => g.status === "failed" || g.status === "cancelled").map((g) => g.taskId)),
  ]);
  return {
    generations: page.map((g) => generationView(g, kinds.get(g.taskId), settled.get(g.taskId))),
    next_cursor: rows.length > q.limit && page.length ? String(page[page.length - 1]!.createdAt.getTime()) : null,
  };
}

/** What each stopped task's settle gave back, from its `settle:<task>` ledger entry. */
async function settledCredits(db: D1Database, userId: string, taskIds: string[]): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  // D1 binds at most 100 parameters per statement.
  for (let i = 0; i < taskIds.length; i += 90) {
    const keys = taskIds.slice(i, i + 90).map(ledgerKeys.settle);
    const rows = await db
      .prepare(`SELECT task_id, delta FROM credit_ledger WHERE user_id = ?1 AND idempotency_key IN (${keys.map((_, j) => `?${j + 2}`).join(", ")})`)
      .bind(userId, ...keys)
      .all<{ task_id: string; delta: number }>();
    for (const r of rows.results) out.set(r.task_id, r.delta);
  }
  return out;
}

export async function getOwnedGeneration(ctx: Pick<RequestContext, "db">, userId: string, id: string) {
  const row = await ctx.db.select().from(generations).where(and(eq(generations.id, id), eq(generations.userId, userId))).get();
  if (!row) throw errors.notFound("generation");
  return row;
}

/** Deletes a finished generation and its audio (final file and any segments). */
export async function deleteGeneration(ctx: RequestContext, userId: string, id: string): Promise<void> {
  const g = await getOwnedGeneration(ctx, userId, id);
  if (g.status === "queued" || g.status === "dispatched" || g.status === "running") {
    throw errors.conflict("task_active", "This generation is still being made. Cancel it first.");
  }
  await deleteTaskArtifacts(ctx, userId, g.taskId);
  // The final by its key too: a generation settled before task_artifacts existed and never backfilled still loses its audio.
  await ctx.env.AUDIO.delete(audioKeys.generation(userId, g.id));
  await deletePrefix(ctx.env.AUDIO, audioKeys.segmentsPrefix(userId, g.taskId));
  await ctx.db.delete(generations).where(and(eq(generations.id, id), eq(generations.userId, userId))).run();
}

/** One generation as the API shows it, with its download formats. */
export async function getGenerationView(ctx: RequestContext, userId: string, id: string) {
  const g = await getOwnedGeneration(ctx, userId, id);
  const stopped = g.status === "failed" || g.status === "cancelled";
  const [kinds, settled] = await Promise.all([
    g.status === "succeeded" ? artifactKindsByTask(ctx.env.DB, userId, [g.taskId]) : new Map<string, Set<string>>(),
    stopped ? settledCredits(ctx.env.DB, userId, [g.taskId]) : new Map<string, number>(),
  ]);
  return generationView(g, kinds.get(g.taskId), settled.get(g.taskId));
}
