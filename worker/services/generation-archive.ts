import { and, eq, inArray } from "drizzle-orm";
import * as z from "zod";
import type { RequestContext } from "../context";
import { generations } from "../db/schema";
import { AppError } from "../lib/errors";
import { ZIP_MAX_BYTES, zipStream, type ZipEntry } from "../lib/zip-stream";
import { findArtifact } from "./artifacts";

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
  const unfinished = q.ids.filter((id) => byId.get(id)!.status !== "succeeded");
  if (unfinished.length) throw new AppError("audio_not_ready", 409, `These have no audio: ${unfinished.join(", ")}.`, { unfinished });
  // Every file comes from the artifact registry: `final` for WAV, `final_mp3` for MP3 (ADR 0009).
  const kind = q.format === "mp3" ? "final_mp3" : "final";
  const located = await Promise.all(q.ids.map((id) => findArtifact(ctx, { id: byId.get(id)!.taskId, userId, kind: "generate" }, kind, null)));
  const without = q.ids.filter((_, i) => !located[i]);
  if (without.length && q.format === "mp3") {
    throw new AppError("format_unavailable", 409, `MP3 is not available for ${without.join(", ")}; download WAV instead.`, { without_mp3: without });
  }
  if (without.length) throw new AppError("audio_not_ready", 409, `These have no audio: ${without.join(", ")}.`, { unfinished: without });
  const sizes = await Promise.all(located.map((l) => ctx.env.AUDIO.head(l!.key)));
  const total = sizes.reduce((n, h) => n + (h?.size ?? 0), 0);
  if (total > ZIP_MAX_BYTES) throw new AppError("archive_too_large", 413, "Those files add up to more than 4 GB; download fewer at a time.");

  const taken = new Set<string>();
  const entries: ZipEntry[] = q.ids.map((id, i) => {
    const g = byId.get(id)!;
    const key = located[i]!.key;
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
