import { Hono } from "hono";
import type { ApiEnv } from "../app";
import { documented, rangedAudio } from "../route-doc";
import { CreatedTaskBody, VoiceDetailEnvelope, VoiceEnvelope, VoiceList } from "../response-schemas";
import { CONSENT_STATEMENT_VERSION } from "../../services/voice-consent";
import { requireUser } from "../../auth/session";
import { serveObject } from "../../storage/serve";
import {
  createDesignPreview,
  createVoiceFromUpload,
  deleteVoice,
  DesignPreviewBody,
  getOwnedVoice,
  listVoices,
  SaveDesignBody,
  saveDesignedVoice,
  updateVoice,
  UpdateVoiceBody,
  VoiceQuery,
  voiceDetail,
} from "../../services/voices";
import { jsonBody, queryParams } from "../validate";

export const voiceRoutes = new Hono<ApiEnv>()
  .post(
    "/voices",
    documented({
      operationId: "createVoice",
      summary: "Clone a voice from a reference clip",
      description: "10 s – 5 min, at most 50 MB; WAV, MP3, M4A, OGG, WEBM or FLAC. The clip streams into storage while it is checked.",
      tag: "Voices",
      access: "voices:write",
      multipart: {
        audio: { type: "string", format: "binary", description: "the reference audio", required: true },
        name: { type: "string", description: "1–100 characters", required: true },
        language: { type: "string", description: "language code (see /api/languages)" },
        transcript: { type: "string", description: "what the clip says (optional, ≤ 5,000 characters)" },
        source: { type: "string", description: "upload | record" },
        consent: {
          type: "string",
          description: `the consent statement's version, "${CONSENT_STATEMENT_VERSION}": you confirm the voice is yours or its owner allowed the clone (400 consent_required without it)`,
          required: true,
        },
      },
      responses: [{ status: 201, description: "The new voice.", json: VoiceEnvelope }],
      errors: [400, 402, 409, 413, 429],
    }),
    async (c) => {
      const ctx = c.get("ctx");
      const user = await requireUser(ctx, c.req.raw.headers, "voices:write");
      return c.json({ voice: await createVoiceFromUpload(ctx, user, c.req.raw) }, 201);
    },
  )
  .get(
    "/voices",
    documented({
      operationId: "listVoices",
      summary: "List your voices",
      description: "Search, filter, sort and page with a cursor.",
      tag: "Voices",
      access: "voices:read",
      query: VoiceQuery,
      responses: [{ status: 200, description: "A page of voices.", json: VoiceList }],
      errors: [400],
    }),
    async (c) => {
      const ctx = c.get("ctx");
      const user = await requireUser(ctx, c.req.raw.headers, "voices:read");
      return c.json(await listVoices(ctx, user.id, queryParams(c, VoiceQuery)));
    },
  )
  .post(
    "/voices/design/preview",
    documented({
      operationId: "previewDesignedVoice",
      summary: "Design a voice from a description",
      description: "Renders a short preview as a task (202); save it with `POST /api/voices/design`.",
      tag: "Voices",
      access: "voices:write",
      body: DesignPreviewBody,
      example: { description: "A warm, low voice of an older man, calm and unhurried.", text: "Hello, and welcome back.", language: "en" },
      responses: [{ status: 202, description: "The preview's task.", json: CreatedTaskBody }],
      errors: [400, 402, 429, 503],
    }),
    async (c) => {
      const ctx = c.get("ctx");
      const user = await requireUser(ctx, c.req.raw.headers, "voices:write", { verifyInBatch: true });
      return c.json(await createDesignPreview(ctx, user, await jsonBody(c, DesignPreviewBody)), 202);
    },
  )
  .post(
    "/voices/design",
    documented({
      operationId: "saveDesignedVoice",
      summary: "Save a finished design preview as a voice",
      description: "Idempotent by task: saving the same preview again answers 200 with the voice already saved.",
      tag: "Voices",
      access: "voices:write",
      body: SaveDesignBody,
      example: { task_id: "tsk_…", name: "Narrator" },
      responses: [
        { status: 201, description: "The new voice.", json: VoiceEnvelope },
        { status: 200, description: "The voice this preview was already saved as.", json: VoiceEnvelope },
      ],
      errors: [400, 404, 409],
    }),
    async (c) => {
      const ctx = c.get("ctx");
      const user = await requireUser(ctx, c.req.raw.headers, "voices:write");
      const { voice, created } = await saveDesignedVoice(ctx, user, await jsonBody(c, SaveDesignBody));
      return c.json({ voice }, created ? 201 : 200);
    },
  )
  .get(
    "/voices/:id",
    documented({
      operationId: "getVoice",
      summary: "One voice, with its consent record",
      tag: "Voices",
      access: "voices:read",
      responses: [{ status: 200, description: "The voice.", json: VoiceDetailEnvelope }],
      errors: [404],
    }),
    async (c) => {
      const ctx = c.get("ctx");
      const user = await requireUser(ctx, c.req.raw.headers, "voices:read");
      return c.json({ voice: await voiceDetail(ctx, user.id, await getOwnedVoice(ctx, user.id, c.req.param("id"))) });
    },
  )
  .patch(
    "/voices/:id",
    documented({
      operationId: "updateVoice",
      summary: "Edit a voice: name, favourite, language, transcript, description",
      tag: "Voices",
      access: "voices:write",
      body: UpdateVoiceBody,
      example: { name: "Narrator (calm)", favorite: true },
      responses: [{ status: 200, description: "The voice as saved.", json: VoiceEnvelope }],
      errors: [400, 404],
    }),
    async (c) => {
      const ctx = c.get("ctx");
      const user = await requireUser(ctx, c.req.raw.headers, "voices:write");
      return c.json({ voice: await updateVoice(ctx, user.id, c.req.param("id"), await jsonBody(c, UpdateVoiceBody)) });
    },
  )
  .delete(
    "/voices/:id",
    documented({
      operationId: "deleteVoice",
      summary: "Delete a voice and its reference audio",
      description: "The history keeps the generations made with it.",
      tag: "Voices",
      access: "voices:write",
      responses: [{ status: 204, description: "Deleted." }],
      errors: [404],
    }),
    async (c) => {
      const ctx = c.get("ctx");
      const user = await requireUser(ctx, c.req.raw.headers, "voices:write");
      await deleteVoice(ctx, user.id, c.req.param("id"));
      return c.body(null, 204);
    },
  )
  .on(
    ["GET", "HEAD"],
    "/voices/:id/audio",
    documented({
      operationId: "getVoiceAudio",
      summary: "The voice's reference audio",
      description: "Range requests are answered with 206.",
      tag: "Voices",
      access: "voices:read",
      ...rangedAudio(["audio/*"], "The clip as uploaded."),
      errors: [404, 416],
    }),
    async (c) => {
      const ctx = c.get("ctx");
      const user = await requireUser(ctx, c.req.raw.headers, "voices:read");
      const v = await getOwnedVoice(ctx, user.id, c.req.param("id"));
      return serveObject(c.env.AUDIO, v.referenceKey, c.req.raw, { contentType: v.referenceMime });
    },
  );
