import { exports } from "cloudflare:workers";
import { decodeFrameHeader, encodeFrame, type FrameHeader } from "../../worker/engine/frames";
import { StreamServerMessage, type StreamAck, type StreamHello, type SubmitRequest } from "../../worker/engine/protocol";

type EventBody = { type: string } & Record<string, unknown>;

/** Opens the v2 engine socket as an engine would (bearer job token, or `?token=`). Returns the status when refused. */
export async function openEngineSocket(job: SubmitRequest, opts: { token?: string; viaQuery?: boolean } = {}) {
  const token = opts.token ?? job.callbacks.token;
  const base = job.callbacks.stream_url!.replace(/^ws/, "http");
  const url = opts.viaQuery ? `${base}?token=${encodeURIComponent(token)}` : base;
  const headers = new Headers({ upgrade: "websocket" });
  if (!opts.viaQuery) headers.set("authorization", `Bearer ${token}`);
  const res = await exports.default.fetch(new Request(url, { headers }));
  if (res.status !== 101 || !res.webSocket) return { ok: false as const, status: res.status };
  return { ok: true as const, status: 101, engine: new EngineSocket(job, res.webSocket) };
}

/** The engine's end of the task socket: collects the DO's messages (validated) and how the socket closed. */
export class EngineSocket {
  readonly messages: StreamServerMessage[] = [];
  closed: { code: number; reason: string } | null = null;
  seq = 0;
  frame = 0;
  streamOffset = 0;
  private readonly waiters: (() => void)[] = [];
  constructor(
    readonly job: SubmitRequest,
    readonly socket: WebSocket,
  ) {
    socket.accept();
    socket.addEventListener("message", (e) => {
      this.messages.push(StreamServerMessage.parse(JSON.parse(String(e.data))));
      this.wake();
    });
    socket.addEventListener("close", (e) => {
      this.closed = { code: e.code, reason: e.reason };
      this.wake();
    });
  }
  private wake() {
    for (const w of this.waiters.splice(0)) w();
  }

  async until<T>(check: () => T | undefined | null | false, what: string, timeoutMs = 5000): Promise<T> {
    const started = Date.now();
    for (;;) {
      const hit = check();
      if (hit) return hit;
      if (Date.now() - started > timeoutMs) throw new Error(`engine socket: no ${what}; got ${JSON.stringify(this.messages)} closed ${JSON.stringify(this.closed)}`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 50);
      });
    }
  }

  hello() {
    return this.until(() => this.messages.find((m): m is StreamHello => m.type === "hello"), "hello");
  }

  sendEvent(body: EventBody, opts: { seq?: number; jobId?: string } = {}): number {
    const seq = opts.seq ?? this.seq++;
    this.socket.send(JSON.stringify({ job_id: opts.jobId ?? this.job.job_id, seq, ...body }));
    return seq;
  }

  /** Sends an event and waits for its ack. */
  async event(body: EventBody, opts: { seq?: number } = {}) {
    const seq = this.sendEvent(body, opts);
    return this.until(() => this.messages.find((m): m is StreamAck => m.type === "ack" && m.seq === seq), `ack ${seq}`);
  }

  /** Sends the next frame of `segment` (samples as given) with the job-wide counters. */
  sendFrame(segment: number, segmentOffset: number, samples: Int16Array, last = false): Uint8Array<ArrayBuffer> {
    const bytes = encodeFrame({ segment, frame: this.frame++, segment_offset: segmentOffset, stream_offset: this.streamOffset, last_in_segment: last }, samples);
    this.streamOffset += samples.length;
    this.socket.send(bytes);
    return bytes;
  }

  sendRaw(bytes: Uint8Array<ArrayBuffer>) {
    this.socket.send(bytes);
  }

  waitClosed() {
    return this.until(() => this.closed, "close");
  }

  close() {
    try {
      this.socket.close(1000, "done");
    } catch {
      // already closed
    }
  }
}

/** A deterministic tone chunk for frame `n` (so every frame's bytes differ). */
export function toneSamples(n: number, length = 480): Int16Array {
  const out = new Int16Array(length);
  for (let i = 0; i < length; i++) out[i] = Math.round(Math.sin((i + n * length) / 7) * 8000);
  return out;
}

export function headerOf(bytes: ArrayBuffer | Uint8Array): FrameHeader {
  const d = decodeFrameHeader(bytes);
  if (!d.ok) throw new Error(`bad frame: ${d.reason}`);
  return d.header;
}
