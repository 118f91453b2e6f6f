import { EngineEvent, TERMINAL_STATES, type EventAck } from "../../worker/engine/protocol.ts";
import type { CallbackClient } from "./callback-client.ts";
import type { Clock } from "./clock.ts";
import { createEventSender, type EventBody, type EventSender } from "./event-sender.ts";
import { JobError, JobStopped } from "./job-errors.ts";
import { errorMessage, type Logger } from "./log.ts";
import { CLOSE, encodeFramePcm, StreamServerMessage, type StreamHello } from "./v2-wire.ts";

/**
 * The engine's end of the v2 socket (ADR 0009): one WebSocket to the task's
 * Durable Object carrying the job's events (text, each answered by an `ack`
 * with its seq) and its audio (binary frames, never answered).
 *
 * - Events are pipelined: `send` writes at once and resolves on the ack.
 *   `seq` runs without gaps and, after a `hello`, continues above `acked_seq`.
 * - Every frame sent is kept until the job ends. When the socket drops, it
 *   reconnects with backoff; the new `hello` says which events were
 *   acknowledged and which frame arrived last, and only the rest is resent:
 *   frames first (so a terminal event never precedes audio), then events.
 * - A `cancel` message or close 4009 stops the job as a terminal EventAck
 *   does in v1; 4401/4403 (token refused) stop it too.
 * - When no socket can be had at all, events fall back to v1 HTTP POSTs
 *   (same seqs) and the job has no live path; frames are then dropped.
 */
export type StreamSender = EventSender & {
  /** Queues one frame of `segment` (PCM s16le mono); frame numbers and offsets are assigned here. */
  frame(segment: number, pcm: Uint8Array, lastInSegment: boolean): void;
  /** Resolves with the first `hello` (null when the socket fell back to HTTP). */
  ready(): Promise<StreamHello | null>;
  /** True while frames still have somewhere to go. */
  readonly live: boolean;
  /** Samples sent so far (the next frame's `stream_offset`). */
  readonly streamOffset: number;
  /** A resumed attempt (ADR 0023): its first frame starts here in the stream (before any frame is sent). */
  startAt(streamOffset: number): void;
};

export type ReconnectPolicy = { attempts: number; baseDelayMs: number; maxDelayMs: number };
/** Socket refusals (4400/4409/4413) after which the job stops streaming and sends its events over HTTP. */
const MAX_REFUSALS = 3;
export const DEFAULT_RECONNECT: ReconnectPolicy = { attempts: 6, baseDelayMs: 100, maxDelayMs: 3000 };

type Pending = { event: EngineEvent; body: EventBody; resolve(ack: EventAck | undefined): void; reject(err: unknown): void };
export type WebSocketCtor = new (url: string, init: { headers: Record<string, string> }) => WebSocket;

export function createStreamSender(deps: {
  jobId: string;
  streamUrl: string;
  token: string;
  /** v1 fallback for events when no socket can be had. */
  eventsUrl: string;
  client: CallbackClient;
  clock: Clock;
  log: Logger;
  reconnect?: ReconnectPolicy;
  WebSocket?: WebSocketCtor;
  onStop(reason: string): void;
}): StreamSender {
  const { jobId, log, clock } = deps;
  const policy = deps.reconnect ?? DEFAULT_RECONNECT;
  const Ctor: WebSocketCtor = deps.WebSocket ?? (globalThis.WebSocket as unknown as WebSocketCtor);
  let seq = 0;
  let closed = false;
  let finishing = false;
  let heartbeatWaiting = false;
  let ws: WebSocket | null = null;
  /** The socket whose hello has been handled: only it may carry new messages (earlier ones would be resent). */
  let greeted: WebSocket | null = null;
  let connecting: Promise<void> | null = null;
  let fallback: EventSender | null = null;
  const pending = new Map<number, Pending>();
  /** Every frame of this attempt, by frame number minus `firstFrame`. */
  const frames: Uint8Array[] = [];
  let firstFrame = 0;
  /** Last frame the DO said it has (from the latest hello). */
  let doLastFrame = -1;
  let streamOffset = 0;
  const segmentOffsets = new Map<number, number>();
  let helloSeen: (hello: StreamHello | null) => void = () => {};
  const firstHello = new Promise<StreamHello | null>((resolve) => (helloSeen = resolve));
  const idleWaiters = new Set<() => void>();
  let refusals = 0;

  const settleIdle = () => {
    if (pending.size > 0 || connecting) return;
    for (const w of idleWaiters) w();
    idleWaiters.clear();
  };

  const stopWith = (reason: string, err?: unknown) => {
    if (closed && pending.size === 0) return;
    closed = true;
    deps.onStop(reason);
    helloSeen(null);
    for (const p of pending.values()) {
      if (err) p.reject(err);
      else p.resolve(undefined);
    }
    pending.clear();
    ws?.close(1000, "job stopped");
    settleIdle();
  };

  const write = (data: string | Uint8Array) => {
    if (ws && ws === greeted && ws.readyState === WebSocket.OPEN) ws.send(data);
  };

  function onHello(hello: StreamHello) {
    doLastFrame = hello.last_frame;
    greeted = ws;
    // A restarted attempt continues numbering where the DO stands.
    if (seq <= hello.acked_seq) seq = hello.acked_seq + 1;
    if (frames.length === 0 && firstFrame <= hello.last_frame) firstFrame = hello.last_frame + 1;
    helloSeen(hello);
    for (const [s, p] of pending) {
      if (s <= hello.acked_seq) {
        pending.delete(s);
        p.resolve({ accepted: true, state: hello.state });
      }
    }
    if (TERMINAL_STATES.includes(hello.state)) return stopWith(`the task is already ${hello.state}`);
    // Resend what the DO does not have: frames first, then unacknowledged events in seq order.
    for (let n = Math.max(doLastFrame + 1, firstFrame); n < firstFrame + frames.length; n++) write(frames[n - firstFrame]!);
    for (const p of [...pending.values()].sort((a, b) => a.event.seq - b.event.seq)) write(JSON.stringify(p.event));
    if (pending.size > 0 || frames.length > 0) {
      log.info("stream_resumed", { job_id: jobId, acked_seq: hello.acked_seq, last_frame: hello.last_frame, resent_events: pending.size });
    }
  }

  function onMessage(data: unknown) {
    if (typeof data !== "string") return;
    let value: unknown;
    try {
      value = JSON.parse(data);
    } catch {
      value = undefined;
    }
    const msg = StreamServerMessage.safeParse(value);
    if (!msg.success) {
      log.warn("stream_message_invalid", { job_id: jobId, error: msg.error.message });
      return;
    }
    const m = msg.data;
    if (m.type === "hello") return onHello(m);
    if (m.type === "cancel") return stopWith(`the task is already ${m.state}`);
    const p = pending.get(m.seq);
    if (!p) return;
    pending.delete(m.seq);
    log.info("event_sent", { job_id: jobId, seq: m.seq, type: p.event.type, accepted: m.accepted, state: m.state, via: "socket" });
    const terminalEvent = p.event.type === "completed" || p.event.type === "failed";
    p.resolve({ accepted: m.accepted, state: m.state });
    if (terminalEvent) {
      closed = true;
      ws?.close(1000, "job over");
    } else if (TERMINAL_STATES.includes(m.state)) stopWith(`the task is already ${m.state}`);
    settleIdle();
  }

  /** One try: resolves true once the socket is open and greeted, false when it closed first. */
  function open(): Promise<boolean> {
    return new Promise((resolve) => {
      let greeted = false;
      let socket: WebSocket;
      try {
        socket = new Ctor(deps.streamUrl, { headers: { authorization: `Bearer ${deps.token}` } });
      } catch (err) {
        log.warn("stream_connect_failed", { job_id: jobId, error: errorMessage(err) });
        return resolve(false);
      }
      socket.binaryType = "arraybuffer";
      ws = socket;
      socket.onmessage = (e) => {
        if (!greeted && typeof e.data === "string" && e.data.includes('"hello"')) {
          greeted = true;
          onMessage(e.data);
          return resolve(true);
        }
        onMessage(e.data);
      };
      socket.onerror = () => {};
      socket.onclose = (e) => {
        if (ws === socket) ws = null;
        if (!greeted) resolve(false);
        onClose(e.code);
      };
    });
  }

  function onClose(code: number) {
    if (code === CLOSE.taskEnded) return stopWith("the task ended (the Worker closed the stream)");
    if (code === CLOSE.badToken || code === CLOSE.otherJob) {
      return stopWith(
        `the Worker refused the job token (close ${code})`,
        new JobStopped(`the Worker refused the job token (close ${code})`),
      );
    }
    if (closed || connecting) return;
    if (code === CLOSE.malformed || code === CLOSE.tooLarge || code === CLOSE.outOfOrder) {
      // The DO refused what we sent; the next hello says where it stands. If it keeps refusing,
      // the live path is given up (events continue over HTTP) rather than looping.
      refusals += 1;
      log.warn("stream_refused", { job_id: jobId, code, refusals });
      if (refusals >= MAX_REFUSALS) {
        void fallBack();
        return;
      }
    }
    void connect();
  }

  function connect(): Promise<void> {
    connecting ??= (async () => {
      for (let attempt = 1; attempt <= policy.attempts && !closed; attempt++) {
        if (await open()) {
          connecting = null;
          return;
        }
        if (closed) break;
        const delay = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
        log.warn("stream_reconnect", { job_id: jobId, attempt, delay_ms: delay });
        await clock.sleep(delay);
      }
      connecting = null;
      if (!closed) await fallBack();
    })().finally(() => settleIdle());
    return connecting;
  }

  /** No socket: the remaining events go over v1 HTTP with the seqs they already have. */
  async function fallBack() {
    log.warn("stream_unavailable", { job_id: jobId, fallback: "http events" });
    const waiting = [...pending.values()].sort((a, b) => a.event.seq - b.event.seq);
    pending.clear();
    fallback = createEventSender({
      jobId,
      eventsUrl: deps.eventsUrl,
      client: deps.client,
      log,
      firstSeq: waiting[0]?.event.seq ?? seq,
      onStop: (reason) => {
        closed = true;
        deps.onStop(reason);
      },
    });
    helloSeen(null);
    for (const p of waiting) fallback.send(p.body).then(p.resolve, p.reject);
  }

  let helloReceived = false;
  void firstHello.then(() => (helloReceived = true));

  function send(body: EventBody): Promise<EventAck | undefined> {
    if (closed || finishing) return Promise.resolve(undefined);
    const terminal = body.type === "completed" || body.type === "failed";
    if (terminal) finishing = true;
    // Seqs are assigned only once the first hello has said where the DO stands (a restarted
    // attempt continues above its acked_seq); promise callbacks keep the events in order.
    const delivery = helloReceived ? enqueue(body) : firstHello.then(() => enqueue(body));
    return delivery.catch((err: unknown) => {
      if (terminal) finishing = false;
      throw err instanceof JobStopped || err instanceof JobError
        ? err
        : new JobError("internal", `could not deliver the ${body.type} event: ${errorMessage(err)}`, true, { cause: err });
    });
  }

  function enqueue(body: EventBody): Promise<EventAck | undefined> {
    if (fallback) return fallback.send(body);
    if (closed) return Promise.resolve(undefined);
    const parsed = EngineEvent.safeParse({ job_id: jobId, seq, ...body });
    if (!parsed.success) return Promise.reject(new Error(`refusing to send an invalid ${body.type} event: ${parsed.error.message}`));
    seq++;
    const event = parsed.data;
    const delivery = new Promise<EventAck | undefined>((resolve, reject) => pending.set(event.seq, { event, body, resolve, reject }));
    write(JSON.stringify(event));
    if (!ws && !connecting) void connect();
    return delivery;
  }
  void connect();

  return {
    send,
    frame(segment, pcm, lastInSegment) {
      if (closed || fallback) return;
      const segmentOffset = segmentOffsets.get(segment) ?? 0;
      const bytes = encodeFramePcm(
        { segment, frame: firstFrame + frames.length, segment_offset: segmentOffset, stream_offset: streamOffset, last_in_segment: lastInSegment },
        pcm,
      );
      frames.push(bytes);
      segmentOffsets.set(segment, segmentOffset + pcm.length / 2);
      streamOffset += pcm.length / 2;
      write(bytes);
    },
    ready: () => firstHello,
    get live() {
      return !closed && !fallback;
    },
    get streamOffset() {
      return streamOffset;
    },
    startAt(offset) {
      if (frames.length === 0) streamOffset = offset;
    },
    heartbeat() {
      if (heartbeatWaiting) return;
      heartbeatWaiting = true;
      send({ type: "heartbeat" })
        .catch((err: unknown) => log.warn("heartbeat_failed", { job_id: jobId, error: errorMessage(err) }))
        .finally(() => {
          heartbeatWaiting = false;
        });
    },
    close() {
      if (fallback) fallback.close();
      if (closed) return;
      closed = true;
      helloSeen(null);
      for (const p of pending.values()) p.resolve(undefined);
      pending.clear();
      ws?.close(1000, "job over");
      settleIdle();
    },
    async idle() {
      if (fallback) await fallback.idle();
      if (pending.size === 0 && !connecting) return;
      await new Promise<void>((resolve) => idleWaiters.add(resolve));
      if (fallback) await fallback.idle();
    },
  };
}
