/**
 * A generation's subtitles (ADR 0021): its `alignment` artifact, grouped into
 * cues and written as SRT or WebVTT. Owner only: another user's generation is
 * a 404, like every other read of it.
 */
import type { RequestContext } from "../context";
import { Alignment } from "../engine/alignment";
import { AppError, errors } from "../lib/errors";
import { buildCues, toSrt, toVtt } from "../lib/subtitles";
import { findArtifact } from "./artifacts";
import { getOwnedGeneration } from "./generations";

export type SubtitleFormat = "srt" | "vtt";

export const SUBTITLE_MEDIA: Record<SubtitleFormat, string> = {
  srt: "application/x-subrip; charset=utf-8",
  vtt: "text/vtt; charset=utf-8",
};

export async function generationSubtitles(ctx: RequestContext, userId: string, generationId: string, format: SubtitleFormat) {
  const g = await getOwnedGeneration(ctx, userId, generationId);
  if (g.status !== "succeeded") throw errors.conflict("audio_not_ready", "This generation has no audio yet, so no subtitles either.");
  const found = await findArtifact(ctx, { id: g.taskId, userId, kind: "generate" }, "alignment", null);
  const object = found ? await ctx.env.AUDIO.get(found.key) : null;
  if (!object) {
    throw errors.conflict(
      "subtitles_unavailable",
      "This generation has no word timings, so there are no subtitles for it. Generations made before subtitles existed have none.",
    );
  }
  // Checked on upload; parsed again so a reader never trusts bytes it did not check.
  const parsed = Alignment.safeParse(await object.json().catch(() => null));
  if (!parsed.success) throw new AppError("internal", 500, "This generation's word timings could not be read.");
  const duration = g.durationMs ? Math.min(parsed.data.duration, g.durationMs / 1000 + 0.05) : parsed.data.duration;
  const cues = buildCues(parsed.data.words, duration);
  return { body: format === "srt" ? toSrt(cues) : toVtt(cues), fileName: `utter-${g.id}.${format}`, contentType: SUBTITLE_MEDIA[format] };
}
