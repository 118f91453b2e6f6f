import { Hono } from "hono";
import type { ApiEnv } from "../api/app";
import { documented } from "../api/route-doc";
import { OpenAiModels, OpenAiVoices } from "../api/response-schemas";
import type { RequestContext } from "../context";
import { AppError } from "../lib/errors";
import { assertAccess, findApiKeyCaller } from "../auth/session";
import type { Access } from "../auth/scopes";
import { listVoices } from "../services/voices";
import { OpenAiError, fromAppError } from "./errors";
import { speak } from "./speech";
import { SPEECH_MODELS, SpeechRequest } from "./speech-request";

/**
 * OpenAI-compatible speech (docs/openai.md): a client written for OpenAI works
 * by changing only its base URL (`…/v1`) and key (an Utter API key). Errors use
 * OpenAI's shape, not Utter's.
 */
export const openAiRoutes = new Hono<ApiEnv>()
  .post(
    "/audio/speech",
    documented({
      operationId: "createSpeech",
      summary: "OpenAI-compatible text to speech, streamed as it renders",
      description:
        "OpenAI's request. `model`: utter-tts (tts-1, tts-1-hd and gpt-4o-mini-tts are aliases); `voice`: a voice id, a voice name or `{id}`; " +
        "`response_format`: mp3, wav or pcm (opus, aac and flac are refused, naming these); `stream_format`: `audio` (the body streams " +
        "as the engine renders) or `sse` (OpenAI's `speech.audio.delta` events). A normal task underneath: credits, limits and history apply, " +
        "and closing the connection cancels it, charged for what was delivered. See docs/openai.md.",
      tag: "OpenAI-compatible",
      access: "speech",
      keyOnly: true,
      errorShape: "openai",
      body: SpeechRequest,
      example: { model: "tts-1", input: "Hello from Utter.", voice: "Narrator", response_format: "mp3" },
      responses: [
        {
          status: 200,
          description: "The audio, streamed; or server-sent events with `stream_format: sse`.",
          media: [{ type: "audio/mpeg" }, { type: "audio/wav" }, { type: "audio/pcm" }, { type: "text/event-stream" }],
        },
      ],
      errors: [400, 402, 404, 409, 429, 502, 503],
    }),
    async (c) => {
      const ctx = c.get("ctx");
      const user = await keyUser(ctx, c.req.raw.headers, "speech");
      const raw = await c.req.json().catch(() => {
        throw new OpenAiError(400, "invalid_request_error", "The body must be JSON.");
      });
      const parsed = SpeechRequest.safeParse(raw);
      if (!parsed.success) {
        const issue = parsed.error.issues[0]!;
        const param = issue.path.join(".") || null;
        throw new OpenAiError(400, "invalid_request_error", `${param ?? "body"}: ${issue.message}`, param, "invalid_value");
      }
      return speak(ctx, user, parsed.data, c.req.raw.signal);
    },
  )
  .get(
    "/models",
    documented({
      operationId: "listModels",
      summary: "The speech models' names",
      tag: "OpenAI-compatible",
      access: "any",
      keyOnly: true,
      errorShape: "openai",
      responses: [{ status: 200, description: "OpenAI's model list.", json: OpenAiModels }],
      errors: [401],
    }),
    async (c) => {
      await keyUser(c.get("ctx"), c.req.raw.headers, "any");
      const created = 1_764_547_200; // 2025-12-01: when these names were first offered
      return c.json({
        object: "list",
        data: Object.entries(SPEECH_MODELS).map(([id, description]) => ({ id, object: "model", created, owned_by: "utter", description })),
      });
    },
  )
  .get(
    "/audio/voices",
    documented({
      operationId: "listSpeechVoices",
      summary: "Your voices, for the `voice` field",
      tag: "OpenAI-compatible",
      access: "voices:read",
      keyOnly: true,
      errorShape: "openai",
      responses: [{ status: 200, description: "Up to 100 voices, by name.", json: OpenAiVoices }],
      errors: [],
    }),
    async (c) => {
      const ctx = c.get("ctx");
      const user = await keyUser(ctx, c.req.raw.headers, "voices:read");
      const { voices } = await listVoices(ctx, user.id, { limit: 100, sort: "name" });
      return c.json({ voices: voices.map((v) => ({ id: v.id, name: v.name, language: v.language, source: v.source })) });
    },
  )
  .notFound((c) => c.json(new OpenAiError(404, "invalid_request_error", `No route ${c.req.method} ${c.req.path}.`).toBody(), 404))
  .onError((err, c) => {
    const e = err instanceof OpenAiError ? err : err instanceof AppError ? fromAppError(err) : null;
    if (!e) {
      c.get("ctx").log.error("openai.unhandled", { error: String(err) });
      return c.json(
        new OpenAiError(500, "server_error", `Something went wrong on our side (request ${c.get("requestId")}).`).toBody(),
        500,
      );
    }
    for (const [k, v] of Object.entries(e.headers)) c.header(k, v);
    return c.json(e.toBody(), e.status);
  });

async function keyUser(ctx: RequestContext, headers: Headers, access: Access) {
  if (!/^Bearer\s+\S+$/i.test(headers.get("authorization") ?? "")) {
    throw new OpenAiError(
      401,
      "invalid_request_error",
      "You didn't provide an API key. Use an Utter API key as the bearer (Authorization: Bearer utr_…).",
      null,
      "missing_api_key",
    );
  }
  const user = await findApiKeyCaller(ctx, headers);
  if (!user)
    throw new OpenAiError(
      401,
      "invalid_request_error",
      "Incorrect API key provided. Create one under Account → API keys.",
      null,
      "invalid_api_key",
    );
  assertAccess(user, access); // an AppError 403 insufficient_scope, answered in OpenAI's shape by onError
  return user;
}
