import type { RequestContext } from "../context";
import { toBase64 } from "../lib/base64";
import { AppError } from "../lib/errors";
import type { CurrentUser } from "../services/account";
import { createGeneration, getOwnedGeneration } from "../services/generations";
import { LIMITS } from "../services/limits";
import { cancelTask } from "../services/tasks";
import { findVoiceByIdOrName } from "../services/voice-lookup";
import { audioKeys } from "../storage/keys";
import { OpenAiError, fromAppError } from "./errors";
import { segmentAudio, type SpeechPiece } from "./segment-audio";
import { CONTENT_TYPES, SPEECH_FORMATS, SPEECH_MODELS, type SpeechFormat, type SpeechRequest } from "./speech-request";
import { TaskFeed } from "./task-feed";
import { streamingWavHeader } from "./wav-pcm";

/** How long an MP3 that an engine uploads after `completed` is waited for (the dev engine encodes it afterwards). */
const MP3_WAIT_MS = 30_000;

/**
 * `POST /v1/audio/speech`: a normal generation task underneath (credits,
 * limits, history, cancel), whose audio is streamed to the caller as it
 * renders. The response starts once the first audio exists, so a job that
 * fails before any audio gets an error status instead of an empty 200. A
 * caller that goes away cancels the task (credits settle as for any cancel).
 */
export async function speak(ctx: RequestContext, user: CurrentUser, body: SpeechRequest, signal?: AbortSignal): Promise<Response> {
  if (!(body.model in SPEECH_MODELS)) {
    throw new OpenAiError(400, "invalid_request_error", `Unknown model "${body.model}". Use one of: ${Object.keys(SPEECH_MODELS).join(", ")}.`, "model", "model_not_found");
  }
  if (!(SPEECH_FORMATS as readonly string[]).includes(body.response_format)) {
    throw new OpenAiError(400, "invalid_request_error", `response_format "${body.response_format}" is not offered. Use one of: ${SPEECH_FORMATS.join(", ")}.`, "response_format", "unsupported_value");
  }
  if (body.speed !== 1) {
    throw new OpenAiError(400, "invalid_request_error", "speed other than 1.0 is not supported yet; the voice speaks at its own pace.", "speed", "unsupported_value");
  }
  const chars = [...body.input].length;
  if (body.input.trim().length === 0 || chars > LIMITS.textChars.max) {
    throw new OpenAiError(400, "invalid_request_error", `input must be 1 to ${LIMITS.textChars.max} characters (got ${chars}).`, "input", "string_above_max_length");
  }
  const format = body.response_format as SpeechFormat;
  const voiceRef = typeof body.voice === "string" ? body.voice : body.voice.id;
  let created;
  try {
    const voice = await findVoiceByIdOrName(ctx, user.id, voiceRef).catch((err: unknown) => {
      if (err instanceof AppError && err.status === 404) throw new OpenAiError(404, "not_found_error", err.message, "voice", "voice_not_found");
      throw err;
    });
    created = await createGeneration(ctx, user, { voice_id: voice.id, text: body.input, language: body.language });
  } catch (err) {
    throw err instanceof AppError ? fromAppError(err) : err;
  }

  const taskId = created.task_id;
  const generationId = created.generation_id!;
  const feed = await TaskFeed.open(ctx.env, taskId, user.id);
  const pieces = segmentAudio(feed, ctx.env.AUDIO, user.id, taskId);
  let finished = false;
  const cancelIfRunning = () => {
    feed.close();
    if (finished) return;
    finished = true;
    ctx.waitUntil(
      cancelTask(ctx, user.id, taskId)
        .then(() => ctx.log.info("openai.speech_abandoned", { task_id: taskId }))
        .catch(() => undefined), // it ended meanwhile
    );
  };
  signal?.addEventListener("abort", cancelIfRunning);

  const first = await pieces.next();
  if (first.done) throw new OpenAiError(502, "server_error", "The speech task ended without a result.");
  if (first.value.kind === "ended") {
    finished = true;
    feed.close();
    throw endedError(first.value);
  }

  const headers = {
    "content-type": body.stream_format === "sse" ? "text/event-stream" : CONTENT_TYPES[format],
    "cache-control": "no-store",
    "x-utter-generation-id": generationId,
    "x-utter-task-id": taskId,
  };
  const encode = new TextEncoder();
  const sse = (event: object) => encode.encode(`data: ${JSON.stringify(event)}\n\n`);
  const audioOut = (bytes: Uint8Array) => (body.stream_format === "sse" ? sse({ type: "speech.audio.delta", audio: toBase64(bytes) }) : bytes);

  const stream = new ReadableStream<Uint8Array>({
    async start(controller) {
      try {
        let wroteHeader = false;
        for (let piece: SpeechPiece | undefined = first.value; piece; piece = (await pieces.next()).value ?? undefined) {
          if (piece.kind === "pcm") {
            if (format === "mp3") continue; // MP3 is encoded by the engine from the final file
            if (format === "wav" && !wroteHeader) {
              controller.enqueue(audioOut(streamingWavHeader(piece.sampleRate)));
              wroteHeader = true;
            }
            controller.enqueue(audioOut(piece.pcm));
          } else if (piece.kind === "succeeded") {
            finished = true;
            if (format === "mp3") controller.enqueue(audioOut(await finalMp3(ctx, user.id, generationId)));
            if (body.stream_format === "sse") controller.enqueue(sse({ type: "speech.audio.done", usage: { input_tokens: chars, output_tokens: 0, total_tokens: chars } }));
            break;
          } else {
            finished = true;
            const err = endedError(piece);
            if (body.stream_format === "sse") {
              controller.enqueue(sse({ type: "error", ...err.toBody() }));
              break;
            }
            throw err;
          }
        }
        feed.close();
        controller.close();
      } catch (err) {
        feed.close();
        controller.error(err);
      }
    },
    cancel() {
      cancelIfRunning();
    },
  });
  return new Response(stream, { status: 200, headers });
}

function endedError(piece: Extract<SpeechPiece, { kind: "ended" }>): OpenAiError {
  if (piece.status === "cancelled") return new OpenAiError(409, "invalid_request_error", "The speech task was cancelled.", null, "cancelled");
  return new OpenAiError(502, "server_error", piece.error?.message ?? "The speech engine failed.", null, piece.error?.code ?? "engine_failed");
}

/** The generation's MP3, waiting a little for an engine that uploads it after completion. */
async function finalMp3(ctx: RequestContext, userId: string, generationId: string): Promise<Uint8Array> {
  const deadline = Date.now() + MP3_WAIT_MS;
  for (let delay = 200; ; delay = Math.min(delay * 2, 2_000)) {
    const g = await getOwnedGeneration(ctx, userId, generationId);
    if (g.mp3SizeBytes) {
      const object = await ctx.env.AUDIO.get(audioKeys.generationMp3(userId, generationId));
      if (object) return new Uint8Array(await object.arrayBuffer());
    }
    if (Date.now() + delay > deadline) {
      throw new OpenAiError(502, "server_error", "The engine made the audio but no MP3 of it; ask for response_format wav or pcm, or download it from history.", "response_format", "format_unavailable");
    }
    await new Promise((r) => setTimeout(r, delay));
  }
}
