import { and, desc, eq, lt, or } from "drizzle-orm";
import { containsText } from "../db/search";
import * as z from "zod";
import type { RequestContext } from "../context";
import { generations, tasks } from "../db/schema";
import { LanguageCode, MAX_PAUSE_MS, Seed, SEED_MAX, type EngineError } from "../engine/protocol";
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
  /** 0 … 2^31 − 1; left out, the Worker picks one and records it, so any take can be made again (ADR 0022). */
  seed: Seed.optional(),
  /** Silence between sentences and parts in ms (twice at a paragraph break); left out, the engine matches the voice's own pauses. */
  pause_ms: z.number().int().min(0).max(MAX_PAUSE_MS, `must be at most ${MAX_PAUSE_MS} ms`).optional(),
});
export type CreateGenerationBody = z.infer<typeof CreateGenerationBody>;

/** A seed for a take that was not given one: uniform over 0 … 2^31 − 1. */
export function randomSeed(): number {
  const word = new Uint32Array(1);
  crypto.getRandomValues(word);
  return word[0]! & SEED_MAX;
}

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
      seed: body.seed ?? randomSeed(),
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
 * `kinds`: the task's unindexed artifact kinds (final, final_mp3, alignment), from task_artifacts.
 * `settled`: the credits its settle gave back (the ledger's `settle:<task>` delta), when settled.
 */
/** Which take a view shows, which one is preferred, how many there are, and the shown take's seed (ADR 0022). */
export interface TakeInfo {
  take: number;
  preferredTake: number;
  takes: number;
  /** Null for takes made before seeds were recorded. */
  seed: number | null;
}

export function generationView(g: GenerationRow, kinds: ReadonlySet<string> = new Set(), settled?: number, info?: TakeInfo) {
  const stopped = g.status === "failed" || g.status === "cancelled";
  const take = info?.take ?? 1;
  const preferredTake = info?.preferredTake ?? take;
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
    audio_url: g.status !== "succeeded" ? null : take === preferredTake ? audioUrls.generation(g.id) : audioUrls.generationTake(g.id, take),
    formats: (g.status !== "succeeded" ? [] : kinds.has("final_mp3") ? ["wav", "mp3"] : ["wav"]) as ("wav" | "mp3")[],
    subtitles_url: g.status === "succeeded" && kinds.has("alignment") ? `/api/generations/${g.id}/subtitles.srt` : null,
    /** The waveform for the player, so an hour of audio is never decoded in the browser (ADR 0023). */
    peaks_url: g.status === "succeeded" && kinds.has("peaks") ? artifactUrl(g.taskId, "peaks", null) : null,
    // Only settle writes it, always an EngineError (tasks/settle.ts); the JSON column reads back as unknown.
    error: g.error as EngineError | null,
    created_at: g.createdAt.toISOString(),
    completed_at: g.completedAt?.toISOString() ?? null,
    /** The take shown here: the preferred one unless another was asked for. */
    take,
    preferred_take: preferredTake,
    takes: info?.takes ?? 1,
    seed: info?.seed ?? null,
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
  const [kinds, settled, takes] = await Promise.all([
    artifactKindsByTask(ctx.env.DB, userId, page.filter((g) => g.status === "succeeded").map((g) => g.taskId)),
    settledCredits(ctx.env.DB, userId, page.filter((g) => g.status === "failed" || g.status === "cancelled").map((g) => g.taskId)),
    preferredTakes(ctx.env.DB, userId, page),
  ]);
  return {
    generations: page.map((g) => generationView(g, kinds.get(g.taskId), settled.get(g.taskId), takes.get(g.id))),
    next_cursor: rows.length > q.limit && page.length ? String(page[page.length - 1]!.createdAt.getTime()) : null,
  };
}

export interface TakeRow {
  generation_id: string;
  id: string;
  take: number;
  seed: number | null;
}

/** Every take of these generations (the unique (generation_id, take) index serves it), in take order. */
export async function takesOf(db: D1Database, userId: string, generationIds: string[]): Promise<TakeRow[]> {
  const out: TakeRow[] = [];
  // D1 binds at most 100 parameters per statement.
  for (let i = 0; i < generationIds.length; i += 90) {
    const ids = generationIds.slice(i, i + 90);
    const rows = await db
      .prepare(
        `SELECT generation_id, id, coalesce(take, 1) AS take, json_extract(input, '$.seed') AS seed FROM tasks
         WHERE user_id = ?1 AND generation_id IN (${ids.map((_, j) => `?${j + 2}`).join(", ")}) ORDER BY generation_id, take`,
      )
      .bind(userId, ...ids)
      .all<TakeRow>();
    out.push(...rows.results);
  }
  return out;
}

/** The preferred take of each generation, as its view shows it. */
async function preferredTakes(db: D1Database, userId: string, page: GenerationRow[]): Promise<Map<string, TakeInfo>> {
  const rows = await takesOf(
    db,
    userId,
    page.map((g) => g.id),
  );
  const out = new Map<string, TakeInfo>();
  for (const g of page) {
    const mine = rows.filter((r) => r.generation_id === g.id);
    const preferred = mine.find((r) => r.id === g.taskId);
    const take = preferred?.take ?? 1;
    out.set(g.id, { take, preferredTake: take, takes: Math.max(1, mine.length), seed: preferred?.seed ?? null });
  }
  return out;
}

/** What each stopped task's settle gave back, from its `settle:<task>` ledger entry. */
export async function settledCredits(db: D1Database, userId: string, taskIds: string[]): Promise<Map<string, number>> {
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

/** Deletes a finished generation and its audio: every take's final file and segments. */
export async function deleteGeneration(ctx: RequestContext, userId: string, id: string): Promise<void> {
  const g = await getOwnedGeneration(ctx, userId, id);
  const takes = await ctx.db
    .select({ id: tasks.id, status: tasks.status })
    .from(tasks)
    .where(and(eq(tasks.generationId, id), eq(tasks.userId, userId)))
    .all();
  const active = (s: string) => s === "queued" || s === "dispatched" || s === "running";
  if (active(g.status) || takes.some((t) => active(t.status))) {
    throw errors.conflict("task_active", "This generation is still being made. Cancel it first.");
  }
  for (const taskId of new Set([g.taskId, ...takes.map((t) => t.id)])) {
    await deleteTaskArtifacts(ctx, userId, taskId);
    await deletePrefix(ctx.env.AUDIO, audioKeys.segmentsPrefix(userId, taskId));
  }
  // The final by its key too: a generation settled before task_artifacts existed and never backfilled still loses its audio.
  await ctx.env.AUDIO.delete(audioKeys.generation(userId, g.id));
  await ctx.db.delete(generations).where(and(eq(generations.id, id), eq(generations.userId, userId))).run();
}

/** A take's task row as a generation row: the generation as that take would show it (ADR 0022). */
function asTake(g: GenerationRow, t: typeof tasks.$inferSelect): GenerationRow {
  // Written only by the settle, as StoredResult / EngineError (tasks/settle.ts); JSON columns read back as unknown.
  const result = t.result as { duration_ms: number; sample_rate: number; size_bytes: number; key: string } | null;
  return {
    ...g,
    taskId: t.id,
    status: t.status,
    error: t.error,
    audioKey: result?.key ?? null,
    durationMs: result?.duration_ms ?? null,
    sizeBytes: result?.size_bytes ?? null,
    sampleRate: result?.sample_rate ?? null,
    cost: t.cost,
    createdAt: t.createdAt,
    completedAt: t.finishedAt,
  };
}

/** One of the caller's generations with the take to show: `take` when asked (404 if it has none such), else the preferred one. */
export async function getGenerationTake(ctx: Pick<RequestContext, "db" | "env">, userId: string, id: string, take?: number) {
  const g = await getOwnedGeneration(ctx, userId, id);
  const rows = await takesOf(ctx.env.DB, userId, [g.id]);
  const preferred = rows.find((r) => r.id === g.taskId);
  const preferredTake = preferred?.take ?? 1;
  const wanted = take === undefined ? preferred : rows.find((r) => r.take === take);
  if (!wanted && take !== undefined && take !== preferredTake) throw errors.notFound("take");
  let row = g;
  if (wanted && wanted.id !== g.taskId) {
    const t = await ctx.db.select().from(tasks).where(and(eq(tasks.id, wanted.id), eq(tasks.userId, userId))).get();
    if (!t) throw errors.notFound("take");
    row = asTake(g, t);
  }
  const info: TakeInfo = { take: wanted?.take ?? preferredTake, preferredTake, takes: Math.max(1, rows.length), seed: wanted?.seed ?? null };
  return { generation: row, info };
}

/** One generation as the API shows it, with its download formats: the preferred take, or `take` when asked. */
export async function getGenerationView(ctx: RequestContext, userId: string, id: string, take?: number) {
  const { generation: g, info } = await getGenerationTake(ctx, userId, id, take);
  const stopped = g.status === "failed" || g.status === "cancelled";
  const [kinds, settled] = await Promise.all([
    g.status === "succeeded" ? artifactKindsByTask(ctx.env.DB, userId, [g.taskId]) : new Map<string, Set<string>>(),
    stopped ? settledCredits(ctx.env.DB, userId, [g.taskId]) : new Map<string, number>(),
  ]);
  return generationView(g, kinds.get(g.taskId), settled.get(g.taskId), info);
}
