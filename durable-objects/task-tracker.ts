import { DurableObject } from "cloudflare:workers";
import { EngineEvent, TERMINAL_STATES, type EngineError, type EventAck, type TaskState } from "../worker/engine/protocol";
import { createLogger } from "../worker/lib/log";
import { audioKeys, audioUrls } from "../worker/storage/keys";
import type { SegmentView, ServerMessage, TaskResult, TaskSnapshot, TaskView } from "../worker/tasks/messages";
import { recordTaskStatus, settleTask } from "../worker/tasks/settle";

export interface TrackerInit {
  id: string;
  userId: string;
  kind: "generate" | "design_preview";
  cost: number;
  generationId: string | null;
  voiceId: string | null;
  createdAt: number;
  /** Fail with engine_timeout if not running by then (queue backoff included). */
  startTimeoutMs: number;
  /** Fail with engine_timeout after this long without any engine event. */
  heartbeatTimeoutMs: number;
}

interface TrackerState {
  init: TrackerInit;
  status: TaskState;
  progress: number;
  stage: string | null;
  segmentsTotal: number | null;
  /** Last accepted engine `seq` (-1 before the first event). */
  engineSeq: number;
  /** Sequence of messages sent to browsers; a snapshot carries the current one. */
  seq: number;
  segments: SegmentView[];
  uploads: Record<string, number>;
  result: (TaskResult & { key: string; mp3SizeBytes: number | null }) | null;
  error: EngineError | null;
  callId: string | null;
  lastEventAt: number;
  updatedAt: number;
  /** True once the terminal state is in D1 (retried by the alarm until it is). */
  synced: boolean;
  ignoredEvents: number;
}

export type UploadPermit =
  | { ok: true; key: string; userId: string }
  | { ok: false; status: 404 | 409; code: string; message: string };

export type CancelOutcome = { cancelled: true; callId: string | null } | { cancelled: false; status: TaskState };

const STATE_KEY = "state";
const isTerminal = (s: TaskState) => TERMINAL_STATES.includes(s);

/**
 * One Durable Object per task: the task's live authority while it runs
 * (DESIGN §2). It orders engine events by `seq`, keeps the segments heard so
 * far, pushes every change to the owner's WebSockets, enforces start and
 * heartbeat deadlines with alarms, and writes the terminal state to D1 once.
 *
 * Sockets use the hibernation API: the DO may be evicted between events while
 * sockets stay open; state is reloaded from storage in the constructor, and
 * each socket's owner survives in its attachment.
 */
export class TaskTracker extends DurableObject<Env> {
  private state: TrackerState | null = null;
  private readonly log = createLogger({ component: "task-tracker" });

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    // Pings are answered by the runtime without waking a hibernated object.
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair("ping", "pong"));
    ctx.blockConcurrencyWhile(async () => {
      this.state = (await ctx.storage.get<TrackerState>(STATE_KEY)) ?? null;
    });
  }

  private async save(): Promise<void> {
    if (this.state) await this.ctx.storage.put(STATE_KEY, this.state);
  }

  private must(): TrackerState {
    if (!this.state) throw new Error("task tracker not initialised");
    return this.state;
  }

  /** Idempotent: a second init (e.g. a retried request) changes nothing. */
  async init(init: TrackerInit): Promise<TaskSnapshot> {
    if (!this.state) {
      const now = Date.now();
      this.state = {
        init,
        status: "queued",
        progress: 0,
        stage: null,
        segmentsTotal: null,
        engineSeq: -1,
        seq: 0,
        segments: [],
        uploads: {},
        result: null,
        error: null,
        callId: null,
        lastEventAt: now,
        updatedAt: now,
        synced: false,
        ignoredEvents: 0,
      };
      await this.save();
      await this.ctx.storage.setAlarm(init.createdAt + init.startTimeoutMs);
    }
    return this.snapshot();
  }

  async snapshot(): Promise<TaskSnapshot> {
    const s = this.must();
    return { seq: s.seq, task: this.view(s), segments: s.segments };
  }

  /** The queue consumer reports a successful submit. Returns whether the engine must be told to cancel. */
  async dispatched(callId: string): Promise<{ cancel: boolean }> {
    const s = this.must();
    s.callId = callId;
    if (isTerminal(s.status)) {
      await this.save();
      return { cancel: true };
    }
    if (s.status === "queued") {
      s.status = "dispatched";
      this.touch(s);
      this.broadcast({ type: "status", seq: ++s.seq, status: "dispatched" });
    }
    await this.save();
    return { cancel: false };
  }

  /** An engine event, already authenticated by the callback route. */
  async engineEvent(raw: unknown): Promise<EventAck> {
    const s = this.must();
    const event = EngineEvent.parse(raw);
    if (isTerminal(s.status) || event.seq <= s.engineSeq) {
      s.ignoredEvents += 1;
      await this.save();
      return { accepted: false, state: s.status };
    }
    if (event.type === "segment" && s.uploads[`segments/${event.index}`] === undefined) {
      this.log.warn("task.segment_without_upload", { task_id: s.init.id, index: event.index });
      s.ignoredEvents += 1;
      await this.save();
      return { accepted: false, state: s.status };
    }
    s.engineSeq = event.seq;
    s.lastEventAt = Date.now();
    if (s.status === "queued" || s.status === "dispatched") {
      if (event.type !== "failed") {
        s.status = "running";
        this.touch(s);
        this.broadcast({ type: "status", seq: ++s.seq, status: "running" });
        // From now on the deadline is silence, not the start: the alarm re-arms itself from lastEventAt.
        await this.ctx.storage.setAlarm(s.lastEventAt + s.init.heartbeatTimeoutMs);
        this.ctx.waitUntil(recordTaskStatus(this.env.DB, s.init.id, "running", s.updatedAt).catch((e) => this.logD1(e)));
      }
    }
    switch (event.type) {
      case "started":
        s.segmentsTotal = event.segments_total ?? null;
        s.stage = "started";
        this.broadcast({ type: "progress", seq: ++s.seq, progress: s.progress, stage: "started" });
        break;
      case "progress":
        // Progress never goes backwards, whatever order the engine's numbers arrive in.
        s.progress = Math.max(s.progress, event.progress);
        s.stage = event.stage;
        this.broadcast({ type: "progress", seq: ++s.seq, progress: s.progress, stage: s.stage });
        break;
      case "segment": {
        const seg = { index: event.index, url: audioUrls.segment(s.init.id, event.index), duration_ms: event.duration_ms };
        if (!s.segments.some((x) => x.index === event.index)) {
          s.segments.push(seg);
          s.segments.sort((a, b) => a.index - b.index);
          this.broadcast({ type: "segment", seq: ++s.seq, ...seg });
        }
        break;
      }
      case "heartbeat":
        break;
      case "completed": {
        const size = s.uploads["final"];
        if (size === undefined) {
          await this.finish(s, "failed", { code: "upload_missing", message: "The engine reported success without uploading the audio.", retryable: true });
          return { accepted: true, state: s.status };
        }
        const key = s.init.kind === "generate" && s.init.generationId ? audioKeys.generation(s.init.userId, s.init.generationId) : audioKeys.preview(s.init.userId, s.init.id);
        s.result = {
          duration_ms: event.duration_ms,
          sample_rate: event.sample_rate,
          size_bytes: size,
          audio_url: s.init.generationId ? audioUrls.generation(s.init.generationId) : audioUrls.preview(s.init.id),
          generation_id: s.init.generationId,
          formats: s.uploads["final.mp3"] !== undefined ? ["wav", "mp3"] : ["wav"],
          key,
          mp3SizeBytes: s.uploads["final.mp3"] ?? null,
        };
        s.progress = 1;
        await this.finish(s, "succeeded", null);
        return { accepted: true, state: s.status };
      }
      case "failed":
        await this.finish(s, "failed", event.error);
        return { accepted: true, state: s.status };
    }
    this.touch(s);
    await this.save();
    return { accepted: true, state: s.status };
  }

  /** Asked by the upload route before it streams bytes into R2. */
  async beginUpload(path: string): Promise<UploadPermit> {
    const s = this.state;
    if (!s) return { ok: false, status: 404, code: "not_found", message: "Unknown job." };
    // The optional MP3 may also follow `completed` (an engine need not hold completion back for it).
    const lateMp3 = path === "final.mp3" && s.status === "succeeded";
    if (isTerminal(s.status) && !lateMp3) return { ok: false, status: 409, code: "job_finished", message: `This job is already ${s.status}.` };
    const seg = /^segments\/(\d{1,3})$/.exec(path);
    if (seg) return { ok: true, key: audioKeys.segment(s.init.userId, s.init.id, Number(seg[1])), userId: s.init.userId };
    if (path === "final.mp3") {
      if (s.init.kind !== "generate" || !s.init.generationId) return { ok: false, status: 404, code: "not_found", message: "Only generations keep an MP3." };
      return { ok: true, key: audioKeys.generationMp3(s.init.userId, s.init.generationId), userId: s.init.userId };
    }
    if (path === "final") {
      const key = s.init.kind === "generate" && s.init.generationId ? audioKeys.generation(s.init.userId, s.init.generationId) : audioKeys.preview(s.init.userId, s.init.id);
      return { ok: true, key, userId: s.init.userId };
    }
    return { ok: false, status: 404, code: "not_found", message: "Unknown upload path." };
  }

  async uploaded(path: string, sizeBytes: number): Promise<void> {
    const s = this.must();
    s.uploads[path] = sizeBytes;
    if (path === "final.mp3" && s.status === "succeeded" && s.result && s.init.generationId) {
      s.result.mp3SizeBytes = sizeBytes;
      s.result.formats = ["wav", "mp3"];
      await this.env.DB.prepare(`UPDATE generations SET mp3_size_bytes = ?3 WHERE id = ?1 AND user_id = ?2`)
        .bind(s.init.generationId, s.init.userId, sizeBytes)
        .run();
    }
    await this.save();
  }

  async cancel(): Promise<CancelOutcome> {
    const s = this.must();
    if (isTerminal(s.status)) return { cancelled: false, status: s.status };
    await this.finish(s, "cancelled", null);
    return { cancelled: true, callId: s.callId };
  }

  /** Fails the task from outside the engine (dead-letter queue, stale-task sweep). */
  async fail(error: EngineError): Promise<{ failed: boolean }> {
    const s = this.must();
    if (isTerminal(s.status)) return { failed: false };
    await this.finish(s, "failed", error);
    return { failed: true };
  }

  async stats(): Promise<{ ignoredEvents: number; engineSeq: number; synced: boolean; status: TaskState }> {
    const s = this.must();
    return { ignoredEvents: s.ignoredEvents, engineSeq: s.engineSeq, synced: s.synced, status: s.status };
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
    const s = this.state;
    if (!s) return;
    const now = Date.now();
    if (isTerminal(s.status)) {
      if (!s.synced) await this.sync(s);
      return;
    }
    if ((s.status === "queued" || s.status === "dispatched") && now >= s.init.createdAt + s.init.startTimeoutMs) {
      await this.finish(s, "failed", { code: "engine_timeout", message: "The speech engine did not start this job in time. Your credits were returned.", retryable: true });
      return;
    }
    if (s.status === "running" && now >= s.lastEventAt + s.init.heartbeatTimeoutMs) {
      await this.finish(s, "failed", { code: "engine_timeout", message: "The speech engine stopped responding. Your credits were returned.", retryable: true });
      return;
    }
    const next = s.status === "running" ? s.lastEventAt + s.init.heartbeatTimeoutMs : s.init.createdAt + s.init.startTimeoutMs;
    await this.ctx.storage.setAlarm(Math.max(next, now + 1000));
  }

  /** WebSocket upgrade; the Worker route has already checked that the caller owns the task. */
  override async fetch(request: Request): Promise<Response> {
    const s = this.state;
    const userId = request.headers.get("x-utter-user");
    if (!s || !userId || userId !== s.init.userId) return new Response("not found", { status: 404 });
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") return new Response("expected a WebSocket upgrade", { status: 426 });
    const pair = new WebSocketPair();
    const [client, server] = [pair[0], pair[1]];
    this.ctx.acceptWebSocket(server);
    server.serializeAttachment({ userId });
    server.send(JSON.stringify({ type: "snapshot", ...(await this.snapshot()) } satisfies ServerMessage));
    return new Response(null, { status: 101, webSocket: client });
  }

  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    // The only request a client makes: "send me a snapshot" (e.g. after it noticed a gap in seq).
    if (typeof message === "string" && message.includes('"snapshot"') && this.state) {
      ws.send(JSON.stringify({ type: "snapshot", ...(await this.snapshot()) } satisfies ServerMessage));
    }
  }

  override async webSocketClose(ws: WebSocket, code: number): Promise<void> {
    try {
      ws.close(code === 1005 ? 1000 : code, "closing");
    } catch {
      // already closed
    }
  }

  private async finish(s: TrackerState, status: "succeeded" | "failed" | "cancelled", error: EngineError | null): Promise<void> {
    s.status = status;
    s.error = error;
    this.touch(s);
    const seq = ++s.seq;
    if (status === "succeeded" && s.result) {
      const { key: _key, mp3SizeBytes: _mp3, ...result } = s.result;
      this.broadcast({ type: "completed", seq, result });
    } else if (status === "failed" && error) {
      this.broadcast({ type: "failed", seq, error });
    } else if (status === "cancelled") {
      this.broadcast({ type: "cancelled", seq });
    }
    await this.save();
    await this.sync(s);
  }

  private async sync(s: TrackerState): Promise<void> {
    try {
      await settleTask(this.env.DB, {
        taskId: s.init.id,
        userId: s.init.userId,
        kind: s.init.kind,
        cost: s.init.cost,
        generationId: s.init.generationId,
        voiceId: s.init.voiceId,
        status: s.status as "succeeded" | "failed" | "cancelled",
        error: s.error,
        result: s.result
          ? { duration_ms: s.result.duration_ms, sample_rate: s.result.sample_rate, size_bytes: s.result.size_bytes, key: s.result.key, mp3SizeBytes: s.result.mp3SizeBytes ?? null }
          : null,
        segmentCount: s.segments.length,
        at: s.updatedAt,
      });
      s.synced = true;
      await this.save();
      await this.ctx.storage.deleteAlarm();
    } catch (err) {
      this.logD1(err);
      await this.ctx.storage.setAlarm(Date.now() + 5_000);
    }
  }

  private touch(s: TrackerState) {
    s.updatedAt = Date.now();
  }

  private broadcast(message: ServerMessage) {
    const data = JSON.stringify(message);
    for (const ws of this.ctx.getWebSockets()) {
      try {
        ws.send(data);
      } catch {
        // a socket closing under us; the client resumes from a snapshot
      }
    }
  }

  private logD1(err: unknown) {
    this.log.error("task.d1_write_failed", { task_id: this.state?.init.id, error: String(err) });
  }

  private view(s: TrackerState): TaskView {
    const { key: _key, mp3SizeBytes: _mp3, ...result } = s.result ?? { key: "", mp3SizeBytes: null };
    return {
      id: s.init.id,
      kind: s.init.kind,
      status: s.status,
      progress: s.progress,
      stage: s.stage,
      segments_total: s.segmentsTotal,
      generation_id: s.init.generationId,
      voice_id: s.init.voiceId,
      cost: s.init.cost,
      error: s.error,
      result: s.result ? (result as TaskResult) : null,
      created_at: new Date(s.init.createdAt).toISOString(),
      updated_at: new Date(s.updatedAt).toISOString(),
    };
  }
}
