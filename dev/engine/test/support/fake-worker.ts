import { once } from "node:events";
import { readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { EngineEvent, TERMINAL_STATES, type SubmitRequest, type TaskState } from "../../../../worker/engine/protocol.ts";
import { Alignment } from "../../../../worker/engine/alignment.ts";
import type { Clock } from "../../clock.ts";
import { CLOSE, decodeFrame, MultipartComplete, type FrameHeader, type JobSubmit } from "../../v2-wire.ts";
import { decodeWav, type DecodedWav } from "../../wav-codec.ts";
import { Peaks } from "../../../../worker/engine/peaks.ts";
import { acceptWebSocket, type ServerSocket } from "./ws-server.ts";

/** A frame as the fake Worker received it: its header and a copy of its PCM s16le. */
export type ReceivedFrame = FrameHeader & { pcm: Uint8Array };

/**
 * A stand-in for the Worker's engine side on a real local HTTP server.
 *
 * v1: it checks the job token, validates every event with the protocol's zod
 * schema, records every event and upload in arrival order (the shape of the
 * shared `sequences/*.json` fixtures), and answers with EventAck/UploadAck.
 *
 * v2 (ADR 0009), as the task's Durable Object would: a WebSocket at
 * `/internal/engine/jobs/:id/stream` (bearer or `?token=`) that greets with
 * `hello`, answers each event with an `ack` by seq, checks every binary frame
 * (header, size, frame numbers without gaps) and closes with the ADR's codes
 * when one is wrong; and the artifact routes (`PUT …/artifacts/{kind}[/{n}]`,
 * multipart `…/uploads`) with the registry's content types and limits, read
 * from the shared fixture. v2 uploads are recorded in `steps` under their v1
 * names (`segments/0`, `final`, `final.mp3`) so the same order rules apply.
 * Protocol breaches are collected in `violations` for the tests to assert on.
 */
export type Step = { op: "event"; value: EngineEvent } | { op: "upload"; path: string };
export type Reference = { status: number; body: Uint8Array; contentType: string };
/** Everything the fake saw, v2 frames included, in arrival order. */
export type TimelineEntry =
  | { op: "event"; seq: number; type: string; at: number }
  | { op: "frame"; frame: number; segment: number; at: number }
  | { op: "upload"; path: string; at: number }
  | { op: "connect" | "close"; connection: number; at: number; code?: number };
/** One engine socket: what arrived on it and what was acknowledged. */
export type Connection = {
  received: number[];
  acked: number[];
  frames: number[];
  closeCode: number | null;
  ws: ServerSocket;
  /** A newer engine socket took over (as in the DO): what still arrives on this one is ignored. */
  superseded?: boolean;
};
export type Arrival =
  { kind: "event"; event: EngineEvent; connection: number } | { kind: "frame"; frame: ReceivedFrame; connection: number };

export type FakeWorkerOptions = {
  /** State reported in each EventAck; default: running until the terminal event. */
  ackState?: (event: EngineEvent, steps: readonly Step[]) => TaskState;
  /** Override the status of an upload or event (e.g. 503 to test retries, 409 for a terminal job). */
  respond?: (kind: "event" | "upload", path: string, attempt: number) => number | undefined;
  reference?: Reference;
  /** The job token callbacks must carry (default JOB_TOKEN). */
  token?: string;
  /** Timestamps and default deadlines (default: the system clock). */
  clock?: Pick<Clock, "now">;
  /** v2: drop the engine socket (no close frame) on this arrival, before acknowledging it. */
  dropOn?: (arrival: Arrival) => boolean;
  /** v2: end the task from outside on this arrival (StreamCancel, then close 4009). */
  cancelOn?: (arrival: Arrival) => boolean;
  /** v2: refuse the socket upgrade this many times (HTTP 503) before accepting. */
  refuseConnections?: number;
  /** v2: close the socket with 4400 on every frame (a DO that keeps refusing). */
  refuseFrames?: boolean;
  /** v2: part size the multipart start answers (default the registry's). */
  partSize?: number;
  /** Answer GET on stored artifacts (a resumed attempt reads its finished parts back, ADR 0023); default true. */
  serveArtifacts?: boolean;
};

export const JOB_TOKEN = "job-token-for-tests-0123456789";

type KindRule = {
  content_types: string[];
  indexed: boolean;
  max_index?: number;
  max_bytes: number;
  after_completed: boolean;
  content_schema?: string;
};
const REGISTRY = JSON.parse(
  readFileSync(new URL("../../../../test/fixtures/engine-protocol/v2/artifact-kinds.json", import.meta.url), "utf8"),
) as { part_size: number; max_single_bytes: number; kinds: Record<string, KindRule> };
const V1_NAME: Record<string, (index: number | null) => string> = {
  segment: (i) => `segments/${i}`,
  final: () => "final",
  final_mp3: () => "final.mp3",
  alignment: () => "alignment.json",
  peaks: () => "peaks",
};

export async function startFakeWorker(options: FakeWorkerOptions = {}) {
  const now = () => (options.clock ?? Date).now();
  const token = options.token ?? JOB_TOKEN;
  const steps: Step[] = [];
  const timeline: TimelineEntry[] = [];
  const uploads = new Map<string, Uint8Array>();
  /** Artifacts read back (GET), in order. */
  const reads: string[] = [];
  const violations: string[] = [];
  const attempts = new Map<string, number>();
  const referenceRequests: string[] = [];
  const connections: Connection[] = [];
  const frames: ReceivedFrame[] = [];
  const multipart: { path: string; parts: number[] }[] = [];
  const openUploads = new Map<string, { path: string; kind: string; index: number | null; parts: Map<number, Uint8Array> }>();
  let lastSeq = -1;
  let lastFrame = -1;
  let terminalSeen = false;
  let cancelledFromOutside: TaskState | null = null;
  let refusals = 0;
  let uploadIds = 0;

  const listeners = new Set<() => void>();
  const changed = () => {
    for (const l of listeners) l();
  };
  const record = (step: Step) => {
    steps.push(step);
    changed();
  };

  const currentState = (): TaskState =>
    cancelledFromOutside ??
    (terminalSeen ? (steps.some((s) => s.op === "event" && s.value.type === "completed") ? "succeeded" : "failed") : "running");

  /** One event, from HTTP or the socket: dedupe by seq, check order rules, answer with the ack's fields. */
  const receiveEvent = (event: EngineEvent): { accepted: boolean; state: TaskState } => {
    timeline.push({ op: "event", seq: event.seq, type: event.type, at: now() });
    if (cancelledFromOutside) return { accepted: false, state: cancelledFromOutside };
    if (terminalSeen && event.seq > lastSeq) violations.push(`event after the terminal one: ${event.type} seq ${event.seq}`);
    const accepted = event.seq > lastSeq;
    if (accepted) {
      if (event.seq !== lastSeq + 1) violations.push(`seq gap: ${lastSeq} → ${event.seq}`);
      lastSeq = event.seq;
      if (event.type === "segment" && !uploads.has(`segments/${event.index}`))
        violations.push(`segment ${event.index} announced before its upload`);
      if (event.type === "completed" && !uploads.has("final")) violations.push("completed before the final upload");
      if (event.type === "completed" || event.type === "failed") terminalSeen = true;
      record({ op: "event", value: event });
    }
    const state =
      options.ackState?.(event, steps) ?? (event.type === "completed" ? "succeeded" : event.type === "failed" ? "failed" : "running");
    return { accepted, state };
  };

  const storeUpload = (path: string, contentType: string | undefined, body: Uint8Array) => {
    if (path === "alignment.json") {
      if (contentType !== "application/json") violations.push(`${path} uploaded as ${contentType}`);
    } else if (path === "peaks") {
      // Checked as the Worker checks it before storing (ADR 0023).
      if (contentType !== "application/json") violations.push(`peaks uploaded as ${contentType}`);
      const parsed = Peaks.safeParse(JSON.parse(new TextDecoder().decode(body)));
      if (!parsed.success) violations.push(`peaks do not match the schema: ${parsed.error.message}`);
    } else if (path !== "final.mp3") {
      if (contentType !== "audio/wav") violations.push(`${path} uploaded as ${contentType}`);
      try {
        decodeWav(body);
      } catch (err) {
        violations.push(`${path} is not a readable WAV: ${String(err)}`);
      }
    } else if (contentType !== "audio/mpeg") violations.push(`final.mp3 uploaded as ${contentType}`);
    uploads.set(path, body);
    timeline.push({ op: "upload", path, at: now() });
    record({ op: "upload", path });
  };

  const server = createServer(async (req, res) => {
    const body = await readBody(req);
    const url = new URL(req.url ?? "/", "http://worker");
    const match = /^\/internal\/engine\/jobs\/([^/]+)\/(events|reference|segments\/\d+|final|final\.mp3|artifacts\/.+)$/.exec(url.pathname);
    if (!match) return json(res, 404, { error: { code: "not_found", message: url.pathname } });
    const [, , route = ""] = match;
    if (req.headers.authorization !== `Bearer ${token}`) {
      violations.push(`${req.method} ${route} without the job token`);
      return json(res, 401, { error: { code: "unauthorized", message: "bad job token" } });
    }
    const key = `${req.method} ${route}`;
    const attempt = (attempts.get(key) ?? 0) + 1;
    attempts.set(key, attempt);

    if (route === "reference" && req.method === "GET") {
      referenceRequests.push(url.pathname);
      const ref = options.reference ?? { status: 404, body: new Uint8Array(), contentType: "text/plain" };
      res.writeHead(ref.status, { "content-type": ref.contentType });
      return res.end(ref.body);
    }

    if (route === "events" && req.method === "POST") {
      const override = options.respond?.("event", route, attempt);
      if (override) return json(res, override, { error: { code: "test_override", message: `status ${override}` } });
      const parsed = EngineEvent.safeParse(safeJson(body));
      if (!parsed.success) {
        violations.push(`invalid event: ${parsed.error.message}`);
        return json(res, 400, { error: { code: "invalid_request", message: parsed.error.message } });
      }
      return json(res, 200, receiveEvent(parsed.data));
    }

    if ((route.startsWith("segments/") || route === "final" || route === "final.mp3") && req.method === "PUT") {
      const override = options.respond?.("upload", route, attempt);
      if (override) return json(res, override, { error: { code: "test_override", message: `status ${override}` } });
      storeUpload(route, req.headers["content-type"], body);
      return json(res, 201, { size_bytes: body.length });
    }

    if (route.startsWith("artifacts/")) return artifactRoute(req, res, route.slice("artifacts/".length), body, attempt);
    return json(res, 405, { error: { code: "method_not_allowed", message: key } });
  });

  /** `{kind}[/{index}]`, then optionally `/uploads[/{id}/(parts/{n}|complete)]`. */
  function artifactRoute(req: IncomingMessage, res: ServerResponse, rest: string, body: Uint8Array, attempt: number) {
    const m = /^([a-z][a-z0-9_]*)(?:\/(\d+))?(\/uploads(?:\/([^/]+)\/(?:parts\/(\d+)|(complete)))?)?$/.exec(rest);
    if (!m) return json(res, 404, { error: { code: "not_found", message: rest } });
    const [, kind = "", indexText, uploadsPart, uploadId, partText, complete] = m;
    const rule = REGISTRY.kinds[kind];
    if (!rule) return json(res, 400, { error: { code: "unknown_artifact_kind", message: `no artifact kind "${kind}"` } });
    const index = indexText === undefined ? null : Number(indexText);
    if (rule.indexed !== (index !== null)) {
      return json(res, 400, { error: { code: "invalid_artifact_index", message: `${kind} ${rule.indexed ? "needs" : "takes no"} index` } });
    }
    const path = V1_NAME[kind]!(index);
    const override = options.respond?.("upload", path, attempt);
    if (override) return json(res, override, { error: { code: "test_override", message: `status ${override}` } });
    if (terminalSeen && !rule.after_completed) return json(res, 409, { error: { code: "task_terminal", message: "the task is over" } });
    const ack = (size: number) => json(res, 201, { kind, index, size_bytes: size });
    const contentType = req.headers["content-type"] ?? "";

    if (!uploadsPart && req.method === "GET") {
      // A resumed attempt reads a finished part back with its job token (ADR 0023).
      const stored = uploads.get(path);
      reads.push(path);
      if (!stored || options.serveArtifacts === false) return json(res, 404, { error: { code: "not_found", message: `no ${path}` } });
      res.writeHead(200, { "content-type": rule.content_types[0]!, "content-length": String(stored.length) });
      res.end(stored);
      return;
    }
    if (!uploadsPart) {
      if (req.method !== "PUT") return json(res, 405, { error: { code: "method_not_allowed", message: "use PUT" } });
      if (!rule.content_types.includes(contentType))
        return json(res, 415, { error: { code: "unsupported_content_type", message: contentType } });
      if (body.length > REGISTRY.max_single_bytes) {
        violations.push(`${path}: a single body of ${body.length} bytes`);
        return json(res, 413, { error: { code: "too_large", message: `over ${REGISTRY.max_single_bytes}; use uploads` } });
      }
      if (rule.content_schema === "alignment") {
        // As the Worker: a JSON kind is parsed with its schema before it is stored.
        const parsed = Alignment.safeParse(safeJson(body));
        if (!parsed.success) {
          violations.push(`${path}: a malformed alignment (${parsed.error.issues[0]?.path.join(".")}: ${parsed.error.issues[0]?.message})`);
          return json(res, 400, { error: { code: "invalid_artifact_content", message: parsed.error.message } });
        }
      }
      storeUpload(path, contentType, body);
      return ack(body.length);
    }
    if (!uploadId) {
      if (req.method !== "POST") return json(res, 405, { error: { code: "method_not_allowed", message: "use POST" } });
      // As the Worker: the start names the artifact's content type, checked like a single PUT's (ADR 0009 amendment).
      if (!rule.content_types.includes(contentType))
        return json(res, 415, { error: { code: "unsupported_content_type", message: contentType } });
      const id = `upload_${++uploadIds}`;
      openUploads.set(id, { path, kind, index, parts: new Map() });
      return json(res, 201, { upload_id: id, part_size: options.partSize ?? REGISTRY.part_size });
    }
    const open = openUploads.get(uploadId);
    if (!open || open.path !== path) return json(res, 404, { error: { code: "not_found", message: `no upload ${uploadId}` } });
    if (partText) {
      if (req.method !== "PUT") return json(res, 405, { error: { code: "method_not_allowed", message: "use PUT" } });
      open.parts.set(Number(partText), body);
      return json(res, 200, { part_number: Number(partText), etag: etagOf(uploadId, Number(partText), body) });
    }
    if (complete && req.method === "POST") {
      const parsed = MultipartComplete.safeParse(safeJson(body));
      if (!parsed.success) return json(res, 400, { error: { code: "invalid_request", message: parsed.error.message } });
      const partSize = options.partSize ?? REGISTRY.part_size;
      const numbers = parsed.data.parts.map((p) => p.part_number);
      const chunks: Uint8Array[] = [];
      for (const [i, p] of parsed.data.parts.entries()) {
        const part = open.parts.get(p.part_number);
        if (p.part_number !== i + 1 || !part || etagOf(uploadId, p.part_number, part) !== p.etag) {
          return json(res, 400, {
            error: { code: "invalid_parts", message: `part ${p.part_number} is missing, out of order or has the wrong etag` },
          });
        }
        if (i < parsed.data.parts.length - 1 && part.length !== partSize) {
          return json(res, 400, {
            error: { code: "invalid_parts", message: `part ${p.part_number} is ${part.length} bytes, not ${partSize}` },
          });
        }
        chunks.push(part);
      }
      const whole = new Uint8Array(Buffer.concat(chunks));
      if (whole.length > rule.max_bytes) return json(res, 413, { error: { code: "too_large", message: `over ${rule.max_bytes}` } });
      openUploads.delete(uploadId);
      multipart.push({ path, parts: numbers });
      storeUpload(path, rule.content_types[0], whole);
      return ack(whole.length);
    }
    return json(res, 405, { error: { code: "method_not_allowed", message: rest } });
  }

  server.on("upgrade", (req, socket, head) => {
    const url = new URL(req.url ?? "/", "http://worker");
    if (!/^\/internal\/engine\/jobs\/[^/]+\/stream$/.exec(url.pathname)) {
      socket.end("HTTP/1.1 404 Not Found\r\nconnection: close\r\n\r\n");
      return;
    }
    if (refusals < (options.refuseConnections ?? 0)) {
      refusals++;
      socket.end("HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\n\r\n");
      return;
    }
    const presented = req.headers.authorization === `Bearer ${token}` || url.searchParams.get("token") === token;
    const number = connections.length;
    acceptWebSocket(req, socket, head, (ws) => {
      const conn: Connection = { received: [], acked: [], frames: [], closeCode: null, ws };
      connections.push(conn);
      timeline.push({ op: "connect", connection: number, at: now() });
      const endTask = (state: TaskState) => {
        cancelledFromOutside = state;
        ws.sendText(JSON.stringify({ type: "cancel", state }));
        ws.close(CLOSE.taskEnded, "task ended");
      };
      const refuse = (code: number, why: string) => {
        violations.push(`socket closed ${code}: ${why}`);
        ws.close(code, why);
      };
      return {
        onText(text) {
          if (conn.superseded) return;
          const parsed = EngineEvent.safeParse(safeJson(new TextEncoder().encode(text)));
          if (!parsed.success) return refuse(CLOSE.malformed, `invalid event: ${parsed.error.message}`);
          const event = parsed.data;
          conn.received.push(event.seq);
          const arrival: Arrival = { kind: "event", event, connection: number };
          if (options.dropOn?.(arrival)) return ws.drop();
          const { accepted, state } = receiveEvent(event);
          conn.acked.push(event.seq);
          ws.sendText(JSON.stringify({ type: "ack", seq: event.seq, accepted, state }));
          if (options.cancelOn?.(arrival)) endTask("cancelled");
          else if (TERMINAL_STATES.includes(state) && event.type !== "completed" && event.type !== "failed") endTask(state);
          changed();
        },
        onBinary(bytes) {
          if (conn.superseded) return;
          if (options.refuseFrames) return ws.close(CLOSE.malformed, "refused for the test");
          const decoded = decodeFrame(bytes);
          if (!decoded.ok) return refuse(decoded.reason === "too_large" ? CLOSE.tooLarge : CLOSE.malformed, `frame ${decoded.reason}`);
          const frame: ReceivedFrame = { ...decoded.header, pcm: decoded.pcm };
          conn.frames.push(frame.frame);
          if (terminalSeen || cancelledFromOutside) return refuse(CLOSE.outOfOrder, `frame ${frame.frame} after the end`);
          if (frame.frame !== lastFrame + 1) return refuse(CLOSE.outOfOrder, `frame ${frame.frame} after ${lastFrame}`);
          const arrival: Arrival = { kind: "frame", frame, connection: number };
          if (options.dropOn?.(arrival)) return ws.drop();
          lastFrame = frame.frame;
          // Keep a copy: the socket's buffer is reused.
          frames.push({ ...frame, pcm: new Uint8Array(frame.pcm) });
          timeline.push({ op: "frame", frame: frame.frame, segment: frame.segment, at: now() });
          if (options.cancelOn?.(arrival)) endTask("cancelled");
          changed();
        },
        onClose(code) {
          conn.closeCode = code;
          timeline.push({ op: "close", connection: number, at: now(), code });
          changed();
        },
      };
    });
    const conn = connections[number];
    if (!conn) return;
    if (!presented) {
      conn.ws.close(CLOSE.badToken, "bad job token");
      return;
    }
    // One engine socket per task, as in the DO: a newer one supersedes the older ones, whose
    // frames still in flight must not land after the hello below has said where the stream stands.
    for (const old of connections) {
      if (old === conn || old.superseded || old.closeCode !== null) continue;
      old.superseded = true;
      old.ws.close(CLOSE.superseded, "superseded by a newer engine socket");
    }
    conn.ws.sendText(
      JSON.stringify({
        type: "hello",
        acked_seq: lastSeq,
        state: currentState(),
        artifacts: [...uploads.keys()].map(artifactOf),
        last_frame: lastFrame,
      }),
    );
  });

  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    base,
    steps,
    reads,
    timeline,
    uploads,
    violations,
    referenceRequests,
    connections,
    frames,
    multipart,
    events: () => steps.flatMap((s) => (s.op === "event" ? [s.value] : [])),
    types: () => steps.flatMap((s) => (s.op === "event" ? [s.value.type] : [])),
    wav: (path: string): DecodedWav => decodeWav(uploads.get(path) ?? new Uint8Array()),
    /** The Worker resumes the task after a retryable failure (ADR 0023): it is running again, nothing else changes. */
    resumeTask() {
      terminalSeen = false;
    },
    /** Resolves once `condition` holds (checked whenever something arrives): no polling, no sleeps. */
    until(condition: () => boolean): Promise<void> {
      if (condition()) return Promise.resolve();
      return new Promise((resolve) => {
        const check = () => {
          if (!condition()) return;
          listeners.delete(check);
          resolve();
        };
        listeners.add(check);
      });
    },
    /** Points an existing job's callbacks and reference at this server (e.g. a shared fixture's job). */
    retarget(job: SubmitRequest): SubmitRequest {
      const jobBase = `${base}/internal/engine/jobs/${job.job_id}`;
      return {
        ...job,
        ...(job.voice ? { voice: { ...job.voice, reference_url: `${jobBase}/reference` } } : {}),
        callbacks: { ...job.callbacks, events_url: `${jobBase}/events`, upload_url: jobBase },
        deadline: new Date(now() + 10 * 60_000).toISOString(),
      };
    },
    /** A SubmitRequest whose callbacks point at this server. */
    job(overrides: Partial<SubmitRequest> = {}): SubmitRequest {
      const jobId = overrides.job_id ?? "job_test";
      const jobBase = `${base}/internal/engine/jobs/${jobId}`;
      return {
        protocol: 1,
        job_id: jobId,
        kind: "generate",
        text: "Hello there. This is a short test of the development engine.",
        language: "en",
        voice: { voice_id: "voice_1", reference_url: `${jobBase}/reference` },
        output: { format: "wav", sample_rate: 24000 },
        callbacks: { events_url: `${jobBase}/events`, upload_url: jobBase, token: JOB_TOKEN },
        deadline: new Date(now() + 10 * 60_000).toISOString(),
        ...overrides,
      };
    },
    /** The same job as a protocol 2 submit, with its socket URL. */
    jobV2(overrides: Partial<SubmitRequest> = {}): JobSubmit {
      const job = this.job(overrides);
      return { ...job, stream_url: `${base.replace(/^http/, "ws")}/internal/engine/jobs/${job.job_id}/stream` };
    },
    /** Wire form of a v2 submit (what the Worker POSTs to the engine). */
    submitBodyV2(overrides: Partial<SubmitRequest> = {}): Record<string, unknown> {
      const { stream_url, ...job } = this.jobV2(overrides);
      return { ...job, protocol: 2, callbacks: { ...job.callbacks, stream_url } };
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of connections) c.ws.drop();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
export type FakeWorker = Awaited<ReturnType<typeof startFakeWorker>>;

function artifactOf(path: string): { kind: string; index: number | null } {
  const segment = /^segments\/(\d+)$/.exec(path);
  if (segment) return { kind: "segment", index: Number(segment[1]) };
  const kind = Object.entries(V1_NAME).find(([, name]) => name(null) === path)?.[0];
  return { kind: kind ?? path, index: null };
}

function etagOf(uploadId: string, part: number, body: Uint8Array): string {
  let h = 2166136261;
  for (let i = 0; i < body.length; i += 97) h = Math.imul(h ^ body[i]!, 16777619);
  return `"${uploadId}-${part}-${body.length}-${(h >>> 0).toString(16)}"`;
}

async function readBody(req: IncomingMessage): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return new Uint8Array(Buffer.concat(chunks));
}

function safeJson(bytes: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return undefined;
  }
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}
