// The bench plays the engine (phase A): a node:http server answering the
// Worker's submit and cancel calls (protocol v1), and a driver that sends a
// job's events and uploads to the Worker's callback routes with its job token,
// stamping when each event left.
import { createServer } from "node:http";
import { performance } from "node:perf_hooks";

export function startStubEngine(token) {
  const jobs = new Map();
  const waiters = new Map();
  const cancels = [];
  const server = createServer(async (req, res) => {
    const reply = (status, body) => res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
    if (req.headers.authorization !== `Bearer ${token}`) return reply(401, { error: { code: "unauthorized", message: "bad token" } });
    let raw = "";
    for await (const chunk of req) raw += chunk;
    if (req.method === "POST" && req.url === "/jobs") {
      const job = JSON.parse(raw);
      if (![1, 2].includes(job.protocol) || !job.job_id || !job.callbacks?.events_url)
        return reply(400, { error: { code: "invalid_request", message: "not a v1 or v2 job" } });
      if (!jobs.has(job.job_id)) {
        job.receivedAt = performance.now();
        jobs.set(job.job_id, job);
        waiters.get(job.job_id)?.(job);
      }
      return reply(202, { call_id: `stub_${job.job_id}` });
    }
    const cancel = /^\/jobs\/([^/]+)\/cancel$/.exec(req.url ?? "");
    if (req.method === "POST" && cancel) {
      cancels.push(cancel[1]);
      return reply(202, { cancelled: true });
    }
    reply(404, { error: { code: "not_found", message: `${req.method} ${req.url}` } });
  });
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () => {
      resolve({
        url: `http://127.0.0.1:${server.address().port}`,
        cancels,
        waitForJob(taskId, timeoutMs = 30_000) {
          if (jobs.has(taskId)) return Promise.resolve(jobs.get(taskId));
          return new Promise((ok, fail) => {
            const t = setTimeout(() => fail(new Error(`the Worker never submitted ${taskId} to the stub engine`)), timeoutMs);
            waiters.set(taskId, (job) => (clearTimeout(t), ok(job)));
          });
        },
        close: () => new Promise((r) => server.close(r)),
      });
    });
  });
}

/** Sends one job's side of the protocol; every event is stamped (`sent`) and its ack timed (`acked`). */
export class JobDriver {
  constructor(job) {
    this.job = job;
    this.seq = 0;
    this.sent = [];
    this.auth = { authorization: `Bearer ${job.callbacks.token}` };
  }

  async event(body) {
    const event = { job_id: this.job.job_id, seq: this.seq++, ...body };
    const sent = performance.now();
    const res = await fetch(this.job.callbacks.events_url, {
      method: "POST",
      headers: { ...this.auth, "content-type": "application/json" },
      body: JSON.stringify(event),
    });
    const ack = await res.json();
    const acked = performance.now();
    if (res.status !== 200 || !ack.accepted)
      throw new Error(`event ${event.seq} (${event.type}) refused: ${res.status} ${JSON.stringify(ack)}`);
    const rec = { ...event, sent, acked };
    this.sent.push(rec);
    return rec;
  }

  async upload(path, bytes) {
    const res = await fetch(`${this.job.callbacks.upload_url}/${path}`, {
      method: "PUT",
      headers: { ...this.auth, "content-type": "audio/wav" },
      body: bytes,
    });
    if (res.status !== 201) throw new Error(`upload ${path} refused: ${res.status} ${await res.text()}`);
    return res.json();
  }
}
