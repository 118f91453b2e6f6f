import { streamingWavHeader } from "../../durable-objects/live-stream";
import type { RequestContext } from "../context";
import { toBase64 } from "../lib/base64";
import { AppError } from "../lib/errors";
import type { CurrentUser } from "../services/account";
import { findArtifact } from "../services/artifacts";
import { createGeneration } from "../services/generations";
import { LIMITS } from "../services/limits";
import { cancelTask, openLiveAudio, trackerFor } from "../services/tasks";
import { findVoiceByIdOrName } from "../services/voice-lookup";
import { OpenAiError, fromAppError } from "./errors";
import { CONTENT_TYPES, SPEECH_FORMATS, SPEECH_MODELS, type SpeechFormat, type SpeechRequest } from "./speech-request";

/** How long an MP3 that an engine uploads after `completed` is waited for (the dev engine encodes it afterwards). */
const MP3_WAIT_MS = 30_000;
/** SSE deltas carry at least this much PCM (0.1 s at 24 kHz), so a client is not sent thousands of tiny events. */
const SSE_MIN_BYTES = 4_800;

/**
 * `POST /v1/audio/speech`: a normal generation task underneath (credits,
 * limits, history, cancel). WAV and PCM stream from the task's live path
 * (`/live.wav|pcm` on its Durable Object, ADR 0009: the segments so far, then
 * the engine's frames as they are decoded). The response starts once the
 * first audio exists, so a job that fails before any audio gets an error
 * status instead of an empty 200. A caller that goes away cancels the task,
 * which then keeps only the credits of what was delivered.
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
  const tracker = trackerFor(ctx.env, taskId);

  // PCM always, so the first bytes are audio (a WAV header is added here, once there is audio to follow it).
  const live = await openLiveAudio(ctx, user.id, taskId, "pcm");
  if (!live.ok || !live.body) throw new OpenAiError(502, "server_error", `The task's live audio did not open (${live.status}).`);
  const sampleRate = Number(/rate=(\d+)/.exec(live.headers.get("content-type") ?? "")?.[1] ?? 24_000);
  const upstream = live.body.getReader();
  let ended = false;
  const hangUp = () => {
    void upstream.cancel().catch(() => undefined);
    if (ended) return;
    ended = true;
    ctx.waitUntil(
      cancelTask(ctx, user.id, taskId)
        .then(() => ctx.log.info("openai.speech_abandoned", { task_id: taskId }))
        .catch(() => undefined), // it ended meanwhile
    );
  };
  signal?.addEventListener("abort", hangUp);

  // Hold the headers until the first audio (or the end, for a job that produced none).
  const first = await upstream.read();
  if (first.done) {
    ended = true;
    throw (await failureOf(tracker)) ?? new OpenAiError(502, "server_error", "The speech task ended without any audio.");
  }

  const encoder = new TextEncoder();
  const sse = (event: object) => encoder.encode(`data: ${JSON.stringify(event)}\n\n`);
  const usage = { input_tokens: chars, output_tokens: 0, total_tokens: chars };
  const stream = new ReadableStream<Uint8Array>({
    async start(controller) {
      try {
        let pending: Uint8Array[] = [first.value];
        let pendingBytes = first.value.length;
        const flushSse = () => {
          if (!pendingBytes) return;
          const joined = new Uint8Array(pendingBytes);
          let at = 0;
          for (const p of pending) {
            joined.set(p, at);
            at += p.length;
          }
          controller.enqueue(sse({ type: "speech.audio.delta", audio: toBase64(joined) }));
          pending = [];
          pendingBytes = 0;
        };
        if (format === "wav") {
          const header = streamingWavHeader(sampleRate);
          if (body.stream_format === "audio") controller.enqueue(header);
          else {
            pending.unshift(header);
            pendingBytes += header.length;
          }
        }
        if (format !== "mp3" && body.stream_format === "audio") controller.enqueue(first.value);
        for (let r = await upstream.read(); !r.done; r = await upstream.read()) {
          if (format === "mp3") continue; // the engine encodes MP3 from the finished file
          if (body.stream_format === "audio") controller.enqueue(r.value);
          else {
            pending.push(r.value);
            pendingBytes += r.value.length;
            if (pendingBytes >= SSE_MIN_BYTES) flushSse();
          }
        }
        ended = true;
        const failure = await failureOf(tracker);
        if (failure) {
          if (body.stream_format === "sse") controller.enqueue(sse({ type: "error", ...failure.toBody() }));
          else throw failure;
        } else if (format === "mp3") {
          const mp3 = await finalMp3(ctx, user.id, created.task_id);
          controller.enqueue(body.stream_format === "sse" ? sse({ type: "speech.audio.delta", audio: toBase64(mp3) }) : mp3);
        } else if (body.stream_format === "sse") flushSse();
        if (body.stream_format === "sse" && !failure) controller.enqueue(sse({ type: "speech.audio.done", usage }));
        controller.close();
      } catch (err) {
        controller.error(err);
      }
    },
    cancel() {
      hangUp();
    },
  });
  return new Response(stream, {
    status: 200,
    headers: {
      "content-type": body.stream_format === "sse" ? "text/event-stream" : CONTENT_TYPES[format],
      "cache-control": "no-store",
      "x-utter-generation-id": generationId,
      "x-utter-task-id": taskId,
    },
  });
}

/** The ended task's failure as an error to answer with; null when it succeeded. */
async function failureOf(tracker: ReturnType<typeof trackerFor>): Promise<OpenAiError | null> {
  const { task } = await tracker.snapshot();
  if (task.status === "succeeded") return null;
  if (task.status === "cancelled") return new OpenAiError(409, "invalid_request_error", "The speech task was cancelled.", null, "cancelled");
  return new OpenAiError(502, "server_error", task.error?.message ?? "The speech engine failed.", null, task.error?.code ?? "engine_failed");
}

/** The generation's MP3 (`final_mp3` artifact), waiting a little for an engine that uploads it after completion. */
async function finalMp3(ctx: RequestContext, userId: string, taskId: string): Promise<Uint8Array> {
  const deadline = Date.now() + MP3_WAIT_MS;
  for (let delay = 200; ; delay = Math.min(delay * 2, 2_000)) {
    const found = await findArtifact(ctx, { id: taskId, userId, kind: "generate" }, "final_mp3", null);
    const object = found ? await ctx.env.AUDIO.get(found.key) : null;
    if (object) return new Uint8Array(await object.arrayBuffer());
    if (Date.now() + delay > deadline) {
      throw new OpenAiError(502, "server_error", "The engine made the audio but no MP3 of it; ask for response_format wav or pcm, or download it from history.", "response_format", "format_unavailable");
    }
    await new Promise((r) => setTimeout(r, delay));
  }
}
