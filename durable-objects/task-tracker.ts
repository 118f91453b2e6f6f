import { DurableObject } from "cloudflare:workers";
import { artifactSpec, checkArtifactAddress, type ArtifactKind } from "../worker/engine/artifacts";
import { decodeFrameHeader, type FrameHeader } from "../worker/engine/frames";
import { EngineEvent, EVENT_MAX_BYTES, type EngineError, type EventAck, type ResumeFrom, type StreamAck, type StreamCancel, type StreamHello } from "../worker/engine/protocol";
import { createEngineRegistry } from "../worker/engine/registry";
import { getConfig } from "../worker/lib/config";
import { createLogger } from "../worker/lib/log";
import type { TaskMessage } from "../worker/tasks/queue-message";
import { CLIENT_REQUEST_SNAPSHOT, CLOSE_CODES, isTerminal, TERMINAL_SQL, type TaskState } from "../worker/tasks/lifecycle";
import type { ServerMessage, TaskSnapshot } from "../worker/tasks/messages";
import { artifactRowStatement, recordTaskStatus, settleTask } from "../worker/tasks/settle";
import {
  announcedArtifacts,
  artifactView,
  checkUpload,
  deliveredSegments,
  initialState,
  KEYS,
  onAlarm,
  onArtifactStored,
  onCancel,
  onDispatched,
  onEvent,
  onFail,
  onFrame,
  onSynced,
  resumePoint,
  segmentList,
  taskView,
  type CancelReply,
  type Effect,
  type Step,
  type StoredArtifact,
  type TrackerInit,
  type TrackerState,
} from "../worker/tasks/tracker-reducer";
import { FanOut, messagesOf, type FanOutItem, type PassMessages } from "./fan-out";
import { LiveStream } from "./live-stream";
import { ReplayBuffer } from "./replay-buffer";

export type { TrackerInit } from "../worker/tasks/tracker-reducer";

export type UploadPermit =
  | { ok: true; key: string; userId: string; kind: ArtifactKind }
  | { ok: false; status: 400 | 404 | 409; code: string; message: string; details?: Record<string, unknown> };

export type CancelOutcome = CancelReply;

/** A listener more than this far behind (bytes queued on its socket, where the runtime reports it) is told to resync (ADR 0009). */
export const LISTENER_MAX_BUFFERED_BYTES = 4 * 1024 * 1024;
/** A listener that acks frames and is this many frames behind is told to resync (ADR 0009: workerd has no bufferedAmount). */
export const LISTENER_MAX_FRAMES_BEHIND = 200;

type Attachment = { role: "engine" } | { role: "listener"; userId: string; skip: number[] };

export interface MultipartRecord {
  kind: ArtifactKind;
  index: number | null;
  key: string;
  /** R2's own id for the upload; engines see only ours. */
  r2UploadId: string;
}

/**
 * One Durable Object per task: the task's live authority while it runs
 * (DESIGN §2). A thin shell over the pure reducer in
 * worker/tasks/tracker-reducer.ts: it turns socket messages, RPCs and alarms
 * into reducer inputs and runs the effects the reducer returns, in order.
 *
 * The hot path (ADR 0009): an engine frame is checked (header only), relayed
 * byte-for-byte to every listener, and only then is anything stored; an
 * engine event is acknowledged on the engine socket before the fan-out,
 * storage or D1 work. Sockets use the hibernation API, tagged `engine` or
 * `listener`; state is reloaded from storage pieces in the constructor and
 * each socket's role survives in its attachment.
 */
export class TaskTracker extends DurableObject<Env> {
  private state: TrackerState | null = null;
  private readonly log = createLogger({ component: "task-tracker" });
  private readonly replay = new ReplayBuffer();
  /** Segments each listener takes from artifacts (its snapshot listed them), rebuilt from attachments after hibernation. */
  private readonly skips = new Map<WebSocket, Set<number>>();
  private readonly streams = new Set<LiveStream>();
  /** The last frame each flow-controlled listener said it received. */
  private readonly listenerAcks = new Map<WebSocket, number>();
  /** What a listener's latest snapshot (and its replay) already covered: queued items up to here are not sent to it again. */
  private readonly covered = new Map<WebSocket, { frame: number; seq: number }>();
  private readonly fanOut = new FanOut((ws, pass) => this.deliver(ws, pass));
  private multiparts = new Map<string, MultipartRecord>();
  /** The last frame's position is relayed but not yet written (it goes with the next write, or after FRAME_POSITION_FLUSH_MS). */
  private framePositionDirty = false;
  private framePositionTimer: ReturnType<typeof setTimeout> | null = null;
  /** The listener sockets, asked of the runtime once and kept until one joins or leaves (not once per frame). */
  private listenerList: WebSocket[] | null = null;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    // Pings are answered by the runtime without waking a hibernated object.
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair("ping", "pong"));
    ctx.blockConcurrencyWhile(async () => {
      this.state = await this.load();
    });
  }

  private async load(): Promise<TrackerState | null> {
    const storage = this.ctx.storage;
    const core = await storage.get<TrackerState["core"]>(KEYS.core);
    if (!core) return null;
    const byPrefix = async <T>(prefix: string) => [...(await storage.list<T>({ prefix })).entries()].map(([k, v]) => [k.slice(prefix.length), v] as const);
    const s: TrackerState = {
      core,
      segments: Object.fromEntries(await byPrefix<TrackerState["segments"][number]>("seg:")),
      artifacts: Object.fromEntries(await byPrefix<StoredArtifact>("art:")),
      held: Object.fromEntries(await byPrefix<TrackerState["held"][number]>("held:")),
      delivered: Object.fromEntries((await byPrefix<true>("dlv:")).map(([k]) => [k, true as const])),
      frame: (await storage.get<TrackerState["frame"]>(KEYS.frame)) ?? { last: -1, at: core.lastEventAt },
    };
    this.multiparts = new Map((await byPrefix<MultipartRecord>("mp:")).map(([k, v]) => [k, v]));
    return s;
  }

  private must(): TrackerState {
    if (!this.state) throw new Error("task tracker not initialised");
    return this.state;
  }

  /** Adopts a reducer step's state and runs its effects in the order given. */
  private async run<R>(step: Step<R>): Promise<R> {
    this.state = step.state;
    await this.apply(step.effects);
    return step.reply;
  }

  /** `unconfirmed`: the writes of a frame (its position), which need not hold back outgoing messages (output gates). */
  private async apply(effects: Effect[], opts: { unconfirmed?: boolean } = {}): Promise<void> {
    const puts: Record<string, unknown> = {};
    const dels = new Set<string>();
    const later: Effect[] = [];
    for (const e of effects) {
      if (e.t === "broadcast") this.broadcast(e.message);
      else if (e.t === "drop_replay") this.replay.drop(e.index);
      else if (e.t === "put") {
        puts[e.key] = e.value;
        dels.delete(e.key);
      } else if (e.t === "delete") {
        delete puts[e.key];
        dels.add(e.key);
      } else later.push(e);
    }
    // The frame position rides along with any other write (a frame's write alone is deferred, see engineFrame).
    if (this.framePositionDirty && this.state && (Object.keys(puts).length || dels.size)) {
      puts[KEYS.frame] = this.state.frame;
      this.framePositionDirty = false;
      this.clearFrameTimer();
    }
    // A lost frame position only makes a reconnecting engine resend a few frames; an event's state waits for its write.
    if (Object.keys(puts).length) await this.ctx.storage.put(puts, { allowUnconfirmed: !!opts.unconfirmed });
    if (dels.size) await this.ctx.storage.delete([...dels]);
    for (const e of later) {
      switch (e.t) {
        case "alarm":
          await this.ctx.storage.setAlarm(e.at);
          break;
        case "record_running": {
          const id = this.must().core.init.id;
          this.ctx.waitUntil(recordTaskStatus(this.env.DB, id, "running", e.at).catch((err) => this.logD1(err)));
          break;
        }
        case "engine_cancel":
          this.cancelEngine(e.state);
          break;
        case "settle":
          await this.sync();
          break;
        case "artifact_row": {
          const c = this.must().core;
          await artifactRowStatement(this.env.DB, c.init.id, c.init.userId, e.artifact, Date.now()).run();
          break;
        }
        case "resume":
          await this.redispatch(e.attempt, e.previousCallId);
          break;
      }
    }
  }

  /**
   * Made from the task's D1 row by whoever reaches the tracker first (ADR 0025): the dispatcher
   * before its submit, or the owner's snapshot, socket or cancel. Idempotent: once made, a second
   * init changes nothing.
   */
  async init(init: TrackerInit): Promise<TaskSnapshot> {
    await this.ensure(init);
    return this.snapshot();
  }

  private async ensure(init: TrackerInit | undefined): Promise<void> {
    if (this.state || !init) return;
    const inherited = init.part && !init.failed ? await this.sourceParts(init) : [];
    if (this.state) return; // made by a concurrent caller while D1 answered
    const s = initialState(init, Date.now(), inherited);
    this.state = s;
    // The inherited parts first (a storage put takes at most 128 keys), the core last: a tracker
    // reloaded after a crash in between has no core and is made again.
    const arts = Object.values(s.artifacts);
    for (let i = 0; i < arts.length; i += 128) {
      await this.ctx.storage.put(Object.fromEntries(arts.slice(i, i + 128).map((a) => [KEYS.artifact(a.kind, a.index), a])));
    }
    await this.ctx.storage.put({ [KEYS.core]: s.core, [KEYS.frame]: s.frame });
    // A task that failed before its tracker existed is settled already: no deadline to watch.
    if (!init.failed) await this.ctx.storage.setAlarm(init.createdAt + init.startTimeoutMs);
  }

  /**
   * A part regeneration's source parts (ADR 0026): the source take's segment rows, same owner. Their
   * R2 keys are shared, not copied: the generation's delete removes them once, with the source.
   */
  private async sourceParts(init: TrackerInit): Promise<StoredArtifact[]> {
    const rows = await this.env.DB.prepare(
      `SELECT idx, r2_key, size_bytes, content_type FROM task_artifacts WHERE task_id = ?1 AND user_id = ?2 AND kind = 'segment' AND idx != ?3 ORDER BY idx`,
    )
      .bind(init.part!.sourceTaskId, init.userId, init.part!.index)
      .all<{ idx: number; r2_key: string; size_bytes: number; content_type: string }>();
    return rows.results.map((r) => ({ kind: "segment", index: r.idx, key: r.r2_key, size_bytes: r.size_bytes, content_type: r.content_type }));
  }

  /** A finished take's parts as this tracker announced them: what a part regeneration is priced and shown from (ADR 0026). */
  async parts(): Promise<{ segments_total: number | null; segment_chars: number[] | null; segments: { index: number; duration_ms: number; chars: number | null }[] } | null> {
    const s = this.state;
    if (!s) return null;
    return {
      segments_total: s.core.segmentsTotal,
      segment_chars: s.core.segmentChars,
      segments: Object.values(s.segments)
        .sort((a, b) => a.index - b.index)
        .map((seg) => ({ index: seg.index, duration_ms: seg.duration_ms, chars: seg.chars ?? null })),
    };
  }

  /** `init`: the task's row, for a tracker the dispatcher has not made yet. */
  async snapshot(init?: TrackerInit): Promise<TaskSnapshot> {
    await this.ensure(init);
    return this.snapshotOf([]);
  }

  private snapshotOf(replay: { n: number }[]): TaskSnapshot {
    const s = this.must();
    return {
      seq: s.core.seq,
      task: taskView(s),
      segments: segmentList(s),
      artifacts: announcedArtifacts(s).map((a) => artifactView(s.core.init.id, a)),
      live: {
        sample_rate: s.core.init.sampleRate ?? 24_000,
        last_frame: s.frame.last,
        replay: replay.length ? { first_frame: replay[0]!.n, frames: replay.length } : null,
      },
    };
  }

  /**
   * A resume (ADR 0023): the task's row goes back to queued (so the dispatcher's guarded claim takes
   * it again), the queue gets the resume message, and the interrupted call is cancelled at the engine
   * (best effort). If any of it fails the resume deadline (the alarm) fails the task, releasing its
   * credits as any failure does.
   */
  private async redispatch(attempt: number, previousCallId: string | null): Promise<void> {
    const id = this.must().core.init.id;
    try {
      const row = await this.env.DB.prepare(
        `UPDATE tasks SET status = 'queued', call_id = NULL, claimed_by = NULL, lease_until = NULL, updated_at = ?2
         WHERE id = ?1 AND status NOT IN ${TERMINAL_SQL} RETURNING engine`,
      )
        .bind(id, Date.now())
        .first<{ engine: string | null }>();
      await this.env.TASKS.send({ task_id: id, resume: { attempt } } satisfies TaskMessage);
      this.log.warn("task.resume", { task_id: id, attempt, previous_call_id: previousCallId });
      if (previousCallId) {
        const engine = createEngineRegistry(getConfig(this.env)).client(row?.engine);
        this.ctx.waitUntil(engine.cancel(previousCallId).catch(() => false));
      }
    } catch (err) {
      this.log.error("task.resume_failed", { task_id: id, attempt, error: String(err) });
    }
  }

  /** Where a resumed attempt starts (the dispatcher asks while building its submit). */
  async resumeFrom(attempt: number): Promise<ResumeFrom> {
    return resumePoint(this.must(), attempt);
  }

  /** The queue consumer reports a successful submit. Returns whether the engine must be told to cancel. */
  async dispatched(callId: string): Promise<{ cancel: boolean }> {
    return this.run(onDispatched(this.must(), callId, Date.now()));
  }

  /** A v1 engine event (HTTP), already authenticated by the callback route. */
  async engineEvent(raw: unknown): Promise<EventAck> {
    return this.run(onEvent(this.must(), EngineEvent.parse(raw), Date.now()));
  }

  /** Asked by the upload routes before bytes go to R2: the registry's rules for this job, and the task's state. */
  async beginArtifact(kind: string, index: number | null): Promise<UploadPermit> {
    const s = this.state;
    if (!s) return { ok: false, status: 404, code: "not_found", message: "Unknown job." };
    const problem = checkArtifactAddress(kind, index, s.core.init.kind);
    if (problem) {
      const status = problem.field === "index" ? 400 : 404;
      return { ok: false, status, code: `invalid_artifact_${problem.field}`, message: problem.message, details: { kind, index } };
    }
    const k = kind as ArtifactKind;
    const check = checkUpload(s, k, index, artifactSpec(k).after_completed);
    if (!check.ok) return check;
    return { ok: true, key: check.key, userId: s.core.init.userId, kind: k };
  }

  /** The bytes are in R2. False when the task ended meanwhile (the route then deletes them). */
  async artifactStored(a: StoredArtifact): Promise<boolean> {
    return (await this.run(onArtifactStored(this.must(), a, Date.now()))).recorded;
  }

  async registerMultipart(uploadId: string, record: MultipartRecord): Promise<void> {
    this.multiparts.set(uploadId, record);
    await this.ctx.storage.put(`mp:${uploadId}`, record);
  }

  /** A multipart upload of this job, if the task still takes it. */
  async multipartFor(uploadId: string): Promise<(MultipartRecord & { ok: true }) | { ok: false; status: 404 | 409; code: string; message: string }> {
    const record = this.multiparts.get(uploadId);
    if (!record) return { ok: false, status: 404, code: "upload_not_found", message: "No such upload for this job." };
    const check = checkUpload(this.must(), record.kind, record.index, artifactSpec(record.kind).after_completed);
    if (!check.ok) return check;
    return { ok: true, ...record };
  }

  async multipartDone(uploadId: string): Promise<void> {
    this.multiparts.delete(uploadId);
    await this.ctx.storage.delete(`mp:${uploadId}`);
  }

  /** A stored artifact of this job, announced or not, while the task runs: what a resumed engine reads back (ADR 0023). */
  async durableArtifact(kind: string, index: number | null): Promise<StoredArtifact | null> {
    const s = this.state;
    if (!s || isTerminal(s.core.status)) return null;
    return Object.values(s.artifacts).find((a) => a.kind === kind && a.index === index) ?? null;
  }

  /** An announced artifact (the serving route asks while the task is live; D1 has them afterwards). */
  async artifactFor(kind: string, index: number | null): Promise<StoredArtifact | null> {
    const s = this.state;
    if (!s) return null;
    return announcedArtifacts(s).find((a) => a.kind === kind && a.index === index) ?? null;
  }

  async cancel(init?: TrackerInit): Promise<CancelOutcome> {
    await this.ensure(init);
    return this.run(onCancel(this.must(), Date.now()));
  }

  /** Fails the task from outside the engine (dead-letter queue, stale-task sweep). */
  async fail(error: EngineError): Promise<{ failed: boolean }> {
    return this.run(onFail(this.must(), error, Date.now()));
  }

  /** The task's state, or null when this tracker has not been made (the dead-letter queue asks; nothing is thrown). */
  async status(): Promise<TaskState | null> {
    return this.state?.core.status ?? null;
  }

  async stats(): Promise<{ ignoredEvents: number; engineSeq: number; synced: boolean; status: TaskState; lastFrame: number; delivered: number[]; listeners: number; replayBytes: number }> {
    const s = this.must();
    return {
      ignoredEvents: s.core.ignoredEvents,
      engineSeq: s.core.engineSeq,
      synced: s.core.synced,
      status: s.core.status,
      lastFrame: s.frame.last,
      delivered: deliveredSegments(s),
      listeners: this.ctx.getWebSockets("listener").length,
      replayBytes: this.replay.bytes,
    };
  }

  /**
   * The cron's safety net: the same checks as the alarm, for a lost alarm or an
   * unsynced terminal write. Answers false when this tracker was never
   * initialised, so the caller settles the task from its D1 row instead.
   */
  async sweep(): Promise<{ initialised: boolean }> {
    if (!this.state) return { initialised: false };
    await this.alarm();
    return { initialised: true };
  }

  override async alarm(): Promise<void> {
    if (!this.state) return;
    await this.run(onAlarm(this.state, Date.now()));
  }

  /**
   * Upgrades and streams, reached only through the Worker's routes, which
   * authenticate first and set the `x-utter-*` headers themselves:
   * `/engine` (job token checked), `/listen` and `/live.{pcm,wav}` (owner checked).
   */
  override async fetch(request: Request): Promise<Response> {
    const path = new URL(request.url).pathname;
    // The owner's routes send the task's row along (x-utter-init), for a tracker not made yet.
    const init = path !== "/engine" ? request.headers.get("x-utter-init") : null;
    if (init) await this.ensure(JSON.parse(init) as TrackerInit);
    const s = this.state;
    if (path === "/engine") {
      if (!s || request.headers.get("x-utter-job") !== s.core.init.id) return new Response("not found", { status: 404 });
      if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") return new Response("expected a WebSocket upgrade", { status: 426 });
      return this.acceptEngine(s);
    }
    const userId = request.headers.get("x-utter-user");
    if (!s || !userId || userId !== s.core.init.userId) return new Response("not found", { status: 404 });
    if (path === "/live.pcm" || path === "/live.wav") return this.liveResponse(s, path.endsWith(".wav") ? "wav" : "pcm");
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") return new Response("expected a WebSocket upgrade", { status: 426 });
    const pair = new WebSocketPair();
    const [client, server] = [pair[0], pair[1]];
    this.ctx.acceptWebSocket(server, ["listener"]);
    this.listenerList = null;
    this.sendSnapshot(server, userId);
    return new Response(null, { status: 101, webSocket: client });
  }

  private acceptEngine(s: TrackerState): Response {
    // One engine socket per task: a reconnect supersedes the old one.
    for (const old of this.ctx.getWebSockets("engine")) this.closeSocket(old, CLOSE_CODES.superseded, "superseded by a newer engine socket");
    const pair = new WebSocketPair();
    const [client, server] = [pair[0], pair[1]];
    this.ctx.acceptWebSocket(server, ["engine"]);
    server.serializeAttachment({ role: "engine" } satisfies Attachment);
    const hello: StreamHello = {
      type: "hello",
      protocol: 2,
      acked_seq: s.core.engineSeq,
      state: s.core.status,
      artifacts: Object.values(s.artifacts).map((a) => ({ kind: a.kind, index: a.index })),
      last_frame: s.frame.last,
      sample_rate: s.core.init.sampleRate ?? 24_000,
    };
    server.send(JSON.stringify(hello));
    if (isTerminal(s.core.status)) this.closeSocket(server, CLOSE_CODES.taskEnded, `task ${s.core.status}`);
    return new Response(null, { status: 101, webSocket: client });
  }

  /** Snapshot, then the replay of held frames, then (from the caller's next turn) the live tail: nothing interleaves. */
  private sendSnapshot(ws: WebSocket, userId: string) {
    const s = this.must();
    const fromArtifacts = new Set(Object.keys(s.segments).map(Number));
    const replay = this.replay.frames((i) => fromArtifacts.has(i));
    ws.serializeAttachment({ role: "listener", userId, skip: [...fromArtifacts] } satisfies Attachment);
    this.skips.set(ws, fromArtifacts);
    this.covered.set(ws, { frame: s.frame.last, seq: s.core.seq });
    ws.send(JSON.stringify({ type: "snapshot", ...this.snapshotOf(replay) } satisfies ServerMessage));
    for (const f of replay) ws.send(f.data);
  }

  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    const role = this.attachment(ws)?.role;
    if (role === "engine") {
      if (typeof message === "string") await this.engineText(ws, message);
      else await this.engineFrame(ws, message);
      return;
    }
    // A listener asks for a snapshot (e.g. after it noticed a gap in seq) or acks the frames it received.
    if (role === "listener" && typeof message === "string" && this.state && message.length < 256) {
      let msg: { type?: unknown; frame?: unknown };
      try {
        msg = JSON.parse(message) as typeof msg;
      } catch {
        return;
      }
      const a = this.attachment(ws);
      if (msg.type === CLIENT_REQUEST_SNAPSHOT && a?.role === "listener") this.sendSnapshot(ws, a.userId);
      else if (msg.type === "ack" && Number.isSafeInteger(msg.frame)) this.listenerAcks.set(ws, Math.max(this.listenerAcks.get(ws) ?? -1, msg.frame as number));
    }
  }

  private async engineText(ws: WebSocket, message: string): Promise<void> {
    if (message.length > EVENT_MAX_BYTES) return this.closeSocket(ws, CLOSE_CODES.tooLarge, `event over ${EVENT_MAX_BYTES} bytes`);
    let raw: unknown;
    try {
      raw = JSON.parse(message);
    } catch {
      return this.closeSocket(ws, CLOSE_CODES.malformed, "not JSON");
    }
    const parsed = EngineEvent.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      return this.closeSocket(ws, CLOSE_CODES.malformed, `bad event: ${issue?.path.join(".") || "body"} ${issue?.message ?? ""}`.slice(0, 120));
    }
    const s = this.must();
    if (parsed.data.job_id !== s.core.init.id) return this.closeSocket(ws, CLOSE_CODES.otherJob, "event for another job");
    const step = onEvent(s, parsed.data, Date.now());
    // The engine hears first; the fan-out, the writes and any settle follow (issue 16, ADR 0009).
    ws.send(JSON.stringify({ type: "ack", seq: parsed.data.seq, ...step.reply } satisfies StreamAck));
    await this.run(step);
  }

  private async engineFrame(ws: WebSocket, data: ArrayBuffer): Promise<void> {
    const decoded = decodeFrameHeader(data);
    if (!decoded.ok) {
      return this.closeSocket(ws, decoded.reason === "too_large" ? CLOSE_CODES.tooLarge : CLOSE_CODES.malformed, `frame refused: ${decoded.reason}`);
    }
    const step = onFrame(this.must(), decoded.header, Date.now());
    if (!step.reply.ok) return this.closeSocket(ws, step.reply.code, step.reply.reason);
    this.state = step.state;
    // Relay before anything is stored.
    this.relay(data, decoded.header);
    this.replay.add(decoded.header, data);
    // A frame that only moves the position is not written on its own: one storage commit per frame
    // (20 a second per task) is billed per row in production and, locally, an fsync on the runtime's
    // only thread, which delays every other socket. It goes with the next write (an event, a
    // segment's end), when the engine's socket closes, or after FRAME_POSITION_FLUSH_MS (a timer, so before the object could hibernate).
    const effects = step.effects.filter((e) => !(e.t === "put" && e.key === KEYS.frame));
    this.framePositionDirty = true;
    if (effects.length) await this.apply(effects, { unconfirmed: true });
    else this.framePositionTimer ??= setTimeout(() => void this.flushFramePosition(), getConfig(this.env).FRAME_POSITION_FLUSH_MS);
  }

  private clearFrameTimer() {
    if (this.framePositionTimer) clearTimeout(this.framePositionTimer);
    this.framePositionTimer = null;
  }

  private async flushFramePosition(): Promise<void> {
    this.clearFrameTimer();
    if (!this.framePositionDirty || !this.state) return;
    this.framePositionDirty = false;
    await this.ctx.storage.put(KEYS.frame, this.state.frame, { allowUnconfirmed: true });
  }

  private relay(data: ArrayBuffer, h: FrameHeader) {
    this.fanOut.push({ data, targets: this.listeners(), frame: h.frame, segment: h.segment, seq: null });
    for (const stream of this.streams) stream.frame(data, h);
  }

  /**
   * One fan-out pass to one listener, with the per-listener rules: covered by its snapshot, taken
   * from artifacts, flow control. Its frames go as one message (a batch when there are several),
   * then its JSON messages as one (an array when there are several), ADR 0027; both in one binary
   * message when it has both (ADR 0031).
   */
  private deliver(ws: WebSocket, pass: readonly FanOutItem[]) {
    const covered = this.covered.get(ws);
    const acked = this.listenerAcks.get(ws);
    // The common case, checked without allocating: the listener takes every item of the pass, so it
    // gets the pass's messages as built once for all (1,000 listeners × 20 frames/s, issue 16).
    let whole = true;
    for (const item of pass) {
      if (item.frame === null) {
        if (covered && item.seq !== null && item.seq <= covered.seq) whole = false;
      } else {
        if (acked !== undefined && item.frame - acked > LISTENER_MAX_FRAMES_BEHIND) return this.resync(ws);
        if ((covered !== undefined && item.frame <= covered.frame) || (item.segment !== null && this.state?.segments[item.segment] !== undefined)) whole = false;
      }
      if (!whole) break;
    }
    if (whole) return this.sendPass(ws, this.wholePass(pass));
    const frames: FanOutItem[] = [];
    const json: FanOutItem[] = [];
    let all = true;
    for (const item of pass) {
      if (item.frame === null) {
        if (covered && item.seq !== null && item.seq <= covered.seq) all = false;
        else json.push(item);
        continue;
      }
      const skip =
        (covered !== undefined && item.frame <= covered.frame) ||
        (item.segment !== null && this.state?.segments[item.segment] !== undefined && this.skipOf(ws).has(item.segment));
      if (skip) {
        all = false;
        continue;
      }
      if (acked !== undefined && item.frame - acked > LISTENER_MAX_FRAMES_BEHIND) return this.resync(ws);
      frames.push(item);
    }
    this.sendPass(ws, all ? this.wholePass(pass) : messagesOf(frames, json));
  }

  private sendPass(ws: WebSocket, messages: PassMessages) {
    if (messages.frames) this.sendListener(ws, messages.frames);
    if (messages.json) this.sendListener(ws, messages.json);
  }

  /** A whole pass's messages, built once for all the listeners that take all of it (ADR 0027). */
  private wholePass(pass: readonly FanOutItem[]): PassMessages {
    let built = this.wholeBytes.get(pass);
    if (!built) {
      built = messagesOf(
        pass.filter((it) => it.frame !== null),
        pass.filter((it) => it.frame === null),
      );
      this.wholeBytes.set(pass, built);
    }
    return built;
  }

  private readonly wholeBytes = new WeakMap<readonly FanOutItem[], PassMessages>();

  private skipOf(ws: WebSocket): Set<number> {
    let skip = this.skips.get(ws);
    if (!skip) {
      const a = this.attachment(ws);
      skip = new Set(a?.role === "listener" ? a.skip : []);
      this.skips.set(ws, skip);
    }
    return skip;
  }

  /** Sends to one listener; one that has fallen too far behind is told to resync and closed (it never slows the engine). */
  private sendListener(ws: WebSocket, data: string | ArrayBuffer) {
    try {
      ws.send(data);
      const queued = (ws as { bufferedAmount?: number }).bufferedAmount;
      if (typeof queued === "number" && queued > LISTENER_MAX_BUFFERED_BYTES) this.resync(ws);
    } catch {
      // a socket closing under us; the client resumes from a snapshot
    }
  }

  private resync(ws: WebSocket) {
    const seq = this.state?.core.seq ?? 0;
    try {
      ws.send(JSON.stringify({ type: "resync", seq, reason: "behind" } satisfies ServerMessage));
    } catch {
      // closing anyway
    }
    this.closeSocket(ws, CLOSE_CODES.behind, "too far behind: reconnect for a snapshot");
    this.skips.delete(ws);
    this.listenerAcks.delete(ws);
    this.covered.delete(ws);
  }

  private broadcast(message: ServerMessage) {
    const data = JSON.stringify(message);
    this.fanOut.push({ data, targets: this.listeners(), frame: null, segment: null, seq: message.seq });
    if (message.type === "segment" || message.type === "completed" || message.type === "failed" || message.type === "cancelled") {
      for (const stream of this.streams) stream.event(message);
    }
  }

  private cancelEngine(state: "cancelled" | "failed") {
    for (const ws of this.ctx.getWebSockets("engine")) {
      try {
        ws.send(JSON.stringify({ type: "cancel", state } satisfies StreamCancel));
      } catch {
        // already gone
      }
      this.closeSocket(ws, CLOSE_CODES.taskEnded, `task ${state}`);
    }
  }

  private closeSocket(ws: WebSocket, code: number, reason: string) {
    try {
      ws.close(code, reason.slice(0, 120));
    } catch {
      // already closed
    }
  }

  private attachment(ws: WebSocket): Attachment | null {
    try {
      return (ws.deserializeAttachment() as Attachment | null) ?? null;
    } catch {
      return null;
    }
  }

  private listeners(): WebSocket[] {
    return (this.listenerList ??= this.ctx.getWebSockets("listener"));
  }

  override async webSocketClose(ws: WebSocket, code: number): Promise<void> {
    this.listenerList = null;
    this.skips.delete(ws);
    this.listenerAcks.delete(ws);
    this.covered.delete(ws);
    if (this.attachment(ws)?.role === "engine") await this.flushFramePosition();
    try {
      ws.close(code === 1005 ? 1000 : code, "closing");
    } catch {
      // already closed
    }
  }

  /** A streaming PCM or WAV body of the task's audio: announced segments from R2, then held and live frames, until the task ends. */
  private liveResponse(s: TrackerState, format: "pcm" | "wav"): Response {
    const fromArtifacts = new Set(Object.keys(s.segments).map(Number));
    const stream = new LiveStream({
      format,
      sampleRate: s.core.init.sampleRate ?? 24_000,
      bucket: this.env.AUDIO,
      artifacts: segmentList(s).map((seg) => s.artifacts[`segment/${seg.index}`]!).filter(Boolean),
      skip: fromArtifacts,
      replay: this.replay.frames((i) => fromArtifacts.has(i)).map((f) => f.data),
      ended: isTerminal(s.core.status),
      artifactFor: (index) => this.state?.artifacts[`segment/${index}`],
      onDone: (st) => this.streams.delete(st),
    });
    this.streams.add(stream);
    return new Response(stream.readable, {
      headers: { "content-type": format === "wav" ? "audio/wav" : `audio/L16;rate=${s.core.init.sampleRate ?? 24_000};channels=1`, "cache-control": "no-store" },
    });
  }

  private async sync(): Promise<void> {
    const s = this.must();
    const c = s.core;
    if (!isTerminal(c.status)) return;
    try {
      // A success keeps every announced artifact; a cancel or failure only what was delivered (issue 15).
      const keep = announcedArtifacts(s).filter((a) => c.status === "succeeded" || a.kind === "segment");
      await settleTask(this.env.DB, {
        taskId: c.init.id,
        userId: c.init.userId,
        kind: c.init.kind,
        cost: c.init.cost,
        generationId: c.init.generationId,
        voiceId: c.init.voiceId,
        status: c.status,
        error: c.error,
        result: c.result ? { duration_ms: c.result.duration_ms, sample_rate: c.result.sample_rate, size_bytes: c.result.size_bytes, key: c.result.key } : null,
        segmentCount: Object.keys(s.segments).length,
        artifacts: keep,
        charge: c.charge,
        at: c.updatedAt,
      });
      await this.run(onSynced(this.must()));
      await this.ctx.storage.deleteAlarm();
    } catch (err) {
      this.logD1(err);
      await this.ctx.storage.setAlarm(Date.now() + 5_000);
    }
  }

  private logD1(err: unknown) {
    this.log.error("task.d1_write_failed", { task_id: this.state?.core.init.id, error: String(err) });
  }
}
