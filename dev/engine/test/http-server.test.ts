import assert from "node:assert/strict";
import { once } from "node:events";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, beforeEach, describe, it } from "node:test";
import { CancelResponse, SubmitResponse } from "../../../worker/engine/protocol.ts";
import { systemClock } from "../clock.ts";
import { createEngineHttpServer } from "../http-server.ts";
import { createJobRegistry, type JobRegistry } from "../job-registry.ts";
import { runJob } from "../job-runner.ts";
import { silentLogger } from "../log.ts";
import { encodeWav } from "../wav-codec.ts";
import { startFakeWorker, type FakeWorker } from "./support/fake-worker.ts";
import { assertProtocolOrder } from "./support/sequence-checks.ts";
import { syntheticSpeech, toneSynthesizer } from "./support/synthetic-audio.ts";

const TOKEN = "engine-token-for-tests";
let server: Server;
let engine: string;
let registry: JobRegistry;
let worker: FakeWorker;

beforeEach(async () => {
  worker = await startFakeWorker({
    reference: { status: 200, body: encodeWav(syntheticSpeech(140, 2, 16000), 16000), contentType: "audio/wav" },
  });
  const deps = {
    fetch: globalThis.fetch,
    clock: systemClock,
    synthesize: toneSynthesizer(),
    log: silentLogger,
    retry: { attempts: 2, baseDelayMs: 2, maxDelayMs: 5, timeoutMs: 5000 },
    heartbeatMs: 20,
    // Long enough that a job is still running when the test cancels it, even on a loaded machine.
    segmentDelayMs: 100,
  };
  registry = createJobRegistry({ run: (job, control) => runJob(job, deps, control), log: silentLogger });
  server = createEngineHttpServer({ token: TOKEN, registry, log: silentLogger });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  engine = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterEach(async () => {
  await registry.shutdown();
  await new Promise((r) => server.close(r));
  await worker.close();
});

const post = (path: string, body: unknown, token: string | null = TOKEN) =>
  fetch(`${engine}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });

describe("engine HTTP endpoints", () => {
  it("answers GET /health with 200", async () => {
    const res = await fetch(`${engine}/health`);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { ok: true, engine: "dev", protocol: 2, protocols: [1, 2], active_jobs: 0 });
  });

  it("accepts a valid job with 202 {call_id} and runs it to completion in the background", async () => {
    const res = await post("/jobs", worker.job());
    assert.equal(res.status, 202);
    const { call_id } = SubmitResponse.parse(await res.json());
    assert.ok(call_id.length > 0);
    await registry.idle();
    assert.equal(worker.types().at(-1), "completed");
    assertProtocolOrder(worker.steps);
  });

  it("answers 401 without the engine token or with a wrong one, and starts nothing", async () => {
    for (const token of [null, "wrong-token", `${TOKEN}x`]) {
      const res = await post("/jobs", worker.job(), token);
      assert.equal(res.status, 401);
      const body = (await res.json()) as { error: { code: string } };
      assert.equal(body.error.code, "unauthorized");
    }
    assert.equal((await post("/jobs/dev_x/cancel", {}, "nope")).status, 401);
    assert.equal(registry.activeCount(), 0);
  });

  it("answers 400 invalid_request naming the bad field", async () => {
    const cases: [unknown, string][] = [
      [{ ...worker.job(), language: "xx" }, "language"],
      [{ ...worker.job(), output: { format: "mp3", sample_rate: 24000 } }, "output.format"],
      [{ ...worker.job(), voice: undefined }, "voice"],
      [{ ...worker.job(), protocol: 3 }, "protocol"],
      [{ ...worker.job(), protocol: 2 }, "callbacks.stream_url"],
      [
        { ...worker.submitBodyV2(), callbacks: { ...worker.job().callbacks, stream_url: "http://127.0.0.1/stream" } },
        "callbacks.stream_url",
      ],
      ["{not json", "JSON"],
    ];
    for (const [body, field] of cases) {
      const res = await post("/jobs", body);
      assert.equal(res.status, 400);
      const { error } = (await res.json()) as { error: { code: string; message: string } };
      assert.equal(error.code, "invalid_request");
      assert.ok(error.message.includes(field), `"${error.message}" should name ${field}`);
    }
    assert.equal(registry.activeCount(), 0);
  });

  it("cancels a running job through POST /jobs/:call_id/cancel; it sends nothing afterwards", async () => {
    const { call_id } = SubmitResponse.parse(await (await post("/jobs", worker.job({ text: "One sentence here. ".repeat(100) }))).json());
    while (!worker.types().includes("segment")) await new Promise((r) => setTimeout(r, 5));
    const res = await post(`/jobs/${call_id}/cancel`, {});
    assert.equal(res.status, 202);
    assert.deepEqual(CancelResponse.parse(await res.json()), { cancelled: true });
    await registry.idle();
    const count = worker.steps.length;
    await new Promise((r) => setTimeout(r, 60));
    assert.equal(worker.steps.length, count);
    assert.ok(!worker.types().includes("completed") && !worker.types().includes("failed"));
  });

  it("answers {cancelled:false} for an unknown call id", async () => {
    const res = await post("/jobs/dev_unknown/cancel", {});
    assert.equal(res.status, 202);
    assert.deepEqual(await res.json(), { cancelled: false });
  });

  it("does not start a second run for a duplicate submit of a running job", async () => {
    const job = worker.job({ text: "Another sentence. ".repeat(60) });
    const first = SubmitResponse.parse(await (await post("/jobs", job)).json());
    const second = SubmitResponse.parse(await (await post("/jobs", job)).json());
    assert.equal(second.call_id, first.call_id);
    await registry.idle();
    assert.equal(worker.types().filter((t) => t === "started").length, 1);
  });

  it("makes running jobs report engine_unavailable on shutdown", async () => {
    await post("/jobs", worker.job({ text: "Shutdown test sentence. ".repeat(60) }));
    while (!worker.types().includes("segment")) await new Promise((r) => setTimeout(r, 5));
    await registry.shutdown();
    const last = worker.events().at(-1)!;
    assert.ok(last.type === "failed" && last.error.code === "engine_unavailable" && last.error.retryable);
  });

  it("answers 404 for other paths", async () => {
    assert.equal((await fetch(`${engine}/nope`)).status, 404);
  });
});
