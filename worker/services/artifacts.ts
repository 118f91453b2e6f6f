/**
 * Serving artifacts to their owner (ADR 0009): one lookup for every kind in
 * the registry. D1's `task_artifacts` is the durable record (written by the
 * settle); while a task is live, or before its settle reached D1, its tracker
 * answers for the artifacts it has announced. A cancelled or failed task keeps
 * only what was delivered, so its other parts are never served (issue 15).
 */
import type { RequestContext } from "../context";
import { artifactSpec, checkArtifactAddress, isArtifactKind, type ArtifactKind } from "../engine/artifacts";
import { AppError, errors } from "../lib/errors";
import { serveObject } from "../storage/serve";
import { getOwnedTask, trackerFor } from "./tasks";

export interface ArtifactLocation {
  key: string;
  contentType: string;
}

export async function findArtifact(
  ctx: Pick<RequestContext, "env">,
  task: { id: string; userId: string; kind: "generate" | "design_preview" },
  kind: string,
  index: number | null,
): Promise<ArtifactLocation | null> {
  if (!isArtifactKind(kind) || !artifactSpec(kind).public) return null;
  if (checkArtifactAddress(kind, index, task.kind)) return null;
  const row = await ctx.env.DB.prepare(`SELECT r2_key, content_type FROM task_artifacts WHERE task_id = ?1 AND user_id = ?2 AND kind = ?3 AND idx = ?4`)
    .bind(task.id, task.userId, kind, index ?? -1)
    .first<{ r2_key: string; content_type: string }>();
  if (row) return { key: row.r2_key, contentType: row.content_type };
  const live = await trackerFor(ctx.env, task.id).artifactFor(kind, index);
  return live ? { key: live.key, contentType: live.content_type } : null;
}

/** `GET/HEAD /api/tasks/:id/artifacts/:kind[/:index]`: owner only, Range-capable. */
export async function serveTaskArtifact(ctx: RequestContext, userId: string, taskId: string, kind: string, index: number | null, request: Request, downloadName?: string) {
  const task = await getOwnedTask(ctx, userId, taskId);
  const found = await findArtifact(ctx, task, kind, index);
  if (!found) throw errors.notFound("artifact");
  return serveObject(ctx.env.AUDIO, found.key, request, { contentType: found.contentType, downloadName });
}

/** Which kinds each task has in D1, for lists (e.g. a generation's download formats). */
export async function artifactKindsByTask(db: D1Database, userId: string, taskIds: string[]): Promise<Map<string, Set<string>>> {
  const out = new Map<string, Set<string>>();
  if (!taskIds.length) return out;
  // D1 binds at most 100 parameters per statement.
  for (let i = 0; i < taskIds.length; i += 90) {
    const ids = taskIds.slice(i, i + 90);
    const rows = await db
      .prepare(`SELECT task_id, kind FROM task_artifacts WHERE user_id = ?1 AND idx = -1 AND task_id IN (${ids.map((_, j) => `?${j + 2}`).join(", ")})`)
      .bind(userId, ...ids)
      .all<{ task_id: string; kind: string }>();
    for (const r of rows.results) {
      let set = out.get(r.task_id);
      if (!set) out.set(r.task_id, (set = new Set()));
      set.add(r.kind);
    }
  }
  return out;
}

/** The final file of a generation in a download format, through the registry. */
export async function serveGenerationAudio(
  ctx: RequestContext,
  g: { id: string; taskId: string; userId: string },
  format: "wav" | "mp3",
  request: Request,
  download: boolean,
  /** The file name without its extension (a later take's names its take). */
  name = `utter-${g.id}`,
) {
  const kind: ArtifactKind = format === "mp3" ? "final_mp3" : "final";
  const found = await findArtifact(ctx, { id: g.taskId, userId: g.userId, kind: "generate" }, kind, null);
  if (!found) {
    if (format === "mp3") throw errors.conflict("format_unavailable", "MP3 is not available for this generation; download the WAV instead.", { available: ["wav"] });
    throw new AppError("audio_not_ready", 409, "This generation has no audio yet.");
  }
  return serveObject(ctx.env.AUDIO, found.key, request, { contentType: found.contentType, downloadName: download ? `${name}.${format}` : undefined });
}

/** Removes every artifact of a task: the objects and the rows. */
export async function deleteTaskArtifacts(ctx: Pick<RequestContext, "env">, userId: string, taskId: string): Promise<void> {
  const rows = await ctx.env.DB.prepare(`SELECT r2_key FROM task_artifacts WHERE task_id = ?1 AND user_id = ?2`).bind(taskId, userId).all<{ r2_key: string }>();
  const keys = rows.results.map((r) => r.r2_key).filter((k) => k.startsWith(`users/${userId}/`));
  for (let i = 0; i < keys.length; i += 1000) await ctx.env.AUDIO.delete(keys.slice(i, i + 1000));
  await ctx.env.DB.prepare(`DELETE FROM task_artifacts WHERE task_id = ?1 AND user_id = ?2`).bind(taskId, userId).run();
}
