import { Hono, type Context } from "hono";
import * as z from "zod";
import type { ApiEnv } from "../app";
import { documented, rangedAudio } from "../route-doc";
import { CreatedTaskBody, GenerationEnvelope, GenerationList } from "../response-schemas";
import { requireUser } from "../../auth/session";
import { errors, parseOrThrow } from "../../lib/errors";
import {
  createGeneration,
  CreateGenerationBody,
  deleteGeneration,
  GenerationQuery,
  getGenerationView,
  getOwnedGeneration,
  listGenerations,
} from "../../services/generations";
import { ArchiveQuery, generationArchive } from "../../services/generation-archive";
import { serveGenerationAudio } from "../../services/artifacts";
import { generationSubtitles, type SubtitleFormat } from "../../services/subtitles";
import { jsonBody, queryParams } from "../validate";

function subtitleRoute(format: SubtitleFormat) {
  return [
    documented({
      operationId: format === "srt" ? "getGenerationSubtitlesSrt" : "getGenerationSubtitlesVtt",
      summary: `A finished generation's subtitles as ${format === "srt" ? "SubRip (SRT)" : "WebVTT"}`,
      description:
        "Cues built from the word timings the engine measured in the final audio (the `alignment` artifact): at most two lines of about 42 characters, " +
        "at most 7 s each, a new cue at every sentence end. A generation without word timings answers 409 `subtitles_unavailable`.",
      tag: "History",
      access: "history",
      responses: [
        {
          status: 200,
          description: "The subtitles, as a download.",
          media: [{ type: format === "srt" ? "application/x-subrip" : "text/vtt" }],
        },
      ],
      errors: [404, 409],
    }),
    async (c: Context<ApiEnv>) => {
      const ctx = c.get("ctx");
      const user = await requireUser(ctx, c.req.raw.headers, "history");
      const subtitles = await generationSubtitles(ctx, user.id, c.req.param("id") ?? "", format);
      return new Response(subtitles.body, {
        headers: {
          "content-type": subtitles.contentType,
          "content-disposition": `attachment; filename="${subtitles.fileName}"`,
          "cache-control": "private, no-store",
          "x-content-type-options": "nosniff",
        },
      });
    },
  ] as const;
}

const AudioQuery = z.object({ format: z.enum(["wav", "mp3"]).default("wav"), download: z.enum(["0", "1"]).optional() });

export const generationRoutes = new Hono<ApiEnv>()
  .post(
    "/generations",
    documented({
      operationId: "createGeneration",
      summary: "Generate speech in one of your voices",
      description:
        "A task (202): follow it at `status_url`, live over `socket_url`, or hear it with `GET /api/tasks/{id}/live`. " +
        "Credits (one per character) are reserved now; a failed or cancelled task keeps only those of the parts it delivered.",
      tag: "Speech",
      access: "speech",
      body: CreateGenerationBody,
      example: { voice_id: "voc_…", text: "Hello! This is my voice, speaking as it renders.", language: "en" },
      responses: [{ status: 202, description: "The task.", json: CreatedTaskBody }],
      errors: [400, 402, 404, 429, 503],
    }),
    async (c) => {
      const ctx = c.get("ctx");
      // The session row is checked inside the creation batch (one round trip fewer).
      const user = await requireUser(ctx, c.req.raw.headers, "speech", { verifyInBatch: true });
      const body = await jsonBody(c, CreateGenerationBody);
      return c.json(await createGeneration(ctx, user, body), 202);
    },
  )
  .get(
    "/generations",
    documented({
      operationId: "listGenerations",
      summary: "Your history, newest first",
      tag: "History",
      access: "history",
      query: GenerationQuery,
      responses: [{ status: 200, description: "A page of generations.", json: GenerationList }],
      errors: [400],
    }),
    async (c) => {
      const ctx = c.get("ctx");
      const user = await requireUser(ctx, c.req.raw.headers, "history");
      return c.json(await listGenerations(ctx, user.id, queryParams(c, GenerationQuery)));
    },
  )
  // Before /generations/:id, which would otherwise take "archive" for an id.
  .get(
    "/generations/archive",
    documented({
      operationId: "downloadGenerationArchive",
      summary: "A ZIP of several generations' audio",
      description: "Streams as it is read; `ids=a,b` or `ids=a&ids=b`. Generations without audio are listed in the archive's README.",
      tag: "History",
      access: "history",
      query: ArchiveQuery,
      responses: [{ status: 200, description: "The archive.", media: [{ type: "application/zip" }] }],
      errors: [400, 404],
    }),
    async (c) => {
      const ctx = c.get("ctx");
      const user = await requireUser(ctx, c.req.raw.headers, "history");
      // `ids=a,b` from programs, `ids=a&ids=b` from the history page's checkboxes.
      const q = parseOrThrow(ArchiveQuery, { ...c.req.query(), ids: (c.req.queries("ids") ?? []).join(",") }, "query");
      const { stream, fileName } = await generationArchive(ctx, user.id, q);
      return new Response(stream, {
        headers: {
          "content-type": "application/zip",
          "content-disposition": `attachment; filename="${fileName}"`,
          "cache-control": "no-store",
        },
      });
    },
  )
  .get(
    "/generations/:id",
    documented({
      operationId: "getGeneration",
      summary: "One generation",
      tag: "History",
      access: "history",
      responses: [{ status: 200, description: "The generation.", json: GenerationEnvelope }],
      errors: [404],
    }),
    async (c) => {
      const ctx = c.get("ctx");
      const user = await requireUser(ctx, c.req.raw.headers, "history");
      return c.json({ generation: await getGenerationView(ctx, user.id, c.req.param("id")) });
    },
  )
  .delete(
    "/generations/:id",
    documented({
      operationId: "deleteGeneration",
      summary: "Delete a generation and its audio",
      tag: "History",
      access: "history",
      responses: [{ status: 204, description: "Deleted." }],
      errors: [404, 409],
    }),
    async (c) => {
      const ctx = c.get("ctx");
      const user = await requireUser(ctx, c.req.raw.headers, "history");
      await deleteGeneration(ctx, user.id, c.req.param("id"));
      return c.body(null, 204);
    },
  )
  .on(
    ["GET", "HEAD"],
    "/generations/:id/audio",
    documented({
      operationId: "getGenerationAudio",
      summary: "A finished generation's audio",
      description: "WAV, or MP3 where the engine made one (`formats`). Range requests are answered with 206; `download=1` names a file.",
      tag: "History",
      access: "history",
      query: AudioQuery,
      ...rangedAudio(["audio/wav", "audio/mpeg"]),
      errors: [400, 404, 409, 416],
    }),
    async (c) => {
      const ctx = c.get("ctx");
      const user = await requireUser(ctx, c.req.raw.headers, "history");
      const q = queryParams(c, AudioQuery);
      const g = await getOwnedGeneration(ctx, user.id, c.req.param("id"));
      if (g.status !== "succeeded") throw errors.conflict("audio_not_ready", "This generation has no audio yet.");
      return serveGenerationAudio(ctx, g, q.format, c.req.raw, q.download === "1");
    },
  )
  .get("/generations/:id/subtitles.srt", ...subtitleRoute("srt"))
  .get("/generations/:id/subtitles.vtt", ...subtitleRoute("vtt"));
