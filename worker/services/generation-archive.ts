import { and, eq, inArray } from "drizzle-orm";
import * as z from "zod";
import type { RequestContext } from "../context";
import { generations } from "../db/schema";
import { AppError } from "../lib/errors";
import { ZIP_MAX_BYTES, zipStream, type ZipEntry } from "../lib/zip-stream";
import { audioKeys } from "../storage/keys";

export const ARCHIVE_MAX_GENERATIONS = 100;

export const ArchiveQuery = z.object({
  ids: z
    .string()
    .transform((s) => [...new Set(s.split(",").map((id) => id.trim()).filter(Boolean))])
    .pipe(z.array(z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, "ids are comma-separated generation ids")).min(1).max(ARCHIVE_MAX_GENERATIONS)),
  format: z.enum(["wav", "mp3"]).default("wav"),
});
export type ArchiveQuery = z.infer<typeof ArchiveQuery>;

/** A file name a person recognises: date, voice, the first words; unique within the archive. */
function entryName(g: { createdAt: Date; voiceName: string; text: string }, ext: string, taken: Set<string>): string {
  const slug = (s: string, max: number) =>
    s
      .normalize("NFKD")
      .replace(/[^\p{L}\p{N}]+/gu, "-")
      .replace(/^-+|-+$/g, "")
      .slice(0, max)
      .replace(/-+$/, "") || "speech";
  const base = `${g.createdAt.toISOString().slice(0, 10)}-${slug(g.voiceName, 30)}-${slug(g.text, 40)}`;
  let name = `${base}.${ext}`;
  for (let n = 2; taken.has(name); n++) name = `${base}-${n}.${ext}`;
  taken.add(name);
  return name;
}

/**
 * Several of the caller's finished generations as one ZIP, streamed from R2
 * without holding any file in memory. Every id must be the caller's and
 * finished (another user's id answers as unknown, like everywhere else).
 */
export async function generationArchive(ctx: Pick<RequestContext, "db" | "env">, userId: string, q: ArchiveQuery): Promise<{ stream: ReadableStream<Uint8Array>; fileName: string }> {
  const rows = await ctx.db
    .select()
    .from(generations)
    .where(and(eq(generations.userId, userId), inArray(generations.id, q.ids)))
    .all();
  const byId = new Map(rows.map((r) => [r.id, r]));
  const missing = q.ids.filter((id) => !byId.has(id));
  if (missing.length) throw new AppError("not_found", 404, `No generation ${missing.join(", ")} in your history.`, { missing });
  const unfinished = q.ids.filter((id) => byId.get(id)!.status !== "succeeded" || !byId.get(id)!.audioKey);
  if (unfinished.length) throw new AppError("audio_not_ready", 409, `These have no audio: ${unfinished.join(", ")}.`, { unfinished });
  if (q.format === "mp3") {
    const noMp3 = q.ids.filter((id) => !byId.get(id)!.mp3SizeBytes);
    if (noMp3.length) throw new AppError("format_unavailable", 409, `MP3 is not available for ${noMp3.join(", ")}; download WAV instead.`, { without_mp3: noMp3 });
  }
  const total = q.ids.reduce((n, id) => n + ((q.format === "mp3" ? byId.get(id)!.mp3SizeBytes : byId.get(id)!.sizeBytes) ?? 0), 0);
  if (total > ZIP_MAX_BYTES) throw new AppError("archive_too_large", 413, "Those files add up to more than 4 GB; download fewer at a time.");

  const taken = new Set<string>();
  const entries: ZipEntry[] = q.ids.map((id) => {
    const g = byId.get(id)!;
    const key = q.format === "mp3" ? audioKeys.generationMp3(userId, g.id) : g.audioKey!;
    return {
      name: entryName(g, q.format, taken),
      modified: g.completedAt ?? g.createdAt,
      async open() {
        const object = await ctx.env.AUDIO.get(key);
        if (!object) throw new Error(`audio of ${g.id} is missing from storage`);
        return object.body;
      },
    };
  });
  return { stream: zipStream(entries), fileName: `utter-${new Date().toISOString().slice(0, 10)}-${q.ids.length}-generations.zip` };
}
