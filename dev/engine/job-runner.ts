import { UploadAck, type SubmitRequest } from "../../worker/engine/protocol.ts";
import { crossfadeConcat, durationMs, fadeEdges, normaliseLoudness, padWithSilence, resample } from "./audio-dsp.ts";
import { CallbackError, createCallbackClient, isTransientStatus, type CallbackClient, type RetryPolicy } from "./callback-client.ts";
import type { Clock } from "./clock.ts";
import type { Synthesizer } from "./espeak-synth.ts";
import { createEventSender, type EventSender } from "./event-sender.ts";
import { JobError, JobStopped, toEngineError } from "./job-errors.ts";
import { espeakLanguage } from "./language.ts";
import { errorMessage, type Logger } from "./log.ts";
import { voiceFromReference } from "./reference-voice.ts";
import { DEFAULT_SEGMENT_OPTIONS, segmentText, type SegmentOptions } from "./segmentation.ts";
import { voiceFromDescription } from "./voice-description.ts";
import type { VoiceTraits } from "./voice-settings.ts";
import { encodeWav } from "./wav-codec.ts";
import type { Mp3EncodeFn } from "./mp3.ts";

/**
 * One job, start to finish, as protocol v1 requires (docs/engine-protocol.md):
 * `started`, then per segment synthesise → upload → `segment` → `progress`,
 * heartbeats from a timer throughout, then stitch → upload final → `completed`;
 * or `failed` with a protocol error code. A cancel (endpoint or a terminal
 * EventAck) stops it between segments, silently.
 */
export type JobDeps = {
  fetch: typeof fetch;
  clock: Clock;
  synthesize: Synthesizer;
  log: Logger;
  retry: RetryPolicy;
  heartbeatMs: number;
  /** Extra wait before each segment, so progressive playback and cancel can be watched. */
  segmentDelayMs: number;
  segmentOptions?: SegmentOptions;
  /** When set, generate jobs also get an MP3 of the final audio, uploaded after `completed`. */
  encodeMp3?: Mp3EncodeFn;
};

/** Overlap between neighbouring segments in the final file. */
export const CROSSFADE_SECONDS = 0.01;
/** Fade at the very start and end of the final file (does not change its length). */
const EDGE_FADE_SECONDS = 0.005;
/** A segment is never shorter than this (eSpeak says nothing for "…"; an empty WAV helps no one). */
const MIN_SEGMENT_SECONDS = 0.05;
/** The Worker accepts references up to 50 MB; a little slack for container overhead. */
const MAX_REFERENCE_BYTES = 52 * 1024 * 1024;
/** Abort reason the registry uses when the process is shutting down (the job then reports failure). */
export const SHUTDOWN_REASON = "engine shutting down";

export type JobOutcome = "completed" | "failed" | "cancelled";

export function crossfadeSamples(sampleRate: number): number {
  return Math.round(CROSSFADE_SECONDS * sampleRate);
}

export async function runJob(job: SubmitRequest, deps: JobDeps, control: AbortController): Promise<JobOutcome> {
  const { log, clock } = deps;
  const signal = control.signal;
  const ctx = { job_id: job.job_id, kind: job.kind };
  const client = createCallbackClient({ fetch: deps.fetch, clock, token: job.callbacks.token, retry: deps.retry, log, jobId: job.job_id });
  const events = createEventSender({
    jobId: job.job_id,
    eventsUrl: job.callbacks.events_url,
    client,
    log,
    onStop: (reason) => control.abort(reason),
  });
  const uploadBase = job.callbacks.upload_url.replace(/\/+$/, "");
  const deadline = Date.parse(job.deadline);
  const checkpoint = () => {
    if (signal.aborted) throw new JobStopped(String(signal.reason));
    if (clock.now() > deadline) throw new JobStopped("the job's deadline has passed");
  };

  let stopHeartbeats = () => {};
  // A cancel takes effect at once for events (nothing more goes out, not even a heartbeat that is
  // due); the work itself stops at the next checkpoint. A shutdown still lets the job report failure.
  const onAbort = () => {
    stopHeartbeats();
    if (signal.reason !== SHUTDOWN_REASON) events.close();
  };
  signal.addEventListener("abort", onAbort, { once: true });
  const startedAt = clock.now();
  try {
    const segments = segmentText(job.text, deps.segmentOptions ?? DEFAULT_SEGMENT_OPTIONS);
    log.info("job_started", { ...ctx, segments: segments.length, chars: job.text.length, language: job.language });
    await events.send({ type: "started", ...(segments.length > 0 ? { segments_total: segments.length } : {}) });
    if (!signal.aborted) stopHeartbeats = clock.every(deps.heartbeatMs, () => events.heartbeat());
    if (segments.length === 0) throw new JobError("invalid_input", "the text has nothing to speak", false);

    const traits = await resolveVoice(job, client, events, deps);
    const language = espeakLanguage(job.language, job.text);
    log.info("voice_resolved", { ...ctx, language, ...traits });

    const rate = job.output.sample_rate;
    const fade = crossfadeSamples(rate);
    const minSamples = Math.max(2 * fade, Math.round(MIN_SEGMENT_SECONDS * rate));
    const audio: Float32Array[] = [];
    for (const [index, text] of segments.entries()) {
      checkpoint();
      if (deps.segmentDelayMs > 0) {
        await clock.sleep(deps.segmentDelayMs, signal);
        checkpoint();
      }
      const samples = await synthesiseSegment(text, language, traits, rate, minSamples, deps);
      audio.push(samples);
      await upload(client, `${uploadBase}/segments/${index}`, encodeWav(samples, rate));
      await events.send({ type: "segment", index, duration_ms: durationMs(samples.length, rate) });
      await events.send({ type: "progress", progress: round3(0.05 + (0.85 * (index + 1)) / segments.length), stage: "generating" });
    }

    checkpoint();
    await events.send({ type: "progress", progress: 0.92, stage: "stitching" });
    const final = fadeEdges(normaliseLoudness(crossfadeConcat(audio, fade), rate), Math.round(EDGE_FADE_SECONDS * rate));
    const wav = encodeWav(final, rate);
    await events.send({ type: "progress", progress: 0.96, stage: "uploading" });
    await upload(client, `${uploadBase}/final`, wav);
    checkpoint();
    stopHeartbeats();
    await events.send({ type: "completed", duration_ms: durationMs(final.length, rate), sample_rate: rate, size_bytes: wav.length });
    log.info("job_completed", {
      ...ctx,
      segments: segments.length,
      audio_ms: durationMs(final.length, rate),
      took_ms: clock.now() - startedAt,
    });
    if (deps.encodeMp3 && job.kind === "generate") await uploadMp3(client, `${uploadBase}/final.mp3`, final, rate, deps.encodeMp3, log, ctx);
    return "completed";
  } catch (err) {
    stopHeartbeats();
    if (signal.aborted && signal.reason !== SHUTDOWN_REASON) {
      events.close();
      log.info("job_cancelled", { ...ctx, reason: String(signal.reason), took_ms: clock.now() - startedAt });
      return "cancelled";
    }
    if (err instanceof JobStopped && !signal.aborted) {
      events.close();
      log.warn("job_stopped", { ...ctx, reason: err.message });
      return "cancelled";
    }
    const error = signal.aborted
      ? { code: "engine_unavailable", message: "the development engine was stopped", retryable: true }
      : toEngineError(err);
    log.error("job_failed", { ...ctx, ...error, stack: err instanceof Error && !(err instanceof JobError) ? err.stack : undefined });
    await events
      .send({ type: "failed", error })
      .catch((sendErr: unknown) => log.error("failed_event_undelivered", { ...ctx, error: errorMessage(sendErr) }));
    return "failed";
  } finally {
    signal.removeEventListener("abort", onAbort);
    stopHeartbeats();
    events.close();
    // Returning means the job is over on the wire too: no request of it is still in flight.
    await events.idle();
  }
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

async function resolveVoice(job: SubmitRequest, client: CallbackClient, events: EventSender, deps: JobDeps): Promise<VoiceTraits> {
  if (job.kind === "design_preview") {
    await events.send({ type: "progress", progress: 0.02, stage: "preparing_voice" });
    const designed = voiceFromDescription(job.instruct ?? "");
    deps.log.info("voice_designed", { job_id: job.job_id, matched_words: designed.matched });
    return designed.traits;
  }
  const voice = job.voice;
  if (!voice) throw new JobError("invalid_input", "generate jobs need a voice", false); // SubmitRequest already ensures this
  await events.send({ type: "progress", progress: 0.02, stage: "preparing_voice" });
  let answer;
  try {
    answer = await client.request("GET", voice.reference_url);
  } catch (err) {
    const status = err instanceof CallbackError ? err.status : null;
    const retryable = status === null || isTransientStatus(status);
    throw new JobError("reference_unavailable", `could not download the reference audio: ${errorMessage(err)}`, retryable, { cause: err });
  }
  if (answer.body.length > MAX_REFERENCE_BYTES) {
    throw new JobError("reference_unusable", `the reference audio is ${answer.body.length} bytes, more than ${MAX_REFERENCE_BYTES}`, false);
  }
  const reference = voiceFromReference(answer.body, { contentType: answer.contentType, referenceText: voice.reference_text });
  deps.log.info("reference_analysed", {
    job_id: job.job_id,
    voice_id: voice.voice_id,
    bytes: answer.body.length,
    container: reference.container,
    method: reference.method,
    ...(reference.features
      ? { f0_hz: reference.features.f0Hz && Math.round(reference.features.f0Hz), syllables_per_s: round3(reference.features.syllableRate) }
      : {}),
  });
  return reference.traits;
}

async function synthesiseSegment(
  text: string,
  language: string,
  traits: VoiceTraits,
  rate: number,
  minSamples: number,
  deps: JobDeps,
): Promise<Float32Array> {
  let result;
  try {
    result = await deps.synthesize({ text, language, traits });
  } catch (err) {
    if (err instanceof JobError) throw err;
    throw new JobError("generation_failed", `speech synthesis failed: ${errorMessage(err)}`, true, { cause: err });
  }
  const samples = padWithSilence(resample(result.samples, result.sampleRate, rate), minSamples);
  // Each segment gets the same loudness target as the final file, so progressive playback and the final match.
  return normaliseLoudness(samples, rate);
}

/** Best effort: the job already succeeded with its WAV; a missing MP3 only hides that download. */
async function uploadMp3(client: CallbackClient, url: string, final: Float32Array, rate: number, encode: Mp3EncodeFn, log: Logger, ctx: Record<string, string>) {
  try {
    const mp3 = await encode(final, rate);
    await client.request("PUT", url, { bytes: mp3, contentType: "audio/mpeg" });
    log.info("mp3_uploaded", { ...ctx, size_bytes: mp3.length });
  } catch (err) {
    log.warn("mp3_upload_failed", { ...ctx, error: errorMessage(err) });
  }
}

async function upload(client: CallbackClient, url: string, wav: Uint8Array): Promise<void> {
  let answer;
  try {
    answer = await client.request("PUT", url, { bytes: wav, contentType: "audio/wav" });
  } catch (err) {
    if (err instanceof CallbackError && err.stopsJob) throw new JobStopped(`the Worker refused the upload (${err.status})`, { cause: err });
    const retryable = !(err instanceof CallbackError) || err.status === null || isTransientStatus(err.status);
    throw new JobError("upload_failed", `upload failed: ${errorMessage(err)}`, retryable, { cause: err });
  }
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(answer.body));
  } catch {
    json = undefined;
  }
  const ack = UploadAck.safeParse(json);
  if (!ack.success) throw new JobError("upload_failed", `${url} answered without a valid UploadAck: ${ack.error.message}`, true);
}
