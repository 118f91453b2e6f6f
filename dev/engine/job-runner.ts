import { createHash } from "node:crypto";
import type { SubmitRequest } from "../../worker/engine/protocol.ts";
import { buildAlignment, shiftWords, type SynthWord } from "./alignment.ts";
import { createArtifactUploader, type ArtifactUploader } from "./artifact-uploader.ts";
import { crossfadeConcat, durationMs, fadeEdges, normaliseLoudness, padWithSilence, resample } from "./audio-dsp.ts";
import { paragraphBreaksAfter, pauseSamples, sentencePauseMs, withSilence, type JoinAfter } from "./joins.ts";
import { CallbackError, createCallbackClient, isTransientStatus, type CallbackClient, type RetryPolicy } from "./callback-client.ts";
import type { Clock } from "./clock.ts";
import type { Synthesizer } from "./espeak-synth.ts";
import { createEventSender, type EventSender } from "./event-sender.ts";
import { createStreamSender, type ReconnectPolicy, type StreamSender, type WebSocketCtor } from "./stream-sender.ts";
import type { JobSubmit } from "./v2-wire.ts";
import { JobError, JobStopped, toEngineError } from "./job-errors.ts";
import { espeakLanguage } from "./language.ts";
import { errorMessage, type Logger } from "./log.ts";
import { voiceFromReference } from "./reference-voice.ts";
import { DEFAULT_SEGMENT_OPTIONS, segmentText, type SegmentOptions } from "./segmentation.ts";
import { voiceFromDescription } from "./voice-description.ts";
import { seededTraits, type VoiceTraits } from "./voice-settings.ts";
import { decodeWav, encodeWav, WAV_HEADER_BYTES } from "./wav-codec.ts";
import { computePeaks } from "../../worker/engine/peaks.ts";
import type { Mp3EncodeFn } from "./mp3.ts";

/**
 * One job, start to finish, as protocol v1 requires (docs/engine-protocol.md):
 * `started`, then per segment synthesise → upload → `segment` → `progress`,
 * heartbeats from a timer throughout, then stitch → upload final → `completed`;
 * or `failed` with a protocol error code. A cancel (endpoint or a terminal
 * EventAck) stops it between segments, silently.
 *
 * A protocol 2 submit (ADR 0009) runs the same steps over the task's socket:
 * events go as text with acks by seq, each segment's audio leaves as binary
 * frames the moment it is synthesised (before its artifact upload), and the
 * uploads use the artifact routes (in parts when large).
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
  /** v2: send frames no faster than real time (DEV_ENGINE_REALTIME), so the live path can be watched. */
  realtime?: boolean;
  /** v2: socket reconnect backoff. */
  reconnect?: ReconnectPolicy;
  /** v2: the WebSocket client (default Node's global one). */
  WebSocket?: WebSocketCtor;
  /** v2: bodies above this are uploaded in parts (default the registry's 8 MiB). */
  maxSingleBytes?: number;
  /**
   * Fault injection (DEV_ENGINE_FAIL_AT, ADR 0023): a first attempt (no `resume_from`) fails with a
   * retryable `generation_failed` once this share of its parts is durable. 0 or absent: never.
   */
  failAt?: number;
};

/** Audio per frame: 100 ms, so a listener hears the first sound one frame after the segment is synthesised. */
export const FRAME_SECONDS = 0.1;
/**
 * With real-time pacing, how far frames may run ahead of the audio clock (a listener's buffer). A GPU
 * engine streaming at ~3× real time is seconds ahead after its first sentence; this stand-in keeps
 * 1.5 s, enough to synthesise the next sentence on a loaded machine before the listener runs dry
 * (with 300 ms, a busy 2-core machine made the browser's live player stall once in a while).
 */
export const REALTIME_LEAD_MS = 1500;

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

export async function runJob(job: JobSubmit, deps: JobDeps, control: AbortController): Promise<JobOutcome> {
  const { log, clock } = deps;
  const signal = control.signal;
  const ctx = { job_id: job.job_id, kind: job.kind, protocol: job.stream_url ? "2" : "1" };
  const client = createCallbackClient({ fetch: deps.fetch, clock, token: job.callbacks.token, retry: deps.retry, log, jobId: job.job_id });
  const onStop = (reason: string) => control.abort(reason);
  const stream: StreamSender | null = job.stream_url
    ? createStreamSender({
        jobId: job.job_id,
        streamUrl: job.stream_url,
        token: job.callbacks.token,
        eventsUrl: job.callbacks.events_url,
        client,
        clock,
        log,
        reconnect: deps.reconnect,
        WebSocket: deps.WebSocket,
        onStop,
      })
    : null;
  // A resumed attempt (ADR 0023) continues the Worker's seqs; over the socket the hello says where.
  const resume = job.resume_from ?? null;
  const events: EventSender =
    stream ?? createEventSender({ jobId: job.job_id, eventsUrl: job.callbacks.events_url, client, log, onStop, firstSeq: resume?.next_seq ?? 0 });
  const uploads = createArtifactUploader({
    client,
    uploadUrl: job.callbacks.upload_url,
    protocol: stream ? 2 : 1,
    maxSingleBytes: deps.maxSingleBytes,
  });
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
    log.info("job_started", { ...ctx, segments: segments.length, chars: job.text.length, language: job.language, ...(resume ? { resume_from: resume.segment, attempt: resume.attempt } : {}) });
    // A resumed attempt does not start again: the task already has its `started`.
    const started = resume ? Promise.resolve(undefined) : events.send({ type: "started", ...(segments.length > 0 ? { segments_total: segments.length } : {}) });
    if (!signal.aborted) stopHeartbeats = clock.every(deps.heartbeatMs, () => events.heartbeat());
    if (segments.length === 0) {
      await started;
      throw new JobError("invalid_input", "the text has nothing to speak", false);
    }
    // The reference downloads while `started` is on its way (the senders keep events in call
    // order): the first sound leaves one round trip sooner.
    const [, voice] = await Promise.all([started, resolveVoice(job, client, events, deps)]);
    const { pauseSec } = voice;
    // The seed varies the take, deterministically (voice-settings.ts); without one the voice is as resolved.
    const traits = job.seed === undefined ? voice.traits : seededTraits(voice.traits, job.seed);
    const language = espeakLanguage(job.language, job.text);
    const pauseMs = sentencePauseMs(job.pause_ms, pauseSec);
    log.info("voice_resolved", { ...ctx, language, ...traits, pause_ms: pauseMs, ...(job.seed !== undefined ? { seed: job.seed } : {}) });
    const paragraphs = paragraphBreaksAfter(job.text, segments);

    const rate = job.output.sample_rate;
    const fade = crossfadeSamples(rate);
    const minSamples = Math.max(2 * fade, Math.round(MIN_SEGMENT_SECONDS * rate));
    const audio: Float32Array[] = [];
    // Each segment's words, seconds into that segment (null when the synthesiser gives no timings).
    const timings: (SynthWord[] | null)[] = [];
    // A restarted attempt (the DO already holds some segments) takes those back rather than rendering
    // them again (ADR 0023): the submit's `resume_from` (v1 and v2) or the socket's hello (v2) says which.
    const hello = stream ? await stream.ready() : null;
    const held = new Set(hello?.artifacts.flatMap((a) => (a.kind === "segment" && a.index != null ? [a.index] : [])) ?? []);
    let reused = 0;
    while (reused < segments.length && (held.has(reused) || (resume !== null && !stream?.live && reused < resume.segment))) reused++;
    // A part regeneration (ADR 0026) renders only the listed parts and reads every other one back;
    // the text must split into the parts the Worker expects, or the restitched file would not line up.
    const renderParts = job.render_parts ? new Set(job.render_parts.indices) : null;
    if (job.render_parts && job.render_parts.segments_total !== segments.length) {
      throw new JobError(
        "invalid_input",
        `the text splits into ${segments.length} parts here, not the ${job.render_parts.segments_total} of the take whose part is regenerated`,
        false,
      );
    }
    const readsBack = (index: number) =>
      renderParts ? !renderParts.has(index) || held.has(index) || (resume !== null && !stream?.live && index < resume.segment) : index < reused;
    const timingSpeech = { language, traits, rate, minSamples, deps, pauseMs };
    const failAfter = !resume && deps.failAt && deps.failAt > 0 ? Math.max(1, Math.floor(segments.length * deps.failAt)) : null;
    const pacer = stream && deps.realtime ? realtimePacer(clock, rate, signal) : null;
    let readBackCount = 0;
    let rendered = 0;
    for (const [index, text] of segments.entries()) {
      checkpoint();
      const after: JoinAfter = index === segments.length - 1 ? null : paragraphs[index] ? "paragraph" : "sentence";
      if (readsBack(index)) {
        const samples = await readBackSegment(client, job.callbacks.upload_url, index, rate, reused);
        audio.push(samples);
        // eSpeak is deterministic: the part's words are timed again from its text (no upload, no frames).
        // Only a v2 generate job uploads an alignment; a v1 one needs no timings.
        timings.push(stream && job.kind === "generate" ? await timingsOf(text, { ...timingSpeech, after }, samples.length, index === 0) : null);
        readBackCount++;
        // Idempotent by index: announces it again in case the first attempt's event was lost.
        await events.send({ type: "segment", index, duration_ms: durationMs(samples.length, rate) });
        continue;
      }
      if (readBackCount > 0 && rendered === 0) {
        // The first new frame starts where this part starts in the stream (a resume: where the interrupted part started).
        stream?.startAt(renderParts ? audio.reduce((n, a) => n + a.length, 0) : (resume?.stream_offset ?? audio.reduce((n, a) => n + a.length, 0)));
        await events.send({ type: "progress", progress: round3(0.05 + (0.85 * index) / segments.length), stage: renderParts ? "generating" : "resuming" });
        log.info(renderParts ? "job_parts_read_back" : "job_resumed", { ...ctx, reused: readBackCount, of: segments.length, attempt: resume?.attempt ?? null });
      }
      if (failAfter !== null && index >= failAfter && segments.length > 1) {
        throw new JobError("generation_failed", `fault injected (DEV_ENGINE_FAIL_AT): stopped after ${index} of ${segments.length} parts`, true);
      }
      const speech = { language, traits, rate, minSamples, deps, pauseMs, after };
      if (deps.segmentDelayMs > 0) {
        await clock.sleep(deps.segmentDelayMs, signal);
        checkpoint();
      }
      const live = stream?.live ? stream : null;
      const { samples, words } = await synthesiseSegment(text, speech, live ? { index, stream: live, pacer, checkpoint, first: live.streamOffset === 0 } : null);
      rendered++;
      const wav = encodeWav(samples, rate);
      // The final is stitched from the parts as stored (16-bit), as a part read back is: a take whose
      // part is regenerated later restitches to the same samples outside it (ADR 0026).
      audio.push(decodeWav(wav).samples);
      timings.push(words);
      await uploads.put("segment", index, wav, "audio/wav");
      await events.send({ type: "segment", index, duration_ms: durationMs(samples.length, rate) });
      await events.send({ type: "progress", progress: round3(0.05 + (0.85 * (index + 1)) / segments.length), stage: "generating" });
    }

    checkpoint();
    await events.send({ type: "progress", progress: 0.92, stage: "stitching" });
    // Every sentence is loudness-normalised as it is spoken, so the parts are joined as they are: no
    // gain over the whole, which would move every sample when one part is regenerated (ADR 0026).
    const final = fadeEdges(crossfadeConcat(audio, fade), Math.round(EDGE_FADE_SECONDS * rate));
    const finalWav = encodeWav(final, rate);
    await events.send({ type: "progress", progress: 0.96, stage: "uploading" });
    await uploads.put("final", null, finalWav, "audio/wav");
    if (stream && job.kind === "generate") await uploadAlignment(uploads, job.text, timings, audio, fade, final.length, rate, log, ctx);
    // The waveform (a v2 artifact), so the player never decodes the whole file (ADR 0023).
    if (job.kind === "generate" && stream) await uploadPeaks(uploads, final, rate, log, ctx);
    checkpoint();
    stopHeartbeats();
    await events.send({ type: "completed", duration_ms: durationMs(final.length, rate), sample_rate: rate, size_bytes: finalWav.length });
    log.info("job_completed", {
      ...ctx,
      segments: segments.length,
      rendered,
      reused: readBackCount,
      audio_ms: durationMs(final.length, rate),
      took_ms: clock.now() - startedAt,
    });
    if (deps.encodeMp3 && job.kind === "generate") await uploadMp3(uploads, final, rate, deps.encodeMp3, log, ctx);
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

/** A durable segment of an earlier attempt, from the Worker (job token); failing that, the job fails retryably, never a silent replay. */
async function readBackSegment(client: CallbackClient, uploadUrl: string, index: number, rate: number, reused: number): Promise<Float32Array> {
  try {
    const answer = await client.request("GET", `${uploadUrl.replace(/\/+$/, "")}/artifacts/segment/${index}`);
    const wav = decodeWav(answer.body);
    return resample(wav.samples, wav.sampleRate, rate);
  } catch (err) {
    throw new JobError(
      "engine_unavailable",
      `the job was interrupted after part ${reused} and part ${index + 1} could not be read back to resume it: ${errorMessage(err)}`,
      true,
      { cause: err },
    );
  }
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

/** Voice traits by reference content (its hash with type and transcript) or by the Worker's reference id with the transcript: the analysis is deterministic, so a cache cannot change a voice. */
const analysedReferences = new Map<string, ResolvedVoice>();

/** The eSpeak settings for a job's voice, and how long that voice pauses (null: unknown). */
type ResolvedVoice = { traits: VoiceTraits; pauseSec: number | null };
const MAX_CACHED_REFERENCES = 64;

async function resolveVoice(job: SubmitRequest, client: CallbackClient, events: EventSender, deps: JobDeps): Promise<ResolvedVoice> {
  if (job.kind === "design_preview") {
    await events.send({ type: "progress", progress: 0.02, stage: "preparing_voice" });
    const designed = voiceFromDescription(job.instruct ?? "");
    deps.log.info("voice_designed", { job_id: job.job_id, matched_words: designed.matched });
    return { traits: designed.traits, pauseSec: null };
  }
  const voice = job.voice;
  if (!voice) throw new JobError("invalid_input", "generate jobs need a voice", false); // SubmitRequest already ensures this
  // The progress event goes out while the voice is found (the sender keeps events in call order).
  const preparing = events.send({ type: "progress", progress: 0.02, stage: "preparing_voice" });
  // A clip this process has analysed before, named by the Worker (ADR 0024): no download at all.
  const byId = voice.reference_id ? `id\0${voice.reference_id}\0${voice.reference_text ?? ""}` : null;
  const known = byId ? analysedReferences.get(byId) : undefined;
  if (known) {
    await preparing;
    deps.log.info("reference_cached", { job_id: job.job_id, voice_id: voice.voice_id, reference_id: voice.reference_id, downloaded: false });
    return known;
  }
  // Both settle before either counts: a job stopped on the wire (its event refused) is stopped, even
  // if the download it overlapped was refused too.
  const [sent, found] = await Promise.allSettled([preparing, downloadAndAnalyse(job.job_id, voice, client, deps)]);
  if (sent.status === "rejected") throw sent.reason;
  if (found.status === "rejected") throw found.reason;
  if (byId) remember(byId, found.value);
  return found.value;
}

function remember(key: string, resolved: ResolvedVoice) {
  analysedReferences.delete(key);
  analysedReferences.set(key, resolved);
  if (analysedReferences.size > MAX_CACHED_REFERENCES) analysedReferences.delete(analysedReferences.keys().next().value!);
}

async function downloadAndAnalyse(jobId: string, voice: NonNullable<SubmitRequest["voice"]>, client: CallbackClient, deps: JobDeps): Promise<ResolvedVoice> {
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
  // The same bytes are analysed once per process, whatever they are called.
  const key = createHash("sha256")
    .update(answer.body)
    .update(`\0${answer.contentType}\0${voice.reference_text ?? ""}`)
    .digest("hex");
  const cached = analysedReferences.get(key);
  if (cached) {
    deps.log.info("reference_cached", { job_id: jobId, voice_id: voice.voice_id, bytes: answer.body.length, downloaded: true });
    return cached;
  }
  const reference = voiceFromReference(answer.body, { contentType: answer.contentType, referenceText: voice.reference_text });
  deps.log.info("reference_analysed", {
    job_id: jobId,
    voice_id: voice.voice_id,
    bytes: answer.body.length,
    container: reference.container,
    method: reference.method,
    ...(reference.features
      ? { f0_hz: reference.features.f0Hz && Math.round(reference.features.f0Hz), syllables_per_s: round3(reference.features.syllableRate) }
      : {}),
  });
  const resolved = { traits: reference.traits, pauseSec: reference.features?.pauseSec ?? null };
  remember(key, resolved);
  return resolved;
}

async function synthesise(
  text: string,
  language: string,
  traits: VoiceTraits,
  rate: number,
  deps: JobDeps,
  purpose?: "timings",
): Promise<{ samples: Float32Array; words: SynthWord[] | null }> {
  let result;
  try {
    result = await deps.synthesize({ text, language, traits, ...(purpose ? { purpose } : {}) });
  } catch (err) {
    if (err instanceof JobError) throw err;
    throw new JobError("generation_failed", `speech synthesis failed: ${errorMessage(err)}`, true, { cause: err });
  }
  // Resampling keeps time: the words' seconds hold at the job's rate.
  return { samples: resample(result.samples, result.sampleRate, rate), words: result.words ?? null };
}

/**
 * Word timings of a part read back rather than rendered (a resume, ADR 0023; a part regeneration,
 * ADR 0026): its text spoken again by eSpeak with this job's settings, nothing uploaded or streamed.
 * A part rendered with the same settings (a resume) comes out sample for sample the same length; one
 * rendered with another seed's pace (a part regeneration's other parts) is scaled to its real length.
 * `cutFirstClause`: the part opened a streamed job, whose first clause was spoken on its own.
 */
async function timingsOf(text: string, o: SegmentSpeech, realSamples: number, cutFirstClause: boolean): Promise<SynthWord[] | null> {
  const again = await synthesiseSegment(text, { ...o, purpose: "timings" }, null, cutFirstClause);
  if (!again.words) return null;
  const pause = pauseSamples(o.after, o.pauseMs, o.rate);
  const scale = again.samples.length === realSamples ? 1 : Math.max(1, realSamples - pause) / Math.max(1, again.samples.length - pause);
  return scale === 1 ? again.words : again.words.map((w) => ({ ...w, start: w.start * scale, end: w.end * scale }));
}

type SegmentSpeech = {
  language: string;
  traits: VoiceTraits;
  rate: number;
  minSamples: number;
  deps: JobDeps;
  /** The sentence pause; a paragraph break gets twice it (joins.ts). */
  pauseMs: number;
  /** What follows the segment: another sentence, a paragraph, or nothing (the last). */
  after: JoinAfter;
  /** Spoken only for its word timings (timingsOf). */
  purpose?: "timings";
};
type LiveTarget = {
  index: number;
  stream: StreamSender;
  pacer: Pacer | null;
  checkpoint: () => void;
  /** Nothing has been streamed yet: this segment carries the job's first sound. */
  first: boolean;
};

/**
 * A segment synthesised one sentence at a time, each followed by its pause (joins.ts). With a live
 * target (v2), each sentence streams as frames the moment it exists, so the first sound leaves after
 * one sentence's synthesis rather than a whole segment's. Each sentence is loudness-normalised on its
 * own (its pause after that, so silence never raises the gain); the segment artifact is exactly the
 * concatenation of what was streamed.
 */
async function synthesiseSegment(
  text: string,
  o: SegmentSpeech,
  live: LiveTarget | null,
  cutFirstClause = live?.first ?? false,
): Promise<{ samples: Float32Array; words: SynthWord[] | null }> {
  const sentences = sentencePieces(text);
  const breaks = paragraphBreaksAfter(text, sentences);
  const joins: JoinAfter[] = sentences.map((_, k) => (breaks[k] ? "paragraph" : "sentence"));
  // The job's first sound waits for its first piece's synthesis: a long first sentence is spoken
  // as its first clause, then the rest (after a clause's pause, not a sentence's).
  const pieces = [...sentences];
  const cut = cutFirstClause ? firstClause(pieces[0]!) : null;
  if (cut) {
    pieces.splice(0, 1, ...cut);
    joins.unshift("clause");
  }
  const parts: Float32Array[] = [];
  let words: SynthWord[] | null = [];
  let length = 0;
  for (const [k, piece] of pieces.entries()) {
    const last = k === pieces.length - 1;
    const spoken = await synthesise(piece, o.language, o.traits, o.rate, o.deps, o.purpose);
    let samples = spoken.samples;
    // This sentence starts after the earlier ones and their pauses.
    words = words && spoken.words ? [...words, ...shiftWords(spoken.words, length / o.rate)] : null;
    if (last) samples = padWithSilence(samples, o.minSamples - length);
    const after: JoinAfter = last ? o.after : joins[k]!;
    samples = withSilence(normaliseLoudness(samples, o.rate), pauseSamples(after, o.pauseMs, o.rate));
    parts.push(samples);
    length += samples.length;
    if (live) {
      await streamPcm(live.stream, live.index, encodeWav(samples, o.rate).subarray(WAV_HEADER_BYTES), last, o.rate, live.pacer, live.checkpoint);
      if (!last) live.checkpoint();
    }
  }
  const out = new Float32Array(length);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return { samples: out, words };
}

/**
 * The `alignment` artifact (ADR 0021): each segment's words moved to where crossfadeConcat put the
 * segment (every join overlaps one crossfade; the edge fades keep the length). Sent before
 * `completed` since eSpeak's timings cost nothing; best effort like the MP3: subtitles are not the product.
 */
async function uploadAlignment(
  uploads: ArtifactUploader,
  text: string,
  timings: readonly (SynthWord[] | null)[],
  audio: readonly Float32Array[],
  fade: number,
  finalSamples: number,
  rate: number,
  log: Logger,
  ctx: Record<string, string>,
) {
  if (timings.some((t) => t === null)) return;
  const starts: number[] = [];
  let offset = 0;
  for (const segment of audio) {
    starts.push(offset / rate);
    offset += segment.length - fade;
  }
  try {
    const alignment = buildAlignment(text, timings as SynthWord[][], starts, finalSamples / rate);
    await uploads.put("alignment", null, new TextEncoder().encode(JSON.stringify(alignment)), "application/json");
    log.info("alignment_uploaded", { ...ctx, words: alignment.words.length });
  } catch (err) {
    if (err instanceof JobStopped) throw err;
    log.warn("alignment_upload_failed", { ...ctx, error: errorMessage(err) });
  }
}

/** Best effort: a missing waveform only makes the player draw it from the audio. A refusal that stops the job still does. */
async function uploadPeaks(uploads: ArtifactUploader, final: Float32Array, rate: number, log: Logger, ctx: Record<string, string>) {
  try {
    await uploads.put("peaks", null, new TextEncoder().encode(JSON.stringify(computePeaks(final, rate))), "application/json");
  } catch (err) {
    if (err instanceof JobStopped) throw err;
    log.warn("peaks_upload_failed", { ...ctx, error: errorMessage(err) });
  }
}

/** Best effort: the job already succeeded with its WAV; a missing MP3 only hides that download. */
async function uploadMp3(
  uploads: ArtifactUploader,
  final: Float32Array,
  rate: number,
  encode: Mp3EncodeFn,
  log: Logger,
  ctx: Record<string, string>,
) {
  try {
    const mp3 = await encode(final, rate);
    await uploads.put("final_mp3", null, mp3, "audio/mpeg");
    log.info("mp3_uploaded", { ...ctx, size_bytes: mp3.length });
  } catch (err) {
    log.warn("mp3_upload_failed", { ...ctx, error: errorMessage(err) });
  }
}

type Pacer = (streamSamples: number) => Promise<void>;

/** Waits until the audio clock (first frame = 0) is within REALTIME_LEAD_MS of `streamSamples`. */
function realtimePacer(clock: Clock, rate: number, signal: AbortSignal): Pacer {
  let startedAt: number | null = null;
  return async (streamSamples) => {
    startedAt ??= clock.now();
    const due = startedAt + (streamSamples / rate) * 1000 - REALTIME_LEAD_MS;
    const wait = due - clock.now();
    if (wait > 0) await clock.sleep(wait, signal);
  };
}

const MIN_PIECE_CHARS = 24;
/** A first sentence longer than this is cut at its first clause boundary (see firstClause). */
export const FIRST_PIECE_MAX_CHARS = 48;
/** …if that boundary comes this early; a sentence with no early clause is spoken whole. */
const FIRST_CLAUSE_MAX_CHARS = 100;

/**
 * The job's first sentence as [its first clause, the rest] when it is long and has a clause boundary
 * (, ; : then a space, a CJK comma, or a spaced dash) between MIN_PIECE_CHARS and FIRST_CLAUSE_MAX_CHARS characters in;
 * else null. eSpeak's time grows with the text, so the first sound leaves after ~half the work.
 */
export function firstClause(sentence: string): [string, string] | null {
  if (sentence.length <= FIRST_PIECE_MAX_CHARS) return null;
  const re = /[,;:]\s+|[，、；：]\s*|\s[—–-]\s+/gu;
  for (let m = re.exec(sentence); m; m = re.exec(sentence)) {
    const end = m.index + m[0].trimEnd().length;
    if (end < MIN_PIECE_CHARS) continue;
    if (end > FIRST_CLAUSE_MAX_CHARS) return null;
    const head = sentence.slice(0, end).trim();
    const rest = sentence.slice(m.index + m[0].length).trim();
    return rest.length > 0 ? [head, rest] : null;
  }
  return null;
}

/** Sentences of a segment (ending at . ! ? … 。！？ or a line break); ones shorter than MIN_PIECE_CHARS join the next. */
export function sentencePieces(text: string): string[] {
  const sentences = text.match(/[^.!?…。！？\n]*(?:[.!?…。！？]+["'”’)\]]*\s*|\n+|$)/g)?.filter((p) => p.trim().length > 0) ?? [];
  const pieces: string[] = [];
  let carry = "";
  for (const sentence of sentences) {
    carry += sentence;
    if (carry.trim().length >= MIN_PIECE_CHARS) {
      pieces.push(carry.trim());
      carry = "";
    }
  }
  if (carry.trim()) {
    if (pieces.length > 0) pieces[pieces.length - 1] = `${pieces[pieces.length - 1]} ${carry.trim()}`;
    else pieces.push(carry.trim());
  }
  return pieces.length > 0 ? pieces : [text];
}

/** PCM as frames of FRAME_SECONDS; the last one flagged when it ends the segment; paced when asked. */
async function streamPcm(
  stream: StreamSender,
  index: number,
  pcm: Uint8Array,
  endsSegment: boolean,
  rate: number,
  pacer: Pacer | null,
  checkpoint: () => void,
) {
  const frameBytes = Math.max(2, Math.round(FRAME_SECONDS * rate) * 2);
  for (let offset = 0; offset < pcm.length || (offset === 0 && endsSegment); offset += frameBytes) {
    if (pacer) {
      await pacer(stream.streamOffset);
      checkpoint();
    }
    const end = Math.min(pcm.length, offset + frameBytes);
    stream.frame(index, pcm.subarray(offset, end), endsSegment && end >= pcm.length);
    if (end >= pcm.length) break;
  }
}
