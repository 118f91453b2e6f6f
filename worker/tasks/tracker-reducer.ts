/**
 * The TaskTracker's rules as a pure reducer: every input (a dispatch report,
 * an engine event, a frame header, a stored artifact, a cancel, an alarm)
 * maps the current state to the next one plus a list of effects, in the order
 * the Durable Object must run them. No I/O here: the DO (a thin shell,
 * durable-objects/task-tracker.ts) sends, stores and settles; tests call these
 * functions directly.
 *
 * State is kept in pieces so one event rewrites only what it changed
 * (issue 16): `state` (the small core record), `seg:<i>` per announced
 * segment, `art:<kind>[/<i>]` per stored artifact, `held:<i>` per segment event
 * waiting for its upload, `dlv:<i>` per segment delivered by frames, `frame`
 * for the live stream's position.
 */
import { artifactId, artifactSpec, type ArtifactKind } from "../engine/artifacts";
import type { FrameHeader } from "../engine/frames";
import { MAX_RESUMES, SEQ_MAX_GAP, type EngineError, type EngineEvent, type EventAck, type ResumeFrom } from "../engine/protocol";
import { CHARACTERS_PER_CREDIT } from "../services/pricing";
import { audioUrls, artifactUrl } from "../storage/keys";
import { isTerminal, STAGES, type TaskState, type TerminalState } from "./lifecycle";
import type { ArtifactView, ChargeView, SegmentView, ServerMessage, TaskResult, TaskView } from "./messages";

export interface TrackerInit {
  id: string;
  userId: string;
  kind: "generate" | "design_preview";
  cost: number;
  generationId: string | null;
  /** The take this task renders (ADR 0022); absent in trackers made before takes, which are take 1. */
  take?: number | null;
  voiceId: string | null;
  createdAt: number;
  /** Fail with engine_timeout if not running by then (queue backoff included). */
  startTimeoutMs: number;
  /** Fail with engine_timeout after this long without any engine event or frame. */
  heartbeatTimeoutMs: number;
  sampleRate?: number;
  /**
   * The task failed before it had a tracker (settled from its D1 row: the cron's sweep, the
   * dead-letter queue, a failed enqueue), so the tracker starts out failed and settled.
   */
  failed?: EngineError;
  /**
   * A part regeneration (ADR 0026): the tracker starts with the source take's other segment
   * artifacts (its R2 keys, shared) as durable parts, inherited and never charged.
   */
  part?: { index: number; sourceTaskId: string };
}

export interface StoredResult extends TaskResult {
  key: string;
}

export interface Core {
  init: TrackerInit;
  status: TaskState;
  progress: number;
  stage: string | null;
  segmentsTotal: number | null;
  segmentChars: number[] | null;
  /** Last accepted engine `seq` (-1 before the first event). */
  engineSeq: number;
  /** Sequence of messages sent to listeners; a snapshot carries the current one. */
  seq: number;
  result: StoredResult | null;
  error: EngineError | null;
  charge: ChargeView | null;
  callId: string | null;
  lastEventAt: number;
  updatedAt: number;
  /** True once the terminal state is in D1 (retried by the alarm until it is). */
  synced: boolean;
  ignoredEvents: number;
  /** Resumes requested so far (ADR 0023; absent in trackers stored before it). */
  resumes?: number;
  /** A resume waiting for its dispatch: the attempt and when it was asked for. */
  resuming?: { attempt: number; since: number } | null;
  /** Parts taken from the source take (ADR 0026): durable from the start, read back by the engine, never charged. */
  inherited?: number[];
}

export interface StoredArtifact {
  kind: ArtifactKind;
  index: number | null;
  key: string;
  size_bytes: number;
  content_type: string;
}

export interface AnnouncedSegment extends SegmentView {
  chars?: number;
}

export interface HeldSegment {
  index: number;
  duration_ms: number;
  chars?: number;
}

export interface FramePosition {
  /** Last relayed frame number (-1 none). */
  last: number;
  at: number;
  /** The last frame's segment, where that segment starts in the stream, and where the frame ends (samples); for a resume. */
  segment?: number;
  segmentStart?: number;
  end?: number;
}

export interface TrackerState {
  core: Core;
  segments: Record<number, AnnouncedSegment>;
  artifacts: Record<string, StoredArtifact>;
  held: Record<number, HeldSegment>;
  delivered: Record<number, true>;
  frame: FramePosition;
}

export type Effect =
  | { t: "put"; key: string; value: unknown }
  | { t: "delete"; key: string }
  | { t: "broadcast"; message: ServerMessage }
  /** Write the terminal state to D1 (the settle). */
  | { t: "settle" }
  | { t: "alarm"; at: number }
  | { t: "record_running"; at: number }
  /** Tell the engine socket to stop (ADR 0009 StreamCancel) and close it with 4009. */
  | { t: "engine_cancel"; state: "cancelled" | "failed" }
  /** The shell's replay buffer no longer needs this segment's frames. */
  | { t: "drop_replay"; index: number }
  /** An after-completed artifact of a succeeded task: its D1 row now (the settle has run). */
  | { t: "artifact_row"; artifact: StoredArtifact }
  /** Re-dispatch the task as resume `attempt` (ADR 0023): reset its D1 row to queued, enqueue, cancel the old call. */
  | { t: "resume"; attempt: number; previousCallId: string | null };

export interface Step<R> {
  state: TrackerState;
  effects: Effect[];
  reply: R;
}

export const KEYS = {
  core: "state",
  frame: "frame",
  segment: (i: number) => `seg:${i}`,
  artifact: (kind: ArtifactKind, index: number | null) => `art:${artifactId(kind, index)}`,
  held: (i: number) => `held:${i}`,
  delivered: (i: number) => `dlv:${i}`,
} as const;

/** `inherited`: a part regeneration's source parts (ADR 0026), already durable. */
export function initialState(init: TrackerInit, now: number, inherited: StoredArtifact[] = []): TrackerState {
  const artifacts: Record<string, StoredArtifact> = {};
  for (const a of inherited) if (a.kind === "segment" && a.index !== null && a.index !== init.part?.index) artifacts[artifactId(a.kind, a.index)] = a;
  const inheritedIndices = Object.values(artifacts).map((a) => a.index!).sort((x, y) => x - y);
  return {
    core: {
      init,
      status: init.failed ? "failed" : "queued",
      progress: 0,
      stage: null,
      segmentsTotal: null,
      segmentChars: null,
      engineSeq: -1,
      seq: 0,
      result: null,
      error: init.failed ?? null,
      charge: null,
      callId: null,
      lastEventAt: now,
      updatedAt: now,
      synced: Boolean(init.failed),
      ignoredEvents: 0,
      ...(inheritedIndices.length ? { inherited: inheritedIndices } : {}),
    },
    segments: {},
    artifacts,
    held: {},
    delivered: {},
    frame: { last: -1, at: now },
  };
}

/** Builds a step from a draft core: every step that changes the core writes it once. */
class Builder {
  effects: Effect[] = [];
  core: Core;
  segments: TrackerState["segments"];
  artifacts: TrackerState["artifacts"];
  held: TrackerState["held"];
  delivered: TrackerState["delivered"];
  frame: FramePosition;
  private coreDirty = false;
  constructor(s: TrackerState) {
    this.core = { ...s.core };
    this.segments = s.segments;
    this.artifacts = s.artifacts;
    this.held = s.held;
    this.delivered = s.delivered;
    this.frame = s.frame;
  }
  touch(now: number) {
    this.core.updatedAt = now;
    this.coreDirty = true;
  }
  dirty() {
    this.coreDirty = true;
  }
  broadcast(message: ServerMessage) {
    this.effects.push({ t: "broadcast", message });
  }
  nextSeq() {
    this.coreDirty = true;
    return ++this.core.seq;
  }
  put(key: string, value: unknown) {
    this.effects.push({ t: "put", key, value });
  }
  del(key: string) {
    this.effects.push({ t: "delete", key });
  }
  done<R>(reply: R): Step<R> {
    // Broadcasts first (the fan-out goes out before any write), then the writes, then the rest in order.
    const order = (e: Effect) => (e.t === "broadcast" ? 0 : e.t === "put" || e.t === "delete" ? 1 : 2);
    const effects = this.effects.map((e, i) => ({ e, i })).sort((a, b) => order(a.e) - order(b.e) || a.i - b.i).map((x) => x.e);
    if (this.coreDirty) {
      const at = effects.findIndex((e) => order(e) === 2);
      const put: Effect = { t: "put", key: KEYS.core, value: this.core };
      if (at < 0) effects.push(put);
      else effects.splice(at, 0, put);
    }
    return {
      state: { core: this.core, segments: this.segments, artifacts: this.artifacts, held: this.held, delivered: this.delivered, frame: this.frame },
      effects,
      reply,
    };
  }
}

/** Take 1 keeps the generation's own key (where every generation made before takes has its file); later takes live under their task. */
function isLaterTake(init: TrackerInit): boolean {
  return (init.take ?? 1) > 1;
}

export function resultKey(init: TrackerInit): string {
  if (init.kind !== "generate" || !init.generationId) return `users/${init.userId}/previews/${init.id}.wav`;
  return isLaterTake(init) ? `users/${init.userId}/tasks/${init.id}/final.wav` : `users/${init.userId}/generations/${init.generationId}.wav`;
}

/** Where the owner hears this task's final file: the generation's audio (of this take, when it is a later one) or the preview. */
function resultUrl(init: TrackerInit): string {
  if (!init.generationId) return audioUrls.preview(init.id);
  return isLaterTake(init) ? audioUrls.generationTake(init.generationId, init.take!) : audioUrls.generation(init.generationId);
}

/** The queue consumer reports a successful submit. `cancel`: the task ended meanwhile; the engine must be told. */
export function onDispatched(s: TrackerState, callId: string, now: number): Step<{ cancel: boolean }> {
  const b = new Builder(s);
  b.core.callId = callId;
  b.dirty();
  if (isTerminal(b.core.status)) return b.done({ cancel: true });
  if (b.core.resuming) {
    // The resumed attempt is with the engine: from now on its silence is the deadline again.
    b.core.resuming = null;
    b.core.lastEventAt = now;
    b.touch(now);
    b.effects.push({ t: "alarm", at: now + b.core.init.heartbeatTimeoutMs });
    b.effects.push({ t: "record_running", at: now });
    return b.done({ cancel: false });
  }
  if (b.core.status === "queued") {
    b.core.status = "dispatched";
    b.touch(now);
    b.broadcast({ type: "status", seq: b.nextSeq(), status: "dispatched" });
  }
  return b.done({ cancel: false });
}

function ignored(b: Builder): Step<EventAck> {
  b.core.ignoredEvents += 1;
  b.dirty();
  return b.done({ accepted: false, state: b.core.status });
}

/** Announces segment `index` (upload and event both in): once, to every listener. */
function announceSegment(b: Builder, held: HeldSegment) {
  if (b.segments[held.index]) return;
  const seg: AnnouncedSegment = { index: held.index, url: audioUrls.segment(b.core.init.id, held.index), duration_ms: held.duration_ms };
  if (held.chars !== undefined) seg.chars = held.chars;
  b.segments = { ...b.segments, [held.index]: seg };
  b.put(KEYS.segment(held.index), seg);
  b.broadcast({ type: "segment", seq: b.nextSeq(), index: seg.index, url: seg.url, duration_ms: seg.duration_ms });
  b.effects.push({ t: "drop_replay", index: held.index });
}

/** An engine event, already authenticated (HTTP route or engine socket). */
export function onEvent(s: TrackerState, event: EngineEvent, now: number): Step<EventAck> {
  const b = new Builder(s);
  const c = b.core;
  if (isTerminal(c.status) || event.seq <= c.engineSeq) return ignored(b);
  // One huge seq must not make every later real event look stale (issue 15).
  if (event.seq > c.engineSeq + SEQ_MAX_GAP) return ignored(b);
  c.engineSeq = event.seq;
  c.lastEventAt = now;
  b.dirty();
  if ((c.status === "queued" || c.status === "dispatched") && event.type !== "failed") {
    c.status = "running";
    b.touch(now);
    b.broadcast({ type: "status", seq: b.nextSeq(), status: "running" });
    // From now on the deadline is silence, not the start.
    b.effects.push({ t: "alarm", at: now + c.init.heartbeatTimeoutMs });
    b.effects.push({ t: "record_running", at: now });
  }
  switch (event.type) {
    case "started":
      c.segmentsTotal = event.segments_total ?? event.segment_chars?.length ?? null;
      c.segmentChars = event.segment_chars ?? null;
      c.stage = STAGES.started;
      b.broadcast({ type: "progress", seq: b.nextSeq(), progress: c.progress, stage: STAGES.started });
      break;
    case "progress":
      // Progress never goes backwards, whatever order the engine's numbers arrive in.
      c.progress = Math.max(c.progress, event.progress);
      c.stage = event.stage;
      b.broadcast({ type: "progress", seq: b.nextSeq(), progress: c.progress, stage: c.stage });
      break;
    case "segment": {
      const held: HeldSegment = { index: event.index, duration_ms: event.duration_ms, ...(event.chars !== undefined ? { chars: event.chars } : {}) };
      if (b.segments[event.index] || b.held[event.index]) break; // idempotent by index
      if (b.artifacts[artifactId("segment", event.index)]) announceSegment(b, held);
      else {
        // The event overtook its upload: hold it, announce when the upload lands (ADR 0009).
        b.held = { ...b.held, [event.index]: held };
        b.put(KEYS.held(event.index), held);
      }
      break;
    }
    case "heartbeat":
      break;
    case "completed": {
      const final = b.artifacts[artifactId("final", null)];
      if (!final) {
        failOrResume(b, { code: "upload_missing", message: "The engine reported success without uploading the audio.", retryable: true }, now, false);
        return b.done({ accepted: true, state: c.status });
      }
      c.result = {
        duration_ms: event.duration_ms,
        sample_rate: event.sample_rate,
        size_bytes: final.size_bytes,
        audio_url: resultUrl(c.init),
        generation_id: c.init.generationId,
        formats: b.artifacts[artifactId("final_mp3", null)] ? ["wav", "mp3"] : ["wav"],
        key: final.key,
      };
      c.progress = 1;
      finish(b, "succeeded", null, now, false);
      return b.done({ accepted: true, state: c.status });
    }
    case "failed":
      failOrResume(b, event.error, now, false);
      return b.done({ accepted: true, state: c.status });
  }
  b.touch(now);
  return b.done({ accepted: true, state: c.status });
}

export type UploadCheck = { ok: true; key: string } | { ok: false; status: 404 | 409; code: string; message: string };

/** May this artifact be uploaded now? Kind, index and content are checked by the route against the registry. */
export function checkUpload(s: TrackerState, kind: ArtifactKind, index: number | null, afterCompleted: boolean): UploadCheck {
  const c = s.core;
  const existing = s.artifacts[artifactId(kind, index)];
  if (c.status === "succeeded") {
    if (!afterCompleted) return { ok: false, status: 409, code: "job_finished", message: `This job already succeeded; ${kind} artifacts are immutable now.` };
    if (existing) return { ok: false, status: 409, code: "artifact_exists", message: `This job's ${kind} is already stored and is immutable now.` };
  } else if (isTerminal(c.status)) {
    return { ok: false, status: 409, code: "job_finished", message: `This job is already ${c.status}.` };
  }
  return { ok: true, key: artifactKey(c.init, kind, index) };
}

/** R2 keys: under the owner, and for generations where history already looks for the final file. */
export function artifactKey(init: TrackerInit, kind: ArtifactKind, index: number | null): string {
  const u = init.userId;
  switch (kind) {
    case "segment":
      return `users/${u}/tasks/${init.id}/segments/${index}.wav`;
    case "final":
      return resultKey(init);
    case "final_mp3":
      return init.generationId && !isLaterTake(init) ? `users/${u}/generations/${init.generationId}.mp3` : `users/${u}/tasks/${init.id}/final.mp3`;
    default:
      // Every newer kind (alignment, …) lives under its task, named by the registry: no case per kind.
      return `users/${u}/tasks/${init.id}/artifacts/${artifactId(kind, index)}`;
  }
}

export function artifactView(taskId: string, a: StoredArtifact): ArtifactView {
  return { kind: a.kind, index: a.index, url: artifactUrl(taskId, a.kind, a.index), size_bytes: a.size_bytes, content_type: a.content_type };
}

/** An artifact is in R2: record it, announce a held segment, tell listeners of other kinds. */
export function onArtifactStored(s: TrackerState, a: StoredArtifact, now: number): Step<{ recorded: boolean }> {
  const b = new Builder(s);
  const c = b.core;
  const late = artifactSpec(a.kind).after_completed;
  const check = checkUpload(s, a.kind, a.index, late);
  if (!check.ok) return b.done({ recorded: false });
  b.artifacts = { ...b.artifacts, [artifactId(a.kind, a.index)]: a };
  b.put(KEYS.artifact(a.kind, a.index), a);
  if (a.kind === "segment" && a.index !== null) {
    const held = b.held[a.index];
    if (held) {
      const { [a.index]: _gone, ...rest } = b.held;
      b.held = rest;
      b.del(KEYS.held(a.index));
      announceSegment(b, held);
    }
  } else if (!(a.kind === "final" && c.status !== "succeeded")) {
    // final is announced by `completed`; other kinds as they land.
    b.broadcast({ type: "artifact", seq: b.nextSeq(), ...artifactView(c.init.id, a) });
  }
  if (c.status === "succeeded" && late) {
    // After the settle, a late kind writes its own row (the settle already wrote the others).
    if (a.kind === "final_mp3" && c.result) c.result = { ...c.result, formats: ["wav", "mp3"] };
    b.effects.push({ t: "artifact_row", artifact: a });
  }
  b.touch(now);
  return b.done({ recorded: true });
}

export type FrameVerdict = { ok: true } | { ok: false; code: number; reason: string };

/** A binary frame's header (already decoded and size-checked by the shell). */
export function onFrame(s: TrackerState, h: FrameHeader, now: number): Step<FrameVerdict> {
  const b = new Builder(s);
  if (isTerminal(b.core.status)) return b.done({ ok: false, code: 4409, reason: `the task is ${b.core.status}` });
  if (h.frame !== b.frame.last + 1) return b.done({ ok: false, code: 4409, reason: `frame ${h.frame} after ${b.frame.last}` });
  if (h.segment > 9999) return b.done({ ok: false, code: 4400, reason: "segment index out of range" });
  b.frame = { last: h.frame, at: now, segment: h.segment, segmentStart: h.stream_offset - h.segment_offset, end: h.stream_offset + h.payload_bytes / 2 };
  b.put(KEYS.frame, b.frame);
  if (h.last_in_segment && !b.delivered[h.segment]) {
    b.delivered = { ...b.delivered, [h.segment]: true };
    b.put(KEYS.delivered(h.segment), true);
  }
  return b.done({ ok: true });
}

export type CancelReply = { cancelled: true; callId: string | null } | { cancelled: false; status: TaskState };

export function onCancel(s: TrackerState, now: number): Step<CancelReply> {
  const b = new Builder(s);
  if (isTerminal(b.core.status)) return b.done({ cancelled: false, status: b.core.status });
  finish(b, "cancelled", null, now, true);
  return b.done({ cancelled: true, callId: b.core.callId });
}

/** Fails the task from outside the engine (dead-letter queue, sweep, deadline). */
export function onFail(s: TrackerState, error: EngineError, now: number): Step<{ failed: boolean }> {
  const b = new Builder(s);
  if (isTerminal(b.core.status)) return b.done({ failed: false });
  finish(b, "failed", error, now, true);
  return b.done({ failed: true });
}

/** The alarm: deadlines, or a retry of an unsynced settle. */
export function onAlarm(s: TrackerState, now: number): Step<null> {
  const b = new Builder(s);
  const c = b.core;
  if (isTerminal(c.status)) {
    if (!c.synced) b.effects.push({ t: "settle" });
    return b.done(null);
  }
  if ((c.status === "queued" || c.status === "dispatched") && now >= c.init.createdAt + c.init.startTimeoutMs) {
    finish(b, "failed", { code: "engine_timeout", message: "The speech engine did not start this job in time. Your credits were returned.", retryable: true }, now, true);
    return b.done(null);
  }
  if (c.resuming) {
    // A resume has the start deadline to reach the engine again (queue backoff included).
    const due = c.resuming.since + c.init.startTimeoutMs;
    if (now >= due) {
      finish(b, "failed", { code: "engine_timeout", message: "The speech engine did not take this job back in time to resume it.", retryable: true }, now, true);
    } else b.effects.push({ t: "alarm", at: Math.max(due, now + 1000) });
    return b.done(null);
  }
  // Frames are a sign of life too (an engine streaming a long segment need not heartbeat in between).
  const lastSign = b.frame.last >= 0 ? Math.max(c.lastEventAt, b.frame.at) : c.lastEventAt;
  if (c.status === "running" && now >= lastSign + c.init.heartbeatTimeoutMs) {
    failOrResume(b, { code: "engine_timeout", message: "The speech engine stopped responding.", retryable: true }, now, true);
    return b.done(null);
  }
  const next = c.status === "running" ? lastSign + c.init.heartbeatTimeoutMs : c.init.createdAt + c.init.startTimeoutMs;
  b.effects.push({ t: "alarm", at: Math.max(next, now + 1000) });
  return b.done(null);
}

export function onSynced(s: TrackerState): Step<null> {
  const b = new Builder(s);
  b.core.synced = true;
  b.dirty();
  return b.done(null);
}

/** Segments the person received: announced artifacts, or every frame through the last one relayed. */
export function deliveredSegments(s: Pick<TrackerState, "segments" | "delivered">): number[] {
  const set = new Set<number>([...Object.keys(s.segments), ...Object.keys(s.delivered)].map(Number));
  return [...set].sort((a, b) => a - b);
}

/**
 * The fair charge for a task that did not succeed (DESIGN §6): the credits of
 * the characters of every delivered part, never more than the reservation.
 * With per-part characters it charges by characters (100 a credit, rounded
 * up, as pricing does); else the delivered share of the cost (rounded down);
 * else nothing.
 */
export function chargeFor(s: Pick<TrackerState, "core" | "segments" | "delivered">): ChargeView | null {
  const c = s.core;
  // A part regeneration's inherited parts were paid for by their own take (ADR 0026).
  const inherited = new Set(c.inherited ?? []);
  const parts = deliveredSegments(s).filter((i) => !inherited.has(i));
  if (!parts.length || c.init.cost <= 0) return null;
  // Of a part regeneration, only the rendered parts count (the cost is theirs).
  const total = c.segmentsTotal === null ? null : Math.max(0, c.segmentsTotal - inherited.size) || null;
  const charsOf = (i: number): number | undefined => c.segmentChars?.[i] ?? s.segments[i]?.chars;
  let credits: number;
  if (c.init.kind === "generate" && parts.every((i) => charsOf(i) !== undefined)) {
    const chars = parts.reduce((n, i) => n + (charsOf(i) ?? 0), 0);
    credits = Math.ceil(chars / CHARACTERS_PER_CREDIT);
  } else if (total) {
    // Rounded down: a share of a credit for audio not (wholly) received is not charged.
    credits = Math.floor((c.init.cost * Math.min(parts.length, total)) / total);
  } else {
    return null;
  }
  credits = Math.min(c.init.cost, credits);
  if (credits <= 0) return null;
  return { credits, of: c.init.cost, parts_delivered: parts.length, parts_total: total };
}

/**
 * An interruption the engine may recover from: a retryable failure of a generation that is running,
 * with resumes left, re-dispatches the same task from its first unfinished part (ADR 0023) instead
 * of failing it whole. Nothing is settled: the reservation stays, and the one settle comes at the end.
 */
export function canResume(c: Core, error: EngineError): boolean {
  return (
    c.init.kind === "generate" &&
    error.retryable &&
    !NOT_RESUMED.includes(error.code) &&
    c.status === "running" &&
    !c.resuming &&
    (c.resumes ?? 0) < MAX_RESUMES
  );
}

/** Retryable failures a resume would only repeat: the engine already rendered a runaway part again with another seed. */
const NOT_RESUMED: readonly string[] = ["runaway_generation"];

function failOrResume(b: Builder, error: EngineError, now: number, fromOutside: boolean) {
  const c = b.core;
  if (!canResume(c, error)) return finish(b, "failed", error, now, fromOutside);
  const attempt = (c.resumes ?? 0) + 1;
  const previousCallId = c.callId;
  c.resumes = attempt;
  c.resuming = { attempt, since: now };
  c.callId = null;
  c.stage = "resuming";
  b.touch(now);
  b.broadcast({ type: "progress", seq: b.nextSeq(), progress: c.progress, stage: "resuming" });
  // The interrupted attempt's socket (if any) is told to stop; its work so far stays.
  b.effects.push({ t: "engine_cancel", state: "failed" });
  b.effects.push({ t: "alarm", at: now + c.init.startTimeoutMs });
  b.effects.push({ t: "resume", attempt, previousCallId });
}

/** The first part that is not durable yet, where it starts in the live stream, and the next `seq` (ADR 0023). */
export function resumePoint(s: Pick<TrackerState, "core" | "artifacts" | "frame">, attempt: number): ResumeFrom {
  let segment = 0;
  while (s.artifacts[artifactId("segment", segment)]) segment += 1;
  const f = s.frame;
  let streamOffset: number | undefined;
  if (f.last < 0) streamOffset = 0;
  else if (f.segment === segment && f.segmentStart !== undefined) streamOffset = f.segmentStart; // part `segment` was streamed in part: again from its start
  else if (f.segment !== undefined && f.segment < segment && f.end !== undefined) streamOffset = f.end;
  return { attempt, segment, next_seq: s.core.engineSeq + 1, ...(streamOffset !== undefined ? { stream_offset: streamOffset } : {}) };
}

function finish(b: Builder, status: TerminalState, error: EngineError | null, now: number, fromOutside: boolean) {
  const c = b.core;
  c.status = status;
  c.error = error;
  b.touch(now);
  const seq = b.nextSeq();
  if (status === "succeeded" && c.result) {
    const { key: _key, ...result } = c.result;
    b.broadcast({ type: "completed", seq, result });
  } else {
    c.charge = chargeFor({ core: c, segments: b.segments, delivered: b.delivered });
    const charge = c.charge ? { charge: c.charge } : {};
    if (status === "failed" && error) b.broadcast({ type: "failed", seq, error, ...charge });
    else if (status === "cancelled") b.broadcast({ type: "cancelled", seq, ...charge });
  }
  if (fromOutside && status !== "succeeded") b.effects.push({ t: "engine_cancel", state: status });
  b.effects.push({ t: "settle" });
}

/** The task as listeners and the API see it. */
export function taskView(s: TrackerState): TaskView {
  const c = s.core;
  let result: TaskResult | null = null;
  if (c.result) {
    const { key: _key, ...rest } = c.result;
    result = rest;
  }
  return {
    id: c.init.id,
    kind: c.init.kind,
    status: c.status,
    progress: c.progress,
    stage: c.stage,
    segments_total: c.segmentsTotal,
    generation_id: c.init.generationId,
    voice_id: c.init.voiceId,
    cost: c.init.cost,
    error: c.error,
    result,
    charge: c.charge,
    created_at: new Date(c.init.createdAt).toISOString(),
    updated_at: new Date(c.updatedAt).toISOString(),
  };
}

export function segmentList(s: TrackerState): SegmentView[] {
  return Object.values(s.segments)
    .sort((a, b) => a.index - b.index)
    .map(({ index, url, duration_ms }) => ({ index, url, duration_ms }));
}

/** Announced artifacts: segments once announced, other kinds once stored (final only once succeeded). */
export function announcedArtifacts(s: TrackerState): StoredArtifact[] {
  return Object.values(s.artifacts)
    .filter((a) => (a.kind === "segment" ? a.index !== null && !!s.segments[a.index] : a.kind !== "final" || s.core.status === "succeeded"))
    .sort((a, b) => (a.kind === b.kind ? (a.index ?? 0) - (b.index ?? 0) : a.kind < b.kind ? -1 : 1));
}
