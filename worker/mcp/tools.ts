import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import * as z from "zod";
import type { RequestContext } from "../context";
import { LanguageCode } from "../engine/protocol";
import { AppError } from "../lib/errors";
import { assertAccess, type Caller } from "../auth/session";
import type { Access } from "../auth/scopes";
import { createGeneration, generationView, getOwnedGeneration } from "../services/generations";
import { LIMITS } from "../services/limits";
import { findVoiceByIdOrName } from "../services/voice-lookup";
import { listVoices } from "../services/voices";
import { toBase64 } from "../lib/base64";
import { INLINE_AUDIO_MAX_BYTES } from "./audio-content";

interface ToolDeps {
  ctx: RequestContext;
  user: Caller;
}

const json = (value: unknown): CallToolResult => ({ content: [{ type: "text", text: JSON.stringify(value, null, 2) }] });

/** A refusal the model can read and act on (MCP tool errors are results with isError, not protocol errors). */
function refusal(err: unknown): CallToolResult {
  if (err instanceof AppError) {
    return { isError: true, content: [{ type: "text", text: JSON.stringify({ error: { code: err.code, message: err.message, details: err.details } }) }] };
  }
  throw err;
}

function absolute(ctx: RequestContext, path: string): string {
  return new URL(path, ctx.config.APP_URL).toString();
}

export function registerUtterTools(server: McpServer, { ctx, user }: ToolDeps): void {
  // Each tool needs the key's scope for what it does (ADR 0015); a refusal is a tool error the agent reads.
  const allowed = (access: Access) => {
    assertAccess(user, access);
  };

  server.registerTool(
    "list_voices",
    {
      title: "List voices",
      description: "The user's voices (cloned and designed): id, name, language and source. Use an id or a name as `voice` in speak.",
      inputSchema: { search: z.string().max(100).optional().describe("Only voices whose name, transcript or description contains this") },
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    async ({ search }) => {
      try {
        allowed("voices:read");
      } catch (err) {
        return refusal(err);
      }
      const { voices } = await listVoices(ctx, user.id, { search, limit: 100, sort: "name" });
      return json({ voices: voices.map((v) => ({ id: v.id, name: v.name, language: v.language, source: v.source, description: v.description })) });
    },
  );

  server.registerTool(
    "speak",
    {
      title: "Speak text in a voice",
      description:
        `Starts speaking up to ${LIMITS.textChars.max} characters in one of the user's voices; costs credits (1 per 100 characters). ` +
        "Returns at once with the generation's id: call get_generation to follow it and to get the audio.",
      inputSchema: {
        text: z.string().min(1).max(LIMITS.textChars.max).describe("What to say"),
        voice: z.string().min(1).max(100).describe("A voice id or name from list_voices"),
        language: LanguageCode.default("auto").describe("Language of the text; auto detects it"),
      },
      annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
    },
    async ({ text, voice, language }) => {
      try {
        allowed("speech");
        const found = await findVoiceByIdOrName(ctx, user.id, voice);
        const created = await createGeneration(ctx, user, { voice_id: found.id, text, language });
        return json({
          generation_id: created.generation_id,
          task_id: created.task_id,
          status: "queued",
          voice: { id: found.id, name: found.name },
          status_url: absolute(ctx, `/api/generations/${created.generation_id}`),
          next: "Call get_generation with this generation_id until status is succeeded.",
        });
      } catch (err) {
        return refusal(err);
      }
    },
  );

  server.registerTool(
    "get_generation",
    {
      title: "Get a generation",
      description:
        "A generation's status (queued, dispatched, running, succeeded, failed, cancelled), and once it succeeded a link to its WAV " +
        `(fetch it with the same API key) and, when it is at most ${INLINE_AUDIO_MAX_BYTES / 1024 / 1024} MB, the audio itself.`,
      inputSchema: {
        generation_id: z.string().min(1).max(64),
        include_audio: z.boolean().default(true).describe("Attach the audio when it is small enough"),
      },
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    async ({ generation_id, include_audio }) => {
      try {
        allowed(["history", "speech"]);
        const g = await getOwnedGeneration(ctx, user.id, generation_id);
        const view = generationView(g);
        const summary = {
          id: view.id,
          status: view.status,
          voice_name: view.voice_name,
          text: view.text,
          duration_ms: view.duration_ms,
          error: view.error,
          audio_url: view.audio_url ? absolute(ctx, view.audio_url) : null,
        };
        const result = json(summary);
        if (include_audio && g.status === "succeeded" && g.audioKey && (g.sizeBytes ?? Infinity) <= INLINE_AUDIO_MAX_BYTES) {
          const object = await ctx.env.AUDIO.get(g.audioKey);
          if (object) result.content.push({ type: "audio", mimeType: "audio/wav", data: toBase64(new Uint8Array(await object.arrayBuffer())) });
        }
        return result;
      } catch (err) {
        return refusal(err);
      }
    },
  );
}
