import { and, asc, count, desc, eq, or } from "drizzle-orm";
import { containsText } from "../db/search";
import * as z from "zod";
import type { RequestContext } from "../context";
import { voices } from "../db/schema";
import { LanguageCode } from "../engine/protocol";
import { AppError, errors, parseOrThrow } from "../lib/errors";
import { newId } from "../lib/ids";
import { clientIp, enforceRateLimit } from "../lib/rate-limit";
import { createAudioInspector, AudioInspectionError, type AudioInfo } from "../lib/audio";
import { readMultipart, boundaryOf } from "../lib/multipart";
import { audioKeys } from "../storage/keys";
import { createR2Writer, type R2Writer } from "../storage/r2-writer";
import type { CurrentUser } from "./account";
import { LIMITS } from "./limits";
import { DESIGN_PREVIEW_COST, planOf } from "./pricing";
import { assertCanCreateVoice, voiceLimitMessage } from "../billing/limits";
import { createTask, getOwnedTask, type CreatedTask } from "./tasks";
import { hasSpeakableText, NOT_SPEAKABLE } from "./speakable";
import { assertConsent, createSha256, getVoiceConsent, insertConsentStatement, type ConsentRecord } from "./voice-consent";

type VoiceRow = typeof voices.$inferSelect;

export function voiceView(v: VoiceRow) {
  return {
    id: v.id,
    name: v.name,
    language: v.language,
    source: v.source,
    transcript: v.transcript,
    description: v.description,
    duration_ms: v.durationMs,
    size_bytes: v.sizeBytes,
    format: v.referenceFormat,
    favorite: v.favorite,
    usage_count: v.usageCount,
    audio_url: `/api/voices/${v.id}/audio`,
    created_at: v.createdAt.toISOString(),
    updated_at: v.updatedAt.toISOString(),
  };
}
export type VoiceView = ReturnType<typeof voiceView>;

/** One voice with the consent recorded for it (null for designed voices, ADR 0016). */
export async function voiceDetail(ctx: Pick<RequestContext, "db">, userId: string, v: VoiceRow) {
  return { ...voiceView(v), consent: v.source === "design" ? null : await getVoiceConsent(ctx.db, userId, v.id) };
}
export type VoiceDetail = Awaited<ReturnType<typeof voiceDetail>>;

/** The caller's voice, or 404 (another user's id must not reveal that it exists). */
export async function getOwnedVoice(ctx: Pick<RequestContext, "db">, userId: string, voiceId: string) {
  const row = await ctx.db.select().from(voices).where(and(eq(voices.id, voiceId), eq(voices.userId, userId))).get();
  if (!row) throw errors.notFound("voice");
  return row;
}

interface NewVoiceRow {
  id: string;
  userId: string;
  name: string;
  language: string;
  source: "upload" | "record" | "design";
  transcript: string | null;
  description: string | null;
  referenceKey: string;
  referenceFormat: string;
  referenceMime: string;
  durationMs: number;
  sizeBytes: number;
  designTaskId: string | null;
  createdAt: Date;
}

/**
 * Inserts the voice only while the owner is under their plan's voice count,
 * in one statement: `assertCanCreateVoice` answers early, this makes the limit
 * hold when uploads race.
 */
async function insertVoiceWithinPlan(ctx: Pick<RequestContext, "env">, user: CurrentUser, v: NewVoiceRow, consent?: ConsentRecord): Promise<void> {
  const owner = await ctx.env.DB.prepare(`SELECT plan FROM user WHERE id = ?1`).bind(user.id).first<{ plan: string }>();
  const plan = planOf(owner?.plan ?? user.plan);
  const at = v.createdAt.getTime();
  const insert = ctx.env.DB.prepare(
    `INSERT INTO voices (id, user_id, name, language, source, transcript, description, reference_key, reference_format, reference_mime,
                         duration_ms, size_bytes, design_task_id, created_at, updated_at)
     SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?14
     WHERE ?15 < 0 OR (SELECT count(*) FROM voices WHERE user_id = ?2) < ?15`,
  )
    .bind(v.id, v.userId, v.name, v.language, v.source, v.transcript, v.description, v.referenceKey, v.referenceFormat, v.referenceMime, v.durationMs, v.sizeBytes, v.designTaskId, at, plan.voiceLimit ?? -1);
  // One batch (one transaction): the consent record lands exactly when the voice does.
  const [res] = consent ? await ctx.env.DB.batch([insert, insertConsentStatement(ctx.env.DB, consent, newId("consent"))]) : [await insert.run()];
  if (!res?.meta.changes) {
    throw new AppError("voice_limit_reached", 403, voiceLimitMessage(plan), { plan: plan.id, limit: plan.voiceLimit });
  }
}

export const VoiceFields = z.object({
  name: z.string().trim().min(LIMITS.voiceName.min, "must not be empty").max(LIMITS.voiceName.max, `must be at most ${LIMITS.voiceName.max} characters`),
  language: LanguageCode.default("auto"),
  transcript: z
    .string()
    .trim()
    .max(LIMITS.transcriptChars, `must be at most ${LIMITS.transcriptChars} characters`)
    .optional()
    .transform((t) => (t ? t : undefined)),
  source: z.enum(["upload", "record"]).default("upload"),
});

function formatMinSec(ms: number): string {
  const s = Math.round(ms / 1000);
  return s >= 60 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${s} s`;
}

/**
 * Clone (DESIGN §1): streams the multipart `audio` part into R2 while the
 * inspector checks its bytes (magic numbers, not the file name) and measures
 * its duration; a rejected upload leaves no object and no row behind.
 */
export async function createVoiceFromUpload(ctx: RequestContext, user: CurrentUser, request: Request) {
  await enforceRateLimit(ctx.env.UPLOAD_LIMITER, `upload:${user.id}`);
  await assertCanCreateVoice(ctx, user);
  const boundary = boundaryOf(request.headers.get("content-type"));
  const ip = clientIp(request);
  const declared = Number(request.headers.get("content-length") ?? NaN);
  if (Number.isFinite(declared) && declared > LIMITS.referenceBytes + 64 * 1024) throw tooLarge();
  if (!request.body) throw new AppError("invalid_request", 400, "The form is empty.");

  const id = newId("voice");
  const key = audioKeys.reference(user.id, id);
  const fields: Record<string, string> = {};
  let info: AudioInfo | null = null;
  let writer: R2Writer | null = null;
  let audioSha256 = "";
  try {
    await readMultipart(request.body, boundary, {
      field(name, value) {
        fields[name] = value;
      },
      async file(part) {
        if (part.name !== "audio") {
          for await (const _ of part.chunks) {
            // not ours: skip it
          }
          return;
        }
        if (info || writer) throw new AppError("invalid_request", 400, "Send one audio file at a time.");
        // A consent field sent before the audio (as the clone page does) is checked before any byte is stored.
        if ("consent" in fields) assertConsent(fields.consent);
        const inspector = createAudioInspector();
        const sha = createSha256();
        let size = 0;
        for await (const chunk of part.chunks) {
          size += chunk.length;
          if (size > LIMITS.referenceBytes) throw tooLarge();
          inspector.push(chunk);
          await sha.push(chunk);
          writer ??= createR2Writer(ctx.env.AUDIO, key, { customMetadata: { owner: user.id } });
          await writer.write(chunk);
        }
        info = inspector.finish();
        audioSha256 = await sha.hex();
      },
    }, { maxParts: 8, maxFieldBytes: LIMITS.transcriptChars * 4 + 16 * 1024, maxBodyBytes: LIMITS.referenceBytes + 1024 * 1024 });
    const audio = info as AudioInfo | null;
    if (!audio || !writer) throw new AppError("audio_missing", 400, "Attach an audio file (field \"audio\").", { fields: [{ field: "audio", message: "required" }] });
    assertConsent(fields.consent);
    const meta = parseOrThrow(VoiceFields, fields, "form");
    if (audio.durationMs < LIMITS.referenceDurationMs.min) {
      throw new AppError("audio_too_short", 422, `This recording is ${formatMinSec(audio.durationMs)} long; a voice needs at least 10 seconds of speech.`, {
        duration_ms: audio.durationMs,
      });
    }
    if (audio.durationMs > LIMITS.referenceDurationMs.max) {
      throw new AppError("audio_too_long", 422, `This recording is ${formatMinSec(audio.durationMs)} long; use at most 5 minutes.`, {
        duration_ms: audio.durationMs,
      });
    }
    const w = writer as R2Writer;
    const stored = await w.close();
    writer = null; // committed: from here a failure must delete the object explicitly
    try {
      const now = new Date();
      await insertVoiceWithinPlan(ctx, user, {
        id,
        userId: user.id,
        name: meta.name,
        language: meta.language,
        source: meta.source,
        transcript: meta.transcript ?? null,
        description: null,
        referenceKey: key,
        referenceFormat: audio.format,
        referenceMime: audio.mimeType,
        durationMs: Math.round(audio.durationMs),
        sizeBytes: stored.size,
        designTaskId: null,
        createdAt: now,
      }, { userId: user.id, voiceId: id, clientIp: ip, audioSha256, source: meta.source, at: now });
    } catch (err) {
      await ctx.env.AUDIO.delete(key);
      throw err;
    }
    ctx.log.info("voice.created", { voice_id: id, format: audio.format, duration_ms: audio.durationMs, size_bytes: stored.size });
    return voiceDetail(ctx, user.id, await getOwnedVoice(ctx, user.id, id));
  } catch (err) {
    const w = writer as R2Writer | null;
    if (w) await w.abort();
    if (err instanceof AudioInspectionError) {
      throw new AppError(err.code === "unsupported_format" || err.code === "empty" ? "unsupported_audio" : "unreadable_audio", 415, err.message, {
        reason: err.code,
      });
    }
    throw err;
  }
}

function tooLarge(): AppError {
  return new AppError("audio_too_large", 413, `This file is larger than ${LIMITS.referenceBytes / 1024 / 1024} MB. Trim it or use a compressed format.`);
}

export const VoiceQuery = z.object({
  search: z.string().max(200).optional(),
  source: z.enum(["upload", "record", "design"]).optional(),
  favorite: z.enum(["true", "false", "1", "0"]).optional(),
  sort: z.enum(["name", "created", "usage"]).default("created"),
  cursor: z.string().regex(/^\d{1,6}$/).optional(),
  limit: z.coerce.number().int().min(1).max(100).default(50),
});
export type VoiceQuery = z.infer<typeof VoiceQuery>;

/** The caller's voices; the cursor is an offset (lists are small and sorted several ways). */
export async function listVoices(ctx: Pick<RequestContext, "db">, userId: string, q: Partial<VoiceQuery> = {}) {
  const limit = q.limit ?? 50;
  const offset = Number(q.cursor ?? 0);
  const search = q.search?.trim();
  const order =
    q.sort === "name" ? [asc(voices.name), desc(voices.createdAt)] : q.sort === "usage" ? [desc(voices.usageCount), desc(voices.createdAt)] : [desc(voices.createdAt)];
  const rows = await ctx.db
    .select()
    .from(voices)
    .where(
      and(
        eq(voices.userId, userId),
        q.source ? eq(voices.source, q.source) : undefined,
        q.favorite ? eq(voices.favorite, q.favorite === "true" || q.favorite === "1") : undefined,
        search ? or(containsText(voices.name, search), containsText(voices.transcript, search), containsText(voices.description, search)) : undefined,
      ),
    )
    .orderBy(...order)
    .limit(limit + 1)
    .offset(offset)
    .all();
  return { voices: rows.slice(0, limit).map(voiceView), next_cursor: rows.length > limit ? String(offset + limit) : null };
}

export async function countVoices(ctx: Pick<RequestContext, "db">, userId: string): Promise<number> {
  const row = await ctx.db.select({ n: count() }).from(voices).where(eq(voices.userId, userId)).get();
  return row?.n ?? 0;
}

export const UpdateVoiceBody = z
  .strictObject({
    name: VoiceFields.shape.name.optional(),
    favorite: z.boolean().optional(),
    transcript: z.string().trim().max(LIMITS.transcriptChars, `must be at most ${LIMITS.transcriptChars} characters`).nullable().optional(),
    language: LanguageCode.optional(),
    description: z.string().trim().max(LIMITS.designDescription.max, `must be at most ${LIMITS.designDescription.max} characters`).nullable().optional(),
  })
  .refine((b) => Object.keys(b).length > 0, "send at least one of name, favorite, transcript, language, description");

export async function updateVoice(ctx: Pick<RequestContext, "db">, userId: string, voiceId: string, patch: z.infer<typeof UpdateVoiceBody>) {
  await getOwnedVoice(ctx, userId, voiceId);
  await ctx.db
    .update(voices)
    .set({
      ...(patch.name !== undefined ? { name: patch.name } : {}),
      ...(patch.favorite !== undefined ? { favorite: patch.favorite } : {}),
      ...(patch.transcript !== undefined ? { transcript: patch.transcript || null } : {}),
      ...(patch.language !== undefined ? { language: patch.language } : {}),
      ...(patch.description !== undefined ? { description: patch.description || null } : {}),
      updatedAt: new Date(),
    })
    .where(and(eq(voices.id, voiceId), eq(voices.userId, userId)))
    .run();
  return voiceView(await getOwnedVoice(ctx, userId, voiceId));
}

/** Deletes the voice and its reference audio; its generations stay in history (voice_id becomes null). */
export async function deleteVoice(ctx: RequestContext, userId: string, voiceId: string): Promise<void> {
  const v = await getOwnedVoice(ctx, userId, voiceId);
  await ctx.db.delete(voices).where(and(eq(voices.id, voiceId), eq(voices.userId, userId))).run();
  await ctx.env.AUDIO.delete(v.referenceKey);
  ctx.log.info("voice.deleted", { voice_id: voiceId });
}

/** Design previews are kept this long; the scheduled job deletes older unsaved ones. */
export const PREVIEW_TTL_MS = 24 * 60 * 60_000;

export const DesignPreviewBody = z.strictObject({
  description: z.string().trim().min(LIMITS.designDescription.min, "must not be empty").max(LIMITS.designDescription.max, `must be at most ${LIMITS.designDescription.max} characters`),
  text: z
    .string()
    .trim()
    .min(LIMITS.designText.min, "must not be empty")
    .max(LIMITS.designText.max, `must be at most ${LIMITS.designText.max} characters`)
    .refine(hasSpeakableText, NOT_SPEAKABLE),
  language: LanguageCode.default("auto"),
});

export async function createDesignPreview(ctx: RequestContext, user: CurrentUser, body: z.infer<typeof DesignPreviewBody>): Promise<CreatedTask> {
  return createTask(ctx, user, {
    kind: "design_preview",
    input: { text: body.text, language: body.language, instruct: body.description },
    cost: DESIGN_PREVIEW_COST,
    voice: null,
    expiresAt: Date.now() + PREVIEW_TTL_MS,
  });
}

export const SaveDesignBody = z.strictObject({ task_id: z.string().min(1).max(64), name: VoiceFields.shape.name });

/** Turns a finished preview into a voice. Saving the same preview again returns the voice already saved. */
export async function saveDesignedVoice(ctx: RequestContext, user: CurrentUser, body: z.infer<typeof SaveDesignBody>): Promise<{ voice: VoiceView; created: boolean }> {
  const task = await getOwnedTask(ctx, user.id, body.task_id);
  if (task.kind !== "design_preview") throw errors.notFound("preview");
  const existing = await ctx.db.select().from(voices).where(and(eq(voices.designTaskId, task.id), eq(voices.userId, user.id))).get();
  if (existing) return { voice: voiceView(existing), created: false };
  if (task.status !== "succeeded") throw errors.conflict("preview_not_ready", "This preview is not finished yet.");
  if (task.expiresAt && task.expiresAt.getTime() < Date.now()) throw new AppError("preview_expired", 410, "This preview has expired. Make a new one.");
  await assertCanCreateVoice(ctx, user);
  const input = task.input as { text: string; language: string; instruct?: string };
  const src = await ctx.env.AUDIO.get(audioKeys.preview(user.id, task.id));
  if (!src) throw new AppError("preview_expired", 410, "This preview's audio is gone. Make a new one.");
  const result = task.result as { duration_ms: number } | null;
  const id = newId("voice");
  const key = audioKeys.reference(user.id, id);
  await ctx.env.AUDIO.put(key, src.body, { httpMetadata: { contentType: "audio/wav" }, customMetadata: { owner: user.id } });
  const now = new Date();
  try {
    await insertVoiceWithinPlan(ctx, user, {
      id,
      userId: user.id,
      name: body.name,
      language: input.language,
      source: "design",
      description: input.instruct ?? null,
      transcript: input.text,
      referenceKey: key,
      referenceFormat: "wav",
      referenceMime: "audio/wav",
      durationMs: result?.duration_ms ?? 0,
      sizeBytes: src.size,
      designTaskId: task.id,
      createdAt: now,
    });
  } catch (err) {
    // A concurrent save of the same preview won the unique design_task_id: answer with its voice.
    // (Or the plan's limit was reached meanwhile: then there is no winner and the error stands.)
    await ctx.env.AUDIO.delete(key);
    const winner = await ctx.db.select().from(voices).where(and(eq(voices.designTaskId, task.id), eq(voices.userId, user.id))).get();
    if (winner) return { voice: voiceView(winner), created: false };
    throw err;
  }
  return { voice: voiceView(await getOwnedVoice(ctx, user.id, id)), created: true };
}

