// The engine on its own: the bench plays the Worker (a local HTTP server for the
// job's callbacks and reference) and submits straight to the development engine.
// Run in the same bench as Phase B, it is the floor the full pipeline is measured
// against: pipeline − baseline = what the Worker, queue, DO and R2 add.
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { createServer } from "node:http";
import { performance } from "node:perf_hooks";
import { prose } from "./prose.mjs";
import { speechLikeWav } from "./wav.mjs";
import { sleep } from "./procs.mjs";

/** Waits until the engine reports no running job (its MP3 step included), so runs never overlap. */
export async function waitForEngineIdle(engineUrl, { timeoutMs = 120_000 } = {}) {
  const t0 = performance.now();
  for (;;) {
    try {
      const res = await fetch(`${engineUrl}/health`);
      const body = await res.json();
      if (body.active_jobs === 0) return performance.now() - t0;
    } catch {
      // not answering yet
    }
    if (performance.now() - t0 > timeoutMs) throw new Error(`engine still busy after ${timeoutMs} ms`);
    await sleep(25);
  }
}

export async function startCallbackReceiver() {
  const reference = speechLikeWav(12_000);
  const jobs = new Map();
  const server = createServer(async (req, res) => {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const body = Buffer.concat(chunks);
    const m = /^\/internal\/engine\/jobs\/([^/]+)\/(events|reference|segments\/\d+|final|final\.mp3)$/.exec(req.url ?? "");
    const job = m && jobs.get(m[1]);
    if (!m || !job) {
      res.writeHead(404).end();
      return;
    }
    const at = performance.now();
    if (m[2] === "reference") {
      res.writeHead(200, { "content-type": "audio/wav", "content-length": reference.length }).end(reference);
      return;
    }
    if (m[2] === "events") {
      const event = JSON.parse(body.toString("utf8"));
      job.events.push({ at, event });
      if (event.type === "segment" && job.firstSegment === null) job.firstSegment = at;
      const terminal = event.type === "completed" || event.type === "failed";
      if (terminal) job.resolve({ at, event });
      res
        .writeHead(200, { "content-type": "application/json" })
        .end(JSON.stringify({ accepted: true, state: terminal ? (event.type === "completed" ? "succeeded" : "failed") : "running" }));
      return;
    }
    job.uploads.push({ at, path: m[2], bytes: body.length });
    res.writeHead(201, { "content-type": "application/json" }).end(JSON.stringify({ size_bytes: body.length }));
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const base = `http://127.0.0.1:${server.address().port}`;
  return {
    base,
    register(jobId) {
      let resolve;
      const done = new Promise((r) => (resolve = r));
      const job = { events: [], uploads: [], firstSegment: null, done, resolve };
      jobs.set(jobId, job);
      return job;
    },
    close: () => new Promise((r) => server.close(() => r())),
  };
}

/** One job straight to the engine; times are ms from just before the submit. */
export async function runEngineOnly({ engineUrl, engineToken, receiver, chars }) {
  const jobId = `task_bench${randomBytes(8).toString("hex")}`;
  const jobBase = `${receiver.base}/internal/engine/jobs/${jobId}`;
  const job = receiver.register(jobId);
  const submit = {
    protocol: 1,
    job_id: jobId,
    kind: "generate",
    text: prose(chars),
    language: "en",
    voice: { voice_id: "voice_bench", reference_url: `${jobBase}/reference` },
    output: { format: "wav", sample_rate: 24_000 },
    callbacks: { events_url: `${jobBase}/events`, upload_url: jobBase, token: randomBytes(24).toString("hex") },
    deadline: new Date(Date.now() + 3_600_000).toISOString(),
  };
  const t0 = performance.now();
  const res = await fetch(`${engineUrl}/jobs`, {
    method: "POST",
    headers: { authorization: `Bearer ${engineToken}`, "content-type": "application/json", "idempotency-key": jobId },
    body: JSON.stringify(submit),
  });
  if (res.status !== 202) throw new Error(`engine refused the job: ${res.status} ${await res.text()}`);
  const accepted = performance.now() - t0;
  const end = await job.done;
  if (end.event.type !== "completed")
    throw new Error(`engine job ended ${end.event.type}: ${JSON.stringify(end.event.error ?? end.event)}`);
  return { chars: submit.text.length, accepted, firstSegment: job.firstSegment - t0, completed: end.at - t0 };
}
