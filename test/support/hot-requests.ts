import { createExecutionContext, createMessageBatch, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import worker from "../../worker/index";
import { handleTaskBatch } from "../../worker/queue/dispatch";
import { createLogger } from "../../worker/lib/log";
import { purgeOldAudio, sweepStaleTasks } from "../../worker/scheduled/maintenance";
import { SubmitRequest } from "../../worker/engine/protocol";
import { probeEnv, type Probe, type ProbeOptions } from "./binding-probe";
import { ENGINE_TOKEN } from "./fake-engine";
import { createVoice } from "./factories";
import { cookieFrom, ORIGIN, uniqueEmail } from "./http";
import { makeWav } from "./wav";

export interface HotRequest {
  name: string;
  status: number;
  /** Sequential waves of binding calls (round trips for a user far away). */
  waves: number;
  /** Waves that reached D1's primary. */
  primaryWaves: number;
  calls: number;
  /** Wall time of the request, ms (with the probe's modelled delay included). */
  ms: number;
  statements: { sql: string; params: unknown[] }[];
}

const log = createLogger({ component: "hot-requests" });

/** One request through the Worker's own fetch handler, with the probed bindings. */
async function send(probe: Probe, path: string, init: RequestInit & { cookie?: string; json?: unknown } = {}) {
  const headers = new Headers(init.headers);
  if (init.json !== undefined) headers.set("content-type", "application/json");
  if (init.cookie) headers.set("cookie", init.cookie);
  headers.set("host", new URL(ORIGIN).host);
  headers.set("origin", ORIGIN);
  const body = init.json !== undefined ? JSON.stringify(init.json) : init.body;
  const ctx = createExecutionContext();
  const res = await worker.fetch(
    new Request(new URL(path, ORIGIN), { ...init, headers, body, redirect: "manual" }) as Request<unknown, IncomingRequestCfProperties>,
    probe.env,
    ctx,
  );
  const text = await res.text().catch(() => "");
  return { res, text, done: () => waitOnExecutionContext(ctx) };
}

/** Merges Set-Cookie headers into an existing Cookie header (newer values win). */
function mergeCookies(cookie: string, res: Response): string {
  const jar = new Map(
    cookie
      .split("; ")
      .filter(Boolean)
      .map((c) => [c.split("=")[0]!, c] as const),
  );
  for (const c of res.headers.getSetCookie()) {
    const pair = c.split(";")[0]!;
    jar.set(pair.split("=")[0]!, pair);
  }
  return [...jar.values()].join("; ");
}

/**
 * Runs the hot requests of a signed-in person's visit — sign-in, page loads,
 * API reads, creating a task, its dispatch, the engine's callbacks — each
 * measured on its own. The engine's submit is answered by `engineFetch`
 * (tests install the fake engine first).
 */
export async function runHotRequests(opts: ProbeOptions & { onSubmit?: () => SubmitRequest | undefined } = {}): Promise<HotRequest[]> {
  const probe = probeEnv(env, { holdQueue: true, ...opts });
  const out: HotRequest[] = [];
  const measure = async <R extends { res: Response; done: () => Promise<void> } | { status: number }>(
    name: string,
    run: () => Promise<R>,
  ): Promise<R> => {
    // Work a previous request left running (waitUntil) must not be counted here.
    probe.reset();
    const t0 = performance.now();
    const r = await run();
    const ms = performance.now() - t0;
    if ("done" in r) await r.done();
    out.push({
      name,
      status: "res" in r ? r.res.status : r.status,
      waves: probe.waves(),
      primaryWaves: probe.primaryWaves(),
      calls: probe.calls.filter((c) => c.wave > 0).length,
      ms,
      statements: probe.statements(),
    });
    return r;
  };

  // An account with a voice and some history.
  const email = uniqueEmail("hot");
  const password = "correct horse battery";
  const signUp = await send(probe, "/api/auth/sign-up/email", { method: "POST", json: { email, password, name: "Hot path" } });
  const userId = (JSON.parse(signUp.text || "null") as { user?: { id: string } } | null)?.user?.id;
  let cookie = cookieFrom(signUp.res);
  const uid = userId ?? (await env.DB.prepare(`SELECT id FROM user WHERE email = ?1`).bind(email).first<{ id: string }>())!.id;
  const voice = await createVoice(uid);

  const signIn = await measure("sign-in", () => send(probe, "/api/auth/sign-in/email", { method: "POST", json: { email, password } }));
  cookie = mergeCookies(cookie, signIn.res);
  // The month's first credit read writes its grant; every later one only reads.
  await measure("first read this month (GET /api/me, grants)", () => send(probe, "/api/me", { cookie }));
  for (const path of ["/generate", "/voices", "/history"]) {
    const r = await measure(`page ${path}`, () => send(probe, path, { cookie }));
    cookie = mergeCookies(cookie, r.res);
  }
  for (const path of [
    "/api/me",
    "/api/voices",
    "/api/generations",
    "/api/generations?search=hello",
    "/api/tasks?status=active",
    "/api/credits/ledger",
  ]) {
    await measure(`GET ${path}`, () => send(probe, path, { cookie }));
  }
  const created = await measure("create task (POST /api/generations)", () =>
    send(probe, "/api/generations", {
      method: "POST",
      cookie,
      json: { voice_id: voice.id, text: "Hello there, this is the hot path.", language: "en" },
    }),
  );
  const task = (created.res.status === 202 ? JSON.parse(created.text) : {}) as { task_id?: string };
  if (!task.task_id) return out;
  const taskId = task.task_id;

  // Its dispatch, delivered the way the queue would.
  await measure("dispatch (queue consumer)", async () => {
    const batch = createMessageBatch("utter-tasks", [
      { id: `hot-${taskId}`, timestamp: new Date(), attempts: 1, body: { task_id: taskId } },
    ]);
    await handleTaskBatch(batch, { env: probe.env, log, pauseMs: 0 });
    return { status: 200 };
  });
  const job = opts.onSubmit?.();
  if (job) {
    const auth = { authorization: `Bearer ${job.callbacks.token}` };
    const engineCall = (url: string, init: RequestInit) =>
      send(probe, new URL(url).pathname, { ...init, headers: { ...auth, ...(init.headers as Record<string, string>) } });
    await measure("engine: reference download", () => engineCall(job.voice!.reference_url, { method: "GET" }));
    await measure("engine callback: started", () =>
      engineCall(job.callbacks.events_url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ job_id: taskId, seq: 0, type: "started", segments_total: 1 }),
      }),
    );
    const wav = makeWav(300, { sampleRate: job.output.sample_rate });
    await measure("engine callback: segment upload", () =>
      engineCall(`${job.callbacks.upload_url}/segments/0`, {
        method: "PUT",
        headers: { "content-type": "audio/wav", "content-length": String(wav.byteLength) },
        body: wav,
      }),
    );
    await measure("engine callback: segment event", () =>
      engineCall(job.callbacks.events_url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ job_id: taskId, seq: 1, type: "segment", index: 0, duration_ms: 300 }),
      }),
    );
    await engineCall(`${job.callbacks.upload_url}/final`, {
      method: "PUT",
      headers: { "content-type": "audio/wav", "content-length": String(wav.byteLength) },
      body: wav,
    });
    await measure("engine callback: completed", () =>
      engineCall(job.callbacks.events_url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          job_id: taskId,
          seq: 2,
          type: "completed",
          duration_ms: 300,
          sample_rate: job.output.sample_rate,
          size_bytes: wav.byteLength,
        }),
      }),
    );
  }
  await measure("cron sweep", async () => {
    await sweepStaleTasks(probe.env, log);
    await purgeOldAudio(probe.env, log);
    return { status: 200 };
  });
  void ENGINE_TOKEN;
  return out;
}

/** Prints one line per request: what a user 100 ms (or `delayMs`) from every binding would wait. */
export function formatHotRequests(rows: HotRequest[], delayMs: number): string {
  const lines = rows.map(
    (r) =>
      `${r.name.padEnd(40)} ${String(r.status).padStart(3)}  round trips ${String(r.waves).padStart(2)} (primary ${r.primaryWaves})  calls ${String(r.calls).padStart(2)}  modelled ${(r.waves * delayMs).toFixed(0).padStart(5)} ms  measured ${r.ms.toFixed(0).padStart(5)} ms`,
  );
  return lines.join("\n");
}
