import { Hono, type Context } from "hono";
import * as z from "zod";
import type { ApiEnv } from "../app";
import { documented, rangedAudio } from "../route-doc";
import { CreatedPartTakeBody, CreatedTaskBody, GenerationEnvelope, GenerationList, PartList, TakeList } from "../response-schemas";
import { requireUser } from "../../auth/session";
import { errors, parseOrThrow } from "../../lib/errors";
import {
  createGeneration,
  CreateGenerationBody,
  deleteGeneration,
  GenerationQuery,
  getGenerationTake,
  getGenerationView,
  listGenerations,
} from "../../services/generations";
import { CreateTakeBody, createTake, listTakes, PreferTakeBody, setPreferredTake, TakeQuery } from "../../services/takes";
import { createPartTake, listParts, PartIndexParam, RegeneratePartBody } from "../../services/parts";
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

const AudioQuery = TakeQuery.extend({ format: z.enum(["wav", "mp3"]).default("wav"), download: z.enum(["0", "1"]).optional() });

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
      description: "Its preferred take (`take`, `takes`, `seed`), or the take `take=N` asks for.",
      tag: "History",
      access: "history",
      query: TakeQuery,
      responses: [{ status: 200, description: "The generation.", json: GenerationEnvelope }],
      errors: [400, 404],
    }),
    async (c) => {
      const ctx = c.get("ctx");
      const user = await requireUser(ctx, c.req.raw.headers, "history");
      const q = queryParams(c, TakeQuery);
      return c.json({ generation: await getGenerationView(ctx, user.id, c.req.param("id"), q.take) });
    },
  )
  .post(
    "/generations/:id/takes",
    documented({
      operationId: "createTake",
      summary: "Make another take of a generation",
      description:
        "The same text, voice and settings again, with `seed` (0 to 2147483647) or a new random one, recorded on the take. " +
        "A task (202), charged like a new generation of the same text; the preferred take stays until you choose another " +
        "(or, when it has no audio, this take replaces it once it succeeds).",
      tag: "Speech",
      access: "speech",
      body: CreateTakeBody,
      example: { seed: 42 },
      responses: [{ status: 202, description: "The take's task.", json: CreatedTaskBody }],
      errors: [400, 402, 404, 409, 429, 503],
    }),
    async (c) => {
      const ctx = c.get("ctx");
      // Not verified in the batch: the generation is read before it, and must not be read for a stale session.
      const user = await requireUser(ctx, c.req.raw.headers, "speech");
      const body = await jsonBody(c, CreateTakeBody);
      return c.json(await createTake(ctx, user, c.req.param("id"), body), 202);
    },
  )
  .get(
    "/generations/:id/takes",
    documented({
      operationId: "listTakes",
      summary: "A generation's takes",
      description: "Oldest first, each with its seed, state, duration and what it charged (or gave back when it failed or was cancelled).",
      tag: "History",
      access: "history",
      responses: [{ status: 200, description: "The takes.", json: TakeList }],
      errors: [404],
    }),
    async (c) => {
      const ctx = c.get("ctx");
      const user = await requireUser(ctx, c.req.raw.headers, "history");
      return c.json(await listTakes(ctx, user.id, c.req.param("id")));
    },
  )
  .get(
    "/generations/:id/parts",
    documented({
      operationId: "listParts",
      summary: "A finished take's parts",
      description:
        "The parts (sentence groups) the engine rendered for the preferred take, or for `take=N`: where each sits in the final audio, " +
        "its text when the take has word timings, and its own audio. Pick one to regenerate.",
      tag: "History",
      access: "history",
      query: TakeQuery,
      responses: [{ status: 200, description: "The parts.", json: PartList }],
      errors: [400, 404, 409],
    }),
    async (c) => {
      const ctx = c.get("ctx");
      const user = await requireUser(ctx, c.req.raw.headers, "history");
      const q = queryParams(c, TakeQuery);
      return c.json(await listParts(ctx, user.id, c.req.param("id"), q.take));
    },
  )
  .post(
    "/generations/:id/parts/:index/regenerate",
    documented({
      operationId: "regeneratePart",
      summary: "Regenerate one part of a take",
      description:
        "A new take that renders only part `index` of the preferred take (or of `take`) again, with `seed` or a new random one, and restitches " +
        "the final from the other parts as they are. A task (202), charged for that part's text only; use `PUT /api/generations/{id}/preferred` " +
        "to accept it. An index past the take's parts is 400 `part_out_of_range`; a take without finished, stored parts 409.",
      tag: "Speech",
      access: "speech",
      body: RegeneratePartBody,
      example: { seed: 7 },
      responses: [{ status: 202, description: "The part take's task.", json: CreatedPartTakeBody }],
      errors: [400, 402, 404, 409, 429, 503],
    }),
    async (c) => {
      const ctx = c.get("ctx");
      const user = await requireUser(ctx, c.req.raw.headers, "speech");
      const index = parseOrThrow(PartIndexParam, c.req.param("index"), "path");
      const body = await jsonBody(c, RegeneratePartBody);
      return c.json(await createPartTake(ctx, user, c.req.param("id"), index, body), 202);
    },
  )
  .put(
    "/generations/:id/preferred",
    documented({
      operationId: "setPreferredTake",
      summary: "Choose the take a generation returns",
      description: "A finished take becomes what downloads, archives and `GET /api/generations/{id}` return.",
      tag: "History",
      access: "history",
      body: PreferTakeBody,
      example: { take: 2 },
      responses: [{ status: 200, description: "The generation, now showing that take.", json: GenerationEnvelope }],
      errors: [400, 404, 409],
    }),
    async (c) => {
      const ctx = c.get("ctx");
      const user = await requireUser(ctx, c.req.raw.headers, "history");
      const body = await jsonBody(c, PreferTakeBody);
      return c.json({ generation: await setPreferredTake(ctx, user.id, c.req.param("id"), body.take) });
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
      description:
        "The preferred take, or the take `take=N` asks for: WAV, or MP3 where the engine made one (`formats`). " +
        "Range requests are answered with 206; `download=1` names a file.",
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
      const { generation: g, info } = await getGenerationTake(ctx, user.id, c.req.param("id"), q.take);
      if (g.status !== "succeeded") throw errors.conflict("audio_not_ready", `This ${q.take === undefined ? "generation" : "take"} has no audio yet.`);
      const name = info.take === info.preferredTake && q.take === undefined ? `utter-${g.id}` : `utter-${g.id}-take-${info.take}`;
      return serveGenerationAudio(ctx, g, q.format, c.req.raw, q.download === "1", name);
    },
  )
  .get("/generations/:id/subtitles.srt", ...subtitleRoute("srt"))
  .get("/generations/:id/subtitles.vtt", ...subtitleRoute("vtt"));
