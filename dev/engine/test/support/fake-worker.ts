import { once } from "node:events";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { EngineEvent, type SubmitRequest, type TaskState } from "../../../../worker/engine/protocol.ts";
import { decodeWav, type DecodedWav } from "../../wav-codec.ts";

/**
 * A stand-in for the Worker's engine callbacks on a real local HTTP server:
 * it checks the job token, validates every event with the protocol's zod
 * schema, records every event and upload in arrival order (the shape of the
 * shared `sequences/*.json` fixtures), and answers with EventAck/UploadAck.
 * Protocol breaches are collected in `violations` for the tests to assert on.
 */
export type Step = { op: "event"; value: EngineEvent } | { op: "upload"; path: string };
export type Reference = { status: number; body: Uint8Array; contentType: string };

export type FakeWorkerOptions = {
  /** State reported in each EventAck; default: running until the terminal event. */
  ackState?: (event: EngineEvent, steps: readonly Step[]) => TaskState;
  /** Override the status of an upload or event (e.g. 503 to test retries, 409 for a terminal job). */
  respond?: (kind: "event" | "upload", path: string, attempt: number) => number | undefined;
  reference?: Reference;
  /** The job token callbacks must carry (default JOB_TOKEN). */
  token?: string;
};

export const JOB_TOKEN = "job-token-for-tests-0123456789";

export async function startFakeWorker(options: FakeWorkerOptions = {}) {
  const steps: Step[] = [];
  const uploads = new Map<string, Uint8Array>();
  const violations: string[] = [];
  const attempts = new Map<string, number>();
  const referenceRequests: string[] = [];
  let lastSeq = -1;
  let terminalSeen = false;

  const server = createServer(async (req, res) => {
    const body = await readBody(req);
    const url = new URL(req.url ?? "/", "http://worker");
    const match = /^\/internal\/engine\/jobs\/([^/]+)\/(events|reference|segments\/\d+|final|final\.mp3)$/.exec(url.pathname);
    if (!match) return json(res, 404, { error: { code: "not_found", message: url.pathname } });
    const [, , route = ""] = match;
    if (req.headers.authorization !== `Bearer ${options.token ?? JOB_TOKEN}`) {
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
      const event = parsed.data;
      if (terminalSeen) violations.push(`event after the terminal one: ${event.type} seq ${event.seq}`);
      const accepted = event.seq > lastSeq;
      if (accepted) {
        if (event.seq !== lastSeq + 1) violations.push(`seq gap: ${lastSeq} → ${event.seq}`);
        lastSeq = event.seq;
        steps.push({ op: "event", value: event });
      }
      if (event.type === "segment" && !uploads.has(`segments/${event.index}`))
        violations.push(`segment ${event.index} announced before its upload`);
      if (event.type === "completed" && !uploads.has("final")) violations.push("completed before the final upload");
      if (event.type === "completed" || event.type === "failed") terminalSeen = true;
      const state =
        options.ackState?.(event, steps) ?? (event.type === "completed" ? "succeeded" : event.type === "failed" ? "failed" : "running");
      return json(res, 200, { accepted, state });
    }

    if ((route.startsWith("segments/") || route === "final") && req.method === "PUT") {
      const override = options.respond?.("upload", route, attempt);
      if (override) return json(res, override, { error: { code: "test_override", message: `status ${override}` } });
      if (req.headers["content-type"] !== "audio/wav") violations.push(`${route} uploaded as ${req.headers["content-type"]}`);
      try {
        decodeWav(body);
      } catch (err) {
        violations.push(`${route} is not a readable WAV: ${String(err)}`);
      }
      uploads.set(route, body);
      steps.push({ op: "upload", path: route });
      return json(res, 201, { size_bytes: body.length });
    }
    if (route === "final.mp3" && req.method === "PUT") {
      if (req.headers["content-type"] !== "audio/mpeg") violations.push(`final.mp3 uploaded as ${req.headers["content-type"]}`);
      uploads.set(route, body);
      steps.push({ op: "upload", path: route });
      return json(res, 201, { size_bytes: body.length });
    }
    return json(res, 405, { error: { code: "method_not_allowed", message: key } });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    base,
    steps,
    uploads,
    violations,
    referenceRequests,
    events: () => steps.flatMap((s) => (s.op === "event" ? [s.value] : [])),
    types: () => steps.flatMap((s) => (s.op === "event" ? [s.value.type] : [])),
    wav: (path: string): DecodedWav => decodeWav(uploads.get(path) ?? new Uint8Array()),
    /** Points an existing job's callbacks and reference at this server (e.g. a shared fixture's job). */
    retarget(job: SubmitRequest): SubmitRequest {
      const jobBase = `${base}/internal/engine/jobs/${job.job_id}`;
      return {
        ...job,
        ...(job.voice ? { voice: { ...job.voice, reference_url: `${jobBase}/reference` } } : {}),
        callbacks: { ...job.callbacks, events_url: `${jobBase}/events`, upload_url: jobBase },
        deadline: new Date(Date.now() + 10 * 60_000).toISOString(),
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
        deadline: new Date(Date.now() + 10 * 60_000).toISOString(),
        ...overrides,
      };
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
export type FakeWorker = Awaited<ReturnType<typeof startFakeWorker>>;

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
