#!/usr/bin/env node
// `npm run bench:player`: the live player in Chromium (issue 10, "Benchmarks").
// Figures, not a pass/fail test.
//
// Part 1 — engine frame → audio scheduled. The bench plays the engine (stub
// submit endpoint; it opens the task's engine socket itself). For each run a
// signed-in Chromium page clicks Generate on /generate, and then:
//   v2: the bench sends `started` and then 50 ms frames in real time over the
//       engine socket, stamping each send;
//   v1: (a second task) the bench sends `started`, then PUTs segment WAVs and
//       POSTs their `segment` events over HTTP, stamping each event.
// The page's player records (opt-in trace, app/lib/segment-player.ts) when each
// frame/segment reached it and when its audio was scheduled; the bench maps the
// page clock onto its own (offset measured over CDP round trips).
//
// Part 2 — click → first audio, 5,000 characters, development engine at its
// defaults (no pacing): the same Worker restarted with ENGINE_URL = dev/engine.
//
//   --runs=10            runs of part 1 (each: one v2 task and one v1 task)
//   --frames=40          frames per v2 task (50 ms each, sent at 20 frames/s)
//   --segments=5         segments per v1 task
//   --segment-ms=4000    audio per v1 segment
//   --runs2=10           runs of part 2
//   --warmup=1           warm-up runs of part 1, not counted (cold isolate, DO, page code paths)
//   --warmup2=3          warm-up runs of part 2, not counted (the dev engine's first jobs are slower)
//   --chars=5000         text length for part 2
//   --only=1|2           one part only
//   --no-build           reuse build/ as it is
//   --keep               keep the temp dir (logs, D1/R2 state)
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { waitForEngineIdle } from "./lib/engine-baseline.mjs";
import { freePort, installExitHandlers, sleep, startProcess, waitForHttp } from "./lib/procs.mjs";
import { prose } from "./lib/prose.mjs";
import { createBenchUser, createBenchVoice } from "./lib/setup-account.mjs";
import { ms, percentile, table } from "./lib/stats.mjs";
import { JobDriver } from "./lib/stub-engine.mjs";
import { makeWav } from "./lib/wav.mjs";
import { benchSecrets, machineLine, startBenchWorker } from "./lib/bench-stack.mjs";
import { CHROMIUM, CHROMIUM_ARGS } from "../test/e2e/support/browser.mjs";
import { encodeFrame } from "../worker/engine/frames.ts"; // the protocol's own codec (Node strips its types)

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const argv = process.argv.slice(2);
const flag = (name) => argv.includes(`--${name}`);
const opt = (name, dflt) => argv.find((a) => a.startsWith(`--${name}=`))?.split("=")[1] ?? dflt;
const RUNS = Number(opt("runs", 10));
const FRAMES = Number(opt("frames", 40));
const SEGMENTS = Number(opt("segments", 5));
const SEGMENT_MS = Number(opt("segment-ms", 4000));
const RUNS2 = Number(opt("runs2", 10));
const CHARS = Number(opt("chars", 5000));
const WARMUP = Number(opt("warmup", 1));
const WARMUP2 = Number(opt("warmup2", 3));
const ONLY = opt("only", "");
const FPS = 20;
const SAMPLES = 1200; // 50 ms at 24 kHz

/** The clock both sides use: epoch ms from the monotonic clock (the page stamps the same way). */
const now = () => performance.timeOrigin + performance.now();

const tmp = mkdtempSync(join(tmpdir(), "utter-player-"));
let browser = null;
installExitHandlers(async () => {
  await browser?.close().catch(() => {});
  console.error(`logs and state kept in ${tmp}`);
});

function frame(n) {
  const samples = Array.from({ length: SAMPLES }, (_, i) => Math.round(Math.sin((n * SAMPLES + i) / 9) * 6000));
  return encodeFrame({ segment: 0, frame: n, segment_offset: n * SAMPLES, stream_offset: n * SAMPLES }, samples);
}

function openSocket(url, headers) {
  const ws = new WebSocket(url, { headers }); // undici takes headers as a non-standard option
  ws.binaryType = "arraybuffer";
  return new Promise((resolve, reject) => {
    ws.addEventListener("open", () => resolve(ws), { once: true });
    ws.addEventListener("error", (e) => reject(new Error(`socket ${url}: ${e.message ?? "error"}`)), { once: true });
  });
}

// Debian's Chromium through playwright-core, flags as test/e2e/support/browser.mjs, audio to a fake output.
async function launch() {
  const profile = mkdtempSync(join(tmp, "profile-"));
  return chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: false, // "--headless" is in args
    args: CHROMIUM_ARGS,
    viewport: { width: 1280, height: 800 },
  });
}

/** page clock − bench clock, from the CDP round trip that was shortest (± half of it). */
async function clockOffset(page) {
  let best = { rtt: Infinity, offset: 0 };
  for (let i = 0; i < 15; i++) {
    const t0 = now();
    const p = await page.evaluate(() => performance.timeOrigin + performance.now());
    const t1 = now();
    if (t1 - t0 < best.rtt) best = { rtt: t1 - t0, offset: p - (t0 + t1) / 2 };
  }
  return best;
}

/** Opens /generate, fills the text, clicks Generate; returns the task id and the click's page-clock time. */
async function clickGenerate(page, origin, voiceId, text) {
  await page.goto(`${origin}/generate?voice=${voiceId}`);
  await page.getByLabel("Text").fill(text);
  await page.evaluate(() => {
    const w = /** @type {any} */ (window);
    document.addEventListener(
      "click",
      (e) => {
        if (e.target instanceof Element && e.target.closest("[data-testid=generate-submit]")) {
          w.__clickAt = performance.timeOrigin + performance.now();
          w.__clickWall = Date.now();
        }
      },
      { capture: true },
    );
    // When the task's run appeared (the POST was answered) and first said "running" (its socket heard `started`).
    new MutationObserver(() => {
      const run = document.querySelector("[data-testid=task-run]");
      if (run && w.__clickAt && !w.__runAt) w.__runAt = performance.timeOrigin + performance.now();
      if (run?.getAttribute("data-status") === "running" && !w.__runningAt) w.__runningAt = performance.timeOrigin + performance.now();
    }).observe(document.body, { subtree: true, childList: true, attributes: true, attributeFilter: ["data-status"] });
  });
  await page.getByTestId("generate-submit").click();
  const run = page.getByTestId("task-run");
  await run.waitFor({ timeout: 30_000 });
  const taskId = await run.getAttribute("data-task-id");
  const click = await page.evaluate(() => {
    const w = /** @type {any} */ (window);
    return { at: w.__clickAt, wall: w.__clickWall };
  });
  return { taskId, run, click };
}

const trace = (page) => page.evaluate(() => /** @type {any} */ (globalThis).__UTTER_PLAYER_TRACE__ ?? []);

async function waitForTrace(page, pred, timeoutMs = 20_000) {
  const t0 = performance.now();
  for (;;) {
    const t = await trace(page);
    if (pred(t) || performance.now() - t0 > timeoutMs) return t;
    await sleep(100);
  }
}

/** One v2 task: frames over the engine socket; per frame, sent → scheduled (bench clock). */
async function runV2({ page, origin, client, stub, voiceId }) {
  const { taskId, run } = await clickGenerate(page, origin, voiceId, "Player latency benchmark, live frames.");
  const job = await stub.waitForJob(taskId);
  const engine = await openSocket(job.callbacks.stream_url, { authorization: `Bearer ${job.callbacks.token}` });
  let hello = false;
  engine.addEventListener("message", (e) => {
    if (typeof e.data === "string" && JSON.parse(e.data).type === "hello") hello = true;
  });
  for (let i = 0; !hello && i < 200; i++) await sleep(20);
  engine.send(JSON.stringify({ job_id: taskId, seq: 0, type: "started" }));
  // The page has its socket open and has heard `started`: the frames find a listener.
  await page.locator(`[data-testid=task-run][data-status=running]`).waitFor({ timeout: 30_000 });
  const { offset, rtt } = await clockOffset(page);
  const sent = [];
  const t0 = performance.now();
  for (let n = 0; n < FRAMES; n++) {
    const wait = t0 + (n * 1000) / FPS - performance.now();
    if (wait > 0) await sleep(wait);
    sent[n] = now();
    engine.send(frame(n));
  }
  const t = await waitForTrace(page, (t) => t.filter((e) => e.kind === "frame").length >= FRAMES);
  const frames = t.filter((e) => e.kind === "frame");
  const lat = frames.map((e) => ({
    n: e.index,
    toReceived: e.receivedAt - offset - sent[e.index],
    toScheduled: e.scheduledAt - offset - sent[e.index],
    samples: e.samples,
  }));
  engine.close();
  await client.json(`/api/tasks/${taskId}`, { method: "DELETE" }, [200, 409]);
  await run
    .and(page.locator("[data-status=cancelled]"))
    .waitFor({ timeout: 10_000 })
    .catch(() => {});
  return { lat, missing: FRAMES - frames.length, rtt };
}

/** One v1 task: segment WAVs uploaded, then announced over HTTP; per segment, event sent → scheduled. */
async function runV1({ page, origin, client, stub, voiceId }) {
  const { taskId, run } = await clickGenerate(page, origin, voiceId, "Player latency benchmark, segments.");
  const job = await stub.waitForJob(taskId);
  const driver = new JobDriver(job);
  await driver.event({ type: "started", segments_total: SEGMENTS });
  await page.locator(`[data-testid=task-run][data-status=running]`).waitFor({ timeout: 30_000 });
  const { offset, rtt } = await clockOffset(page);
  const wav = makeWav(SEGMENT_MS, 24_000, (t) => Math.sin(t * 2 * Math.PI * 180) * 0.3);
  const upload = [];
  const event = [];
  for (let i = 0; i < SEGMENTS; i++) {
    upload[i] = now();
    await driver.upload(`segments/${i}`, wav);
    event[i] = now();
    await driver.event({ type: "segment", index: i, duration_ms: SEGMENT_MS });
    await sleep(500);
  }
  const t = await waitForTrace(page, (t) => t.filter((e) => e.kind === "segment").length >= SEGMENTS);
  const segs = t.filter((e) => e.kind === "segment");
  const lat = segs.map((e) => ({
    n: e.index,
    eventToAnnounced: e.receivedAt - offset - event[e.index],
    eventToScheduled: e.scheduledAt - offset - event[e.index],
    uploadToScheduled: e.scheduledAt - offset - upload[e.index],
  }));
  await client.json(`/api/tasks/${taskId}`, { method: "DELETE" }, [200, 409]);
  await run
    .and(page.locator("[data-status=cancelled]"))
    .waitFor({ timeout: 10_000 })
    .catch(() => {});
  return { lat, missing: SEGMENTS - segs.length, rtt };
}

/** From the dev engine's JSON log (wall clock, ms): when it got the job, sent `started`, had the voice; ms after the click. */
function engineTimes(logFile, taskId, clickWall) {
  const lines = readFileSync(logFile, "utf8")
    .split("\n")
    .filter((l) => l.includes(taskId))
    .flatMap((l) => {
      try {
        return [JSON.parse(l)];
      } catch {
        return [];
      }
    });
  const at = (pred) => {
    const j = lines.find(pred);
    return j ? Date.parse(j.time) - clickWall : NaN;
  };
  return {
    submitted: at((j) => j.event === "job_submitted"),
    started: at((j) => j.event === "event_sent" && j.type === "started"),
    voiceReady: at((j) => j.event === "voice_resolved"),
  };
}

/** Part 2: click → first audio scheduled / first audible, with the development engine. */
async function runDev({ page, origin, client, voiceId, engineUrl, engineLog }) {
  await waitForEngineIdle(engineUrl);
  const { taskId, run, click } = await clickGenerate(page, origin, voiceId, prose(CHARS));
  await page.waitForFunction(() => document.querySelector("[data-testid=task-run]")?.hasAttribute("data-first-audio-at"), null, {
    timeout: 60_000,
  });
  const t = await trace(page);
  const first = t.find((e) => e.samples > 0);
  const audibleWall = Number(await run.getAttribute("data-first-audio-at"));
  const from = await run.getAttribute("data-first-audio-from");
  const pageTimes = await page.evaluate(() => {
    const w = /** @type {any} */ (window);
    return { runAt: w.__runAt, runningAt: w.__runningAt };
  });
  await client.json(`/api/tasks/${taskId}`, { method: "DELETE" }, [200, 409]);
  return {
    ...engineTimes(engineLog, taskId, click.wall),
    runShown: pageTimes.runAt - click.at,
    running: pageTimes.runningAt - click.at,
    chars: CHARS,
    scheduled: first ? first.scheduledAt - click.at : NaN,
    received: first ? first.receivedAt - click.at : NaN,
    audible: audibleWall - click.wall,
    from,
  };
}

const row = (label, values) => {
  const s = [...values].sort((a, b) => a - b);
  return [label, values.length, ms(s[0]), ms(percentile(s, 50)), ms(percentile(s, 90)), ms(percentile(s, 99)), ms(s[s.length - 1])];
};
const HEAD = ["", "n", "min", "p50", "p90", "p99", "max"];

const secrets = benchSecrets();
const load0 = loadavg()[0];
console.log(machineLine("Utter live player benchmark"));
const { worker, stub } = await startBenchWorker({ root, tmp, secrets, build: !flag("no-build") });
const { client, user } = await createBenchUser(worker);
const voice = await createBenchVoice(worker, client, user.id);

const context = await launch();
browser = context;
// The bench user's session, in the browser (same origin as the Worker).
await context.addCookies([...client.cookies].map(([name, value]) => ({ name, value, url: worker.origin })));
await context.addInitScript(() => {
  /** @type {any} */ (globalThis).__UTTER_PLAYER_TRACE__ = [];
});
const page = await context.newPage();

if (ONLY !== "2") {
  console.log(
    `\n== Part 1: engine → audio scheduled in Chromium (${RUNS} runs: ${FRAMES} frames over v2, ${SEGMENTS} × ${SEGMENT_MS} ms segments over v1; ${WARMUP} warm-up) ==`,
  );
  const v2 = [];
  const v1 = [];
  let missing2 = 0;
  let missing1 = 0;
  const rtts = [];
  // Warm-up pairs first (cold isolate, DO, page code paths): shown, not counted.
  for (let i = 1 - WARMUP; i <= RUNS; i++) {
    const a = await runV2({ page, origin: worker.origin, client, stub, voiceId: voice.voiceId });
    const b = await runV1({ page, origin: worker.origin, client, stub, voiceId: voice.voiceId });
    const first = a.lat.find((l) => l.n === 0);
    console.log(
      `  ${i <= 0 ? "warm-up" : `run ${i}`}: v2 first frame → scheduled ${ms(first?.toScheduled)}, p50 ${ms(
        percentile(
          a.lat.map((l) => l.toScheduled),
          50,
        ),
      )}; ` +
        `v1 event → scheduled p50 ${ms(
          percentile(
            b.lat.map((l) => l.eventToScheduled),
            50,
          ),
        )}; clock ±${ms(Math.max(a.rtt, b.rtt) / 2)}`,
    );
    if (i <= 0) continue;
    v2.push(a);
    v1.push(b);
    missing2 += a.missing;
    missing1 += b.missing;
    rtts.push(a.rtt, b.rtt);
  }
  const frames = v2.flatMap((r) => r.lat);
  const firsts = v2.map((r) => r.lat.find((l) => l.n === 0)).filter(Boolean);
  const segs = v1.flatMap((r) => r.lat);
  console.log(
    "\n" +
      table(HEAD, [
        row(
          "v2: every frame, sent → scheduled",
          frames.map((l) => l.toScheduled),
        ),
        row(
          "v2: every frame, sent → reached the player",
          frames.map((l) => l.toReceived),
        ),
        row(
          "v2: first frame of a task, sent → scheduled",
          firsts.map((l) => l.toScheduled),
        ),
        row(
          "v1: segment event sent → scheduled",
          segs.map((l) => l.eventToScheduled),
        ),
        row(
          "v1: segment event sent → announced to the player",
          segs.map((l) => l.eventToAnnounced),
        ),
        row(
          "v1: segment upload started → scheduled",
          segs.map((l) => l.uploadToScheduled),
        ),
        row(
          "v1: first segment of a task, event → scheduled",
          segs.filter((l) => l.n === 0).map((l) => l.eventToScheduled),
        ),
      ]),
  );
  console.log(
    `\nframes never traced: ${missing2}; segments never traced: ${missing1}; page↔bench clock offset uncertainty ≤ ${ms(Math.max(...rtts) / 2)} (half the shortest CDP round trip, worst run)`,
  );
}
await stub.close();

if (ONLY !== "1") {
  const port = await freePort();
  const engineLog = join(tmp, "dev-engine.log");
  const devEngine = startProcess("dev engine", process.execPath, [join(root, "dev/engine/server.ts")], {
    cwd: root,
    env: {
      ...process.env,
      DEV_ENGINE_PORT: String(port),
      DEV_ENGINE_HOST: "127.0.0.1",
      ENGINE_TOKEN: secrets.ENGINE_TOKEN,
      DEV_ENGINE_REALTIME: "0",
    },
    logFile: engineLog,
  });
  const engineUrl = `http://127.0.0.1:${port}`;
  await waitForHttp(`${engineUrl}/health`, { proc: devEngine, timeoutMs: 60_000 });
  for (let i = 0; i < 300 && !(existsSync(engineLog) && /espeak_(ready|unavailable)/.test(readFileSync(engineLog, "utf8"))); i++)
    await sleep(100);
  await worker.stop();
  await worker.start(engineUrl);
  console.log(
    `\n== Part 2: click on Generate → first audio in Chromium, ${CHARS} characters, development engine (no pacing), ${RUNS2} runs after ${WARMUP2} warm-up ==`,
  );
  const runs = [];
  for (let i = 1 - WARMUP2; i <= RUNS2; i++) {
    const r = await runDev({ page, origin: worker.origin, client, voiceId: voice.voiceId, engineUrl, engineLog });
    console.log(
      `  ${i <= 0 ? "warm-up" : `run ${i}`}: scheduled ${ms(r.scheduled)} (reached the player ${ms(r.received)}), audible ${ms(r.audible)}, from a ${r.from}`,
    );
    if (i > 0) runs.push(r);
  }
  console.log(
    "\n" +
      table(HEAD, [
        row(
          "click → the task's run shown (POST answered)",
          runs.map((r) => r.runShown),
        ),
        row(
          "click → engine got the job¹",
          runs.map((r) => r.submitted),
        ),
        row(
          "click → engine sent `started`¹",
          runs.map((r) => r.started),
        ),
        row(
          "click → page heard `started` (socket open)",
          runs.map((r) => r.running),
        ),
        row(
          "click → engine had the voice¹",
          runs.map((r) => r.voiceReady),
        ),
        row(
          "click → first audio reached the player",
          runs.map((r) => r.received),
        ),
        row(
          "click → first audio scheduled",
          runs.map((r) => r.scheduled),
        ),
        row(
          "click → first audio audible (data-first-audio-at)",
          runs.map((r) => r.audible),
        ),
      ]),
  );
  console.log(
    `¹ from the development engine's JSON log (wall clock, ms precision). First audio came from: ${[...new Set(runs.map((r) => r.from))].join(", ")}`,
  );
}

console.log(
  `\nload at the start ${load0.toFixed(2)}, at the end ${loadavg()[0].toFixed(2)} (Chromium, wrangler dev, the engine and any other work share these cores)`,
);
await context.close();
browser = null;
await worker.stop();
if (!flag("keep")) rmSync(tmp, { recursive: true, force: true });
process.exit(0);
