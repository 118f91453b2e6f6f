/**
 * Regenerating one part of a finished take (issue 11 item 3, ADR 0026). A part regeneration is a new
 * take of the generation: the source take's input again with a new (or given) seed, and
 * `part: {index, source_task_id, segments_total}`. Its tracker starts with the source's other
 * segment artifacts as durable, inherited parts (shared R2 keys); the engine renders only that part,
 * reads the others back and stitches the final from all of them. It costs that part's characters.
 */
import * as z from "zod";
import type { RequestContext } from "../context";
import { Alignment } from "../engine/alignment";
import { Seed } from "../engine/protocol";
import { AppError, errors } from "../lib/errors";
import { artifactUrl } from "../storage/keys";
import type { CurrentUser } from "./account";
import { getOwnedGeneration, randomSeed } from "./generations";
import { CHARACTERS_PER_CREDIT, generationCost } from "./pricing";
import { createTask, trackerFor, type CreatedTask, type TaskInput } from "./tasks";
import { MAX_TAKES, takeTasks } from "./takes";

export const RegeneratePartBody = z.strictObject({
  /** 0 … 2^31 − 1 for the regenerated part; left out, the Worker picks one and records it. */
  seed: Seed.optional(),
  /** The take whose part is regenerated; left out, the preferred take. */
  take: z.number().int().min(1).max(MAX_TAKES).optional(),
});
export type RegeneratePartBody = z.infer<typeof RegeneratePartBody>;

/** `:index` of the part route: a whole number, checked against the take's part count by the service. */
export const PartIndexParam = z.coerce.number().int().min(0).max(999);

type TaskRow = Awaited<ReturnType<typeof takeTasks>>[number];

export interface PartView {
  index: number;
  /** Where the part sits in the take's final audio, from the parts' durations (ms). */
  start_ms: number;
  end_ms: number;
  duration_ms: number;
  /** The part's text, from the take's word timings; null without them. */
  text: string | null;
  /** Its own audio (the segment artifact), owner only. */
  audio_url: string;
}

/** The finished take a part is taken from: `take` or the preferred one; 404 when absent, 409 when it has no audio. */
async function finishedTake(ctx: RequestContext, userId: string, generationId: string, take?: number) {
  const g = await getOwnedGeneration(ctx, userId, generationId);
  const rows = await takeTasks(ctx, userId, g.id);
  const source = take === undefined ? (rows.find((t) => t.id === g.taskId) ?? rows[0]) : rows.find((t) => (t.take ?? 1) === take);
  if (!source) throw errors.notFound("take");
  if (source.status !== "succeeded") {
    throw errors.conflict("take_not_ready", `Take ${source.take ?? 1} has no finished audio to take a part from.`, {
      status: source.status,
    });
  }
  return { g, rows, source };
}

/** The take's parts as its tracker announced them, their durations, and their text where the word timings give it. */
async function partsOf(ctx: RequestContext, userId: string, source: TaskRow) {
  const info = await trackerFor(ctx.env, source.id).parts();
  const segments = info?.segments ?? [];
  const total = info?.segments_total ?? segments.length;
  if (!info || segments.length === 0 || segments.length !== total || segments.some((s, i) => s.index !== i)) {
    throw errors.conflict(
      "parts_unavailable",
      "This take's parts are not on record, so one cannot be regenerated. Make a new take instead.",
    );
  }
  // Segments are kept a day after their take finished (the cron purges them), then the parts are gone.
  if ((source.segmentCount ?? 0) < 0) {
    throw errors.conflict("parts_expired", "This take's parts were cleaned up a day after it finished. Make a new take instead.");
  }
  const result = source.result as { duration_ms: number } | null; // the settle's StoredResult
  const sum = segments.reduce((n, s) => n + s.duration_ms, 0);
  // Parts overlap a little where they are crossfaded: scale the running sum to the final's length.
  const scale = result?.duration_ms && sum > 0 ? result.duration_ms / sum : 1;
  const words = await alignmentOf(ctx, userId, source.id);
  const text = (source.input as TaskInput).text;
  let at = 0;
  const parts: PartView[] = segments.map((s) => {
    const start = at;
    at += s.duration_ms;
    const [startMs, endMs] = [Math.round(start * scale), Math.round(at * scale)];
    // By each word's middle: a part's first word can start inside the crossfade, just before the part's start here.
    const mine = words?.filter((w) => ((w.start + w.end) / 2) * 1000 >= startMs && ((w.start + w.end) / 2) * 1000 < endMs) ?? [];
    const first = mine[0];
    const last = mine.at(-1);
    const spoken =
      first?.char_start !== undefined && last?.char_end !== undefined
        ? text.slice(first.char_start, last.char_end)
        : mine.length
          ? mine.map((w) => w.text).join(" ")
          : null;
    return {
      index: s.index,
      start_ms: startMs,
      end_ms: endMs,
      duration_ms: s.duration_ms,
      text: spoken,
      audio_url: artifactUrl(source.id, "segment", s.index),
    };
  });
  return { parts, chars: info.segment_chars, segments };
}

async function alignmentOf(ctx: RequestContext, userId: string, taskId: string) {
  const row = await ctx.env.DB.prepare(`SELECT r2_key FROM task_artifacts WHERE task_id = ?1 AND user_id = ?2 AND kind = 'alignment'`)
    .bind(taskId, userId)
    .first<{ r2_key: string }>();
  if (!row) return null;
  const object = await ctx.env.AUDIO.get(row.r2_key);
  if (!object) return null;
  const parsed = Alignment.safeParse(await object.json().catch(() => null));
  return parsed.success ? parsed.data.words : null;
}

/** A finished take's parts (the preferred take's unless `take` is given), for choosing one to regenerate. */
export async function listParts(ctx: RequestContext, userId: string, generationId: string, take?: number) {
  const { g, source } = await finishedTake(ctx, userId, generationId, take);
  const { parts } = await partsOf(ctx, userId, source);
  return { generation_id: g.id, take: source.take ?? 1, task_id: source.id, parts };
}

/**
 * A new take that renders only part `index` of a finished take and restitches the rest (ADR 0026).
 * Priced by that part's text: its words' characters when the take has word timings, else the
 * engine's character count for it, else the part's share of the take's cost. Another user's
 * generation or take is a 404; an index past the take's parts a 400.
 */
export async function createPartTake(
  ctx: RequestContext,
  user: CurrentUser,
  generationId: string,
  index: number,
  body: RegeneratePartBody,
): Promise<CreatedTask & { part: { index: number; source_take: number } }> {
  const { g, rows, source } = await finishedTake(ctx, user.id, generationId, body.take);
  if (!g.voiceId) throw errors.conflict("voice_deleted", "The voice of this speech was deleted, so it cannot be made again.");
  if (rows.length >= MAX_TAKES) {
    throw new AppError("too_many_takes", 409, `A generation keeps at most ${MAX_TAKES} takes. Delete it and start again to make more.`, {
      limit: MAX_TAKES,
    });
  }
  const { parts, chars } = await partsOf(ctx, user.id, source);
  const part = parts[index];
  if (!part) {
    throw new AppError(
      "part_out_of_range",
      400,
      `Take ${source.take ?? 1} has ${parts.length} part${parts.length === 1 ? "" : "s"}, numbered from 0.`,
      {
        index,
        parts: parts.length,
      },
    );
  }
  const stored = await ctx.env.DB.prepare(
    `SELECT count(*) AS n FROM task_artifacts WHERE task_id = ?1 AND user_id = ?2 AND kind = 'segment' AND idx != ?3`,
  )
    .bind(source.id, user.id, index)
    .first<{ n: number }>();
  if (Number(stored?.n ?? 0) !== parts.length - 1) {
    throw errors.conflict(
      "parts_unavailable",
      "Some of this take's parts are not stored, so one cannot be regenerated. Make a new take instead.",
    );
  }
  const input = source.input as TaskInput; // every task's input is a TaskInput (services/tasks.ts writes it)
  const partChars = chars?.[index];
  const cost = part.text
    ? generationCost(part.text)
    : partChars !== undefined
      ? Math.max(1, Math.ceil(partChars / CHARACTERS_PER_CREDIT))
      : Math.max(1, Math.ceil(source.cost / parts.length));
  const next = rows.reduce((n, t) => Math.max(n, t.take ?? 1), 0) + 1;
  const { part: _sourcePart, ...rest } = input;
  const created = await createTask(ctx, user, {
    kind: "generate",
    input: { ...rest, seed: body.seed ?? randomSeed(), part: { index, source_task_id: source.id, segments_total: parts.length } },
    cost,
    voice: { id: g.voiceId },
    takeOf: { generationId: g.id, take: next },
  });
  return { ...created, part: { index, source_take: source.take ?? 1 } };
}
