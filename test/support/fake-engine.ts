import { exports } from "cloudflare:workers";
import { vi } from "vitest";
import { EventAck, MultipartPart, MultipartStart, SubmitRequest, type EngineEvent } from "../../worker/engine/protocol";
import { makeWav, wavDurationMs } from "./wav";

export const ENGINE_URL = "http://engine.test";
export const ENGINE_TOKEN = "test-engine-token";

type EventBody = { type: EngineEvent["type"] } & Record<string, unknown>;

/**
 * A faithful fake of the engine's side of protocol v1: it answers the
 * Worker's submit and cancel calls (validated with the same zod schemas), and
 * drives jobs by calling the Worker's real callback routes with the job token.
 * Like a real engine it dedupes submits by their `Idempotency-Key` header: a
 * repeated key returns the call it already started (no second job). Any other
 * outbound fetch fails the test.
 *
 * `loseReplies(n)`: the next n submits are accepted (the job starts) but the
 * reply never reaches the Worker, as when a connection drops after the engine
 * answered.
 */
/** What `GET /health` does: answer with this many active jobs (the dev engine's field), or be unreachable. */
export type FakeEngineHealth = { activeJobs: number } | "unreachable";

export function installFakeEngine(opts: { submitStatus?: number } = {}) {
  /** Every submit request, accepted or not. */
  const requests: SubmitRequest[] = [];
  /** The jobs the engine started, one per idempotency key. */
  const jobs: SubmitRequest[] = [];
  const idempotencyKeys: (string | null)[] = [];
  const calls = new Map<string, string>();
  const cancels: string[] = [];
  let submitStatus = opts.submitStatus ?? 202;
  let health: FakeEngineHealth = { activeJobs: 1 };
  let repliesToLose = 0;
  const spy = vi.spyOn(globalThis, "fetch").mockImplementation(async (input: RequestInfo | URL, init?: RequestInit) => {
    const req = new Request(input, init);
    const url = new URL(req.url);
    if (url.origin !== ENGINE_URL) throw new Error(`unexpected outbound fetch: ${req.method} ${req.url}`);
    if (req.headers.get("authorization") !== `Bearer ${ENGINE_TOKEN}`) return Response.json({ error: "unauthorized" }, { status: 401 });
    if (req.method === "POST" && url.pathname === "/jobs") {
      const job = SubmitRequest.parse(await req.json());
      const key = req.headers.get("idempotency-key");
      requests.push(job);
      idempotencyKeys.push(key);
      if (submitStatus !== 202) return new Response("engine down", { status: submitStatus });
      let callId = key ? calls.get(key) : undefined;
      if (!callId) {
        callId = `call_${job.job_id}${jobs.length && jobs.some((j) => j.job_id === job.job_id) ? `_${jobs.length}` : ""}`;
        jobs.push(job);
        if (key) calls.set(key, callId);
      }
      if (repliesToLose > 0) {
        repliesToLose -= 1;
        throw new TypeError("Network connection lost.");
      }
      return Response.json({ call_id: callId }, { status: 202 });
    }
    if (req.method === "GET" && url.pathname === "/health") {
      // A dead engine: the connection is refused, so fetch rejects.
      if (health === "unreachable") throw new TypeError("fetch failed: connection refused");
      return Response.json({ ok: true, engine: "dev", protocol: 1, active_jobs: health.activeJobs });
    }
    const cancel = /^\/jobs\/([^/]+)\/cancel$/.exec(url.pathname);
    if (req.method === "POST" && cancel) {
      cancels.push(decodeURIComponent(cancel[1]!));
      return Response.json({ cancelled: true }, { status: 202 });
    }
    throw new Error(`unexpected engine call: ${req.method} ${req.url}`);
  });
  return {
    requests,
    jobs,
    idempotencyKeys,
    cancels,
    spy,
    setSubmitStatus(status: number) {
      submitStatus = status;
    },
    setHealth(next: FakeEngineHealth) {
      health = next;
    },
    loseReplies(n: number) {
      repliesToLose = n;
    },
    /** Submit requests for the task (a repeat after a lost reply counts). */
    submitsFor(taskId: string) {
      return requests.filter((j) => j.job_id === taskId).length;
    },
    /** Jobs the engine started for the task. */
    jobsFor(taskId: string) {
      return jobs.filter((j) => j.job_id === taskId).length;
    },
    async waitForJob(taskId: string, timeoutMs = 10_000): Promise<JobDriver> {
      const started = Date.now();
      for (;;) {
        const job = jobs.find((j) => j.job_id === taskId);
        if (job) return new JobDriver(job);
        if (Date.now() - started > timeoutMs) throw new Error(`engine never received ${taskId}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
  };
}
export type FakeEngine = ReturnType<typeof installFakeEngine>;

/** Plays the engine's part of one job against the Worker's callback routes. */
export class JobDriver {
  seq = 0;
  readonly segments: Uint8Array<ArrayBuffer>[] = [];
  constructor(readonly job: SubmitRequest) {}

  private request(url: string, init: RequestInit & { token?: string }) {
    const headers = new Headers(init.headers);
    headers.set("authorization", `Bearer ${init.token ?? this.job.callbacks.token}`);
    return exports.default.fetch(new Request(url, { ...init, headers }));
  }

  async event(body: EventBody, opts: { seq?: number; token?: string; jobId?: string } = {}): Promise<Response> {
    const seq = opts.seq ?? this.seq++;
    return this.request(this.job.callbacks.events_url, {
      method: "POST",
      token: opts.token,
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ job_id: opts.jobId ?? this.job.job_id, seq, ...body }),
    });
  }

  async ack(body: EventBody, opts: { seq?: number } = {}) {
    const res = await this.event(body, opts);
    if (res.status !== 200) throw new Error(`event refused: ${res.status} ${await res.text()}`);
    return EventAck.parse(await res.json());
  }

  async upload(path: string, bytes: Uint8Array<ArrayBuffer>, token?: string): Promise<Response> {
    return this.request(`${this.job.callbacks.upload_url}/${path}`, {
      method: "PUT",
      token,
      headers: { "content-type": "audio/wav", "content-length": String(bytes.byteLength) },
      body: bytes,
    });
  }

  /** v2 artifact routes: `…/artifacts/{path}` with the job token. */
  async artifact(path: string, init: { method: "PUT" | "POST"; body?: Uint8Array<ArrayBuffer> | string; contentType?: string | null; token?: string; length?: number }): Promise<Response> {
    const headers = new Headers();
    if (init.contentType !== null) headers.set("content-type", init.contentType ?? "audio/wav");
    if (init.body !== undefined) headers.set("content-length", String(init.length ?? (typeof init.body === "string" ? new TextEncoder().encode(init.body).byteLength : init.body.byteLength)));
    return this.request(`${this.job.callbacks.upload_url}/artifacts/${path}`, { method: init.method, token: init.token, headers, body: init.body });
  }

  /** Uploads `kind[/index]` in parts of `partSize` made by `part(n)` (1-based), one part in memory at a time. */
  async multipart(path: string, parts: number, part: (n: number) => Uint8Array<ArrayBuffer>, contentType = "audio/wav") {
    const start = await this.artifact(`${path}/uploads`, { method: "POST", contentType });
    if (start.status !== 201) throw new Error(`multipart start refused: ${start.status} ${await start.text()}`);
    const { upload_id } = MultipartStart.parse(await start.json());
    const done: { part_number: number; etag: string }[] = [];
    for (let n = 1; n <= parts; n++) {
      const res = await this.artifact(`${path}/uploads/${upload_id}/parts/${n}`, { method: "PUT", body: part(n), contentType: "application/octet-stream" });
      if (res.status !== 200) throw new Error(`part ${n} refused: ${res.status} ${await res.text()}`);
      done.push(MultipartPart.parse(await res.json()));
    }
    const complete = await this.artifact(`${path}/uploads/${upload_id}/complete`, { method: "POST", body: JSON.stringify({ parts: done }), contentType: "application/json" });
    return { uploadId: upload_id, response: complete };
  }

  async fetchReference(token?: string): Promise<Response> {
    if (!this.job.voice) throw new Error("job has no voice");
    return this.request(this.job.voice.reference_url, { method: "GET", token });
  }

  /** Uploads segment `index` (a tone of `ms`), then announces it. */
  async segment(index: number, ms = 400) {
    const wav = makeWav(ms, { sampleRate: this.job.output.sample_rate, freq: 200 + index * 20 });
    this.segments[index] = wav;
    const up = await this.upload(`segments/${index}`, wav);
    if (up.status !== 201) throw new Error(`segment upload refused: ${up.status} ${await up.text()}`);
    return this.ack({ type: "segment", index, duration_ms: Math.round(wavDurationMs(wav)) });
  }

  /** A whole successful job: started, n × (progress, segment), final upload (+ an MP3 when given), completed. */
  async succeed(n = 3, ms = 400, opts: { mp3?: Uint8Array<ArrayBuffer> } = {}) {
    await this.ack({ type: "started", segments_total: n });
    for (let i = 0; i < n; i++) {
      await this.ack({ type: "progress", progress: i / n, stage: "generating" });
      await this.segment(i, ms);
    }
    const final = makeWav(n * ms, { sampleRate: this.job.output.sample_rate });
    const up = await this.upload("final", final);
    if (up.status !== 201) throw new Error(`final upload refused: ${up.status}`);
    if (opts.mp3) {
      const mp3 = await this.upload("final.mp3", opts.mp3);
      if (mp3.status !== 201) throw new Error(`mp3 upload refused: ${mp3.status}`);
    }
    return this.ack({ type: "completed", duration_ms: n * ms, sample_rate: this.job.output.sample_rate, size_bytes: final.byteLength });
  }
}
