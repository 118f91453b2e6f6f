#!/usr/bin/env node
// `npm run bench:fanout`: one task, N listeners, the engine streaming frames
// over its v2 socket at 20 frames/s (ADR 0009). Prints, for each N, how many
// frames every listener got (in order, no gap, no repeat) and the engine's
// ack round trip (an event every 5th frame), and how many frames a listener
// message carried on average (the DO batches frames that queue up, ADR 0027).
// Figures, not a pass/fail test.
//
//   --listeners=0,100,1000   listener counts, run one after another on one task each
//   --seconds=20             streaming time per count
//   --drain=120              seconds to wait, after the last frame, for every listener to have every frame
//   --no-build               reuse build/ as it is
//   --keep                   keep the temp dir (logs, D1/R2 state)
//   --engine-direct          the engine's socket straight to the Worker's runtime, past wrangler dev's proxy
//   --listeners-direct       the listeners' sockets too (the proxy is a local stand-in for Cloudflare's front end)
//   --listeners-nice         the listeners' thread at the lowest CPU priority (they stand in for browsers elsewhere)
//   --warmup=5               acknowledgements of the first seconds of each run are reported apart (their count and max)
//   --segments               upload and announce each finished segment (5 s of audio), as an engine does
//   --slowest                print the six slowest acknowledgements (when, for which event) and this thread's own stalls over 8 ms
//   --gc                     trace the runtime's garbage collections (V8's --trace-gc) and print their count and pauses
//   --memory-state           the local D1/R2/Durable Object state on /dev/shm (bench/lib/state-dir.mjs)
//   --traces                 keep wrangler dev's local trace store on (bench/lib/wrangler.mjs)
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { installExitHandlers, sleep } from "./lib/procs.mjs";
import { createBenchUser, createBenchVoice } from "./lib/setup-account.mjs";
import { ms, percentile, table } from "./lib/stats.mjs";
import { benchStateDir } from "./lib/state-dir.mjs";
import { makeWav } from "./lib/wav.mjs";
import { benchSecrets, machineLine, startBenchWorker } from "./lib/bench-stack.mjs";
import { encodeFrame } from "../worker/engine/frames.ts"; // the protocol's own codec (Node strips its types)

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const argv = process.argv.slice(2);
const flag = (name) => argv.includes(`--${name}`);
const opt = (name, dflt) => argv.find((a) => a.startsWith(`--${name}=`))?.split("=")[1] ?? dflt;
const COUNTS = opt("listeners", "0,100,1000").split(",").map(Number);
const SECONDS = Number(opt("seconds", 20));
const FPS = 20;
const DRAIN_S = Number(opt("drain", 120));
const WARMUP_S = Number(opt("warmup", 5));
const SAMPLES = 1200; // 50 ms at 24 kHz: real time at 20 frames/s

const tmp = mkdtempSync(join(tmpdir(), "utter-fanout-"));
const persist = benchStateDir(tmp);
installExitHandlers(async () => console.error(`logs and state kept in ${tmp}${persist.startsWith(tmp) ? "" : ` and ${persist}`}`));

/** Sample k of the stream: a sine, so a listener can check samples. */
const sampleAt = (k) => Math.round(Math.sin(k / 9) * 6000);

/** Frame n of the stream: a segment every 100 frames (5 s), a sine so a listener can check samples. */
function frame(n) {
  const samples = Array.from({ length: SAMPLES }, (_, i) => sampleAt(n * SAMPLES + i));
  return encodeFrame(
    { segment: Math.floor(n / 100), frame: n, segment_offset: (n % 100) * SAMPLES, stream_offset: n * SAMPLES, last_in_segment: n % 100 === 99 },
    samples,
  );
}

function openSocket(url, headers) {
  // Node's WebSocket (undici) takes headers as a non-standard option.
  const ws = new WebSocket(url, { headers });
  ws.binaryType = "arraybuffer";
  return new Promise((resolve, reject) => {
    ws.addEventListener("open", () => resolve(ws), { once: true });
    ws.addEventListener("error", (e) => reject(new Error(`socket ${url}: ${e.message ?? "error"}`)), { once: true });
  });
}

/** Segment n's WAV (5 s, the samples its frames carried), built before the stream starts: built at the
 * segment's end it would take the engine's own thread while the acknowledgements being timed arrive. */
function segmentWav(index) {
  const first = index * 100 * SAMPLES;
  return makeWav(5000, 24_000, (t) => sampleAt(first + Math.round(t * 24_000)) / 32767);
}

/** Uploads segment `index` (its 100 frames' samples as a WAV) and sends its `segment` event. */
async function announceSegment(job, index, wav, send) {
  const res = await fetch(`${job.callbacks.upload_url}/artifacts/segment/${index}`, {
    method: "PUT",
    headers: { authorization: `Bearer ${job.callbacks.token}`, "content-type": "audio/wav" },
    body: wav,
  });
  if (!res.ok) throw new Error(`segment ${index} upload: ${res.status} ${await res.text()}`);
  send({ type: "segment", index, duration_ms: 5000 });
}

async function runCount({ worker, client, stub, voiceId, listeners, engineOrigin, listenerOrigin }) {
  const task = await client.post("/api/generations", { voice_id: voiceId, text: "Fan-out benchmark. ".repeat(20), language: "en" });
  const job = await stub.waitForJob(task.task_id);
  // --listeners-direct: the listeners too skip wrangler dev's proxy (a local stand-in for Cloudflare's front end).
  const wsOrigin = (listenerOrigin ?? worker.origin).replace(/^http/, "ws");
  const headers = { cookie: client.cookieHeader, origin: worker.origin };
  // The listeners run on their own thread (bench/lib/fanout-listeners.mjs), so their receiving does
  // not delay this thread's engine socket and the acknowledgements it times.
  const pool = new Worker(new URL("./lib/fanout-listeners.mjs", import.meta.url), {
    workerData: { url: `${wsOrigin}/api/tasks/${task.task_id}/ws`, headers, listeners, nice: flag("listeners-nice") },
  });
  const replies = [];
  const waiters = [];
  pool.on("message", (m) => (waiters.length ? waiters.shift()(m) : replies.push(m)));
  const reply = () => (replies.length ? Promise.resolve(replies.shift()) : new Promise((r) => waiters.push(r)));
  const ask = async (message) => {
    pool.postMessage(message);
    return reply();
  };
  await reply(); // ready: every listener's socket is open
  // --engine-direct: the engine's socket goes straight to the Worker's runtime instead of through
  // wrangler dev's proxy, which the 1,000 listeners' traffic also crosses (on Cloudflare the engine
  // and the listeners reach the object through different front-end machines).
  const streamUrl = engineOrigin ? job.callbacks.stream_url.replace(/^[a-z]+:\/\/[^/]+/, engineOrigin.replace(/^http/, "ws")) : job.callbacks.stream_url;
  const engine = await openSocket(streamUrl, { authorization: `Bearer ${job.callbacks.token}` });
  // A socket the Worker closes mid-run is reported (its code and reason), not left to read as lost acks.
  let engineClosed = null;
  engine.addEventListener("close", (e) => (engineClosed ??= { code: e.code, reason: e.reason, at: (performance.now() - t0) / 1000 }));
  const pending = new Map();
  const sentType = new Map(); // seq → event type, for --slowest
  const acks = [];
  const ackAt = [];
  const warmupAcks = [];
  let t0 = Infinity;
  let hello = null;
  engine.addEventListener("message", (e) => {
    const m = JSON.parse(String(e.data));
    if (m.type === "hello") hello = m;
    if (m.type === "ack" && pending.has(m.seq)) {
      const sentAt = pending.get(m.seq);
      // The first --warmup seconds of a run are reported apart: a fresh task's first seconds at 1,000 listeners include the runtime's warm-up.
      if (sentAt - t0 < WARMUP_S * 1000) warmupAcks.push(performance.now() - sentAt);
      else {
        acks.push(performance.now() - sentAt);
        ackAt.push([sentAt, sentType.get(m.seq)]);
      }
      pending.delete(m.seq);
      sentType.delete(m.seq);
    }
  });
  let seq = 0;
  const send = (body) => {
    const s = seq++;
    sentType.set(s, body.type);
    pending.set(s, performance.now());
    engine.send(JSON.stringify({ job_id: task.task_id, seq: s, ...body }));
  };
  for (let i = 0; !hello && i < 100; i++) await sleep(20);
  send({ type: "started" });
  const total = SECONDS * FPS;
  const wavs = flag("segments") ? Array.from({ length: Math.floor(total / 100) }, (_, i) => segmentWav(i)) : [];
  t0 = performance.now();
  // --slowest also watches this thread: a stall here (its own GC, the uploads) delays the acks it times.
  const stalls = [];
  let tick = performance.now();
  const watch = flag("slowest")
    ? setInterval(() => {
        const now = performance.now();
        if (now - tick > 8) stalls.push([now - tick, (tick - t0) / 1000]);
        tick = now;
      }, 2)
    : null;
  let uploads = Promise.resolve();
  for (let n = 0; n < total; n++) {
    const due = t0 + (n * 1000) / FPS;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    engine.send(frame(n));
    if (n % 5 === 4) send({ type: "progress", progress: n / total, stage: "generating" });
    // --segments: as an engine does, each finished segment is uploaded and announced (the object then
    // drops its frames from the replay buffer); the upload runs beside the stream.
    if (flag("segments") && n % 100 === 99) uploads = uploads.then(() => announceSegment(job, Math.floor(n / 100), wavs[Math.floor(n / 100)], send));
  }
  await uploads;
  if (watch) clearInterval(watch);
  const sendSeconds = (performance.now() - t0) / 1000;
  // The last acknowledgements first: counting on the listeners' thread is heavy, and on two shared
  // cores it would delay the very acks being timed.
  for (const t = performance.now(); pending.size && performance.now() - t < 2000; ) await sleep(5);
  // Let the tail arrive (up to --drain seconds), then count; how long that took says how far the fan-out fell behind.
  const tEnd = performance.now();
  let count = await ask({ type: "count", total });
  while ((pending.size || count.behind > 0) && performance.now() - tEnd < DRAIN_S * 1000) {
    await sleep(50);
    count = await ask({ type: "count", total });
  }
  const drainSeconds = (performance.now() - tEnd) / 1000;
  await ask({ type: "close" });
  await pool.terminate();
  const closedEarly = engineClosed;
  engine.close();
  await client.json(`/api/tasks/${task.task_id}`, { method: "DELETE" }, [200, 409]);
  if (flag("slowest")) {
    const slow = acks.map((a, i) => [a, ackAt[i][0], ackAt[i][1]]).sort((x, y) => y[0] - x[0]).slice(0, 6);
    console.log(`  acks over 10 ms: ${acks.filter((a) => a > 10).length} of ${acks.length}`);
    console.log(`  slowest acks: ${slow.map(([a, sent, type]) => `${a.toFixed(1)} ms at ${((sent - t0) / 1000).toFixed(2)} s (${type})`).join(", ")}`);
    const worst = stalls.sort((x, y) => y[0] - x[0]).slice(0, 6);
    console.log(`  the engine thread's own stalls over 8 ms: ${stalls.length}${worst.length ? `, the longest ${worst.map(([d, t]) => `${d.toFixed(1)} ms at ${t.toFixed(1)} s`).join(", ")}` : ""}`);
  }
  return {
    listeners,
    frames: total,
    sendSeconds,
    drainSeconds,
    minFrames: count.minFrames,
    complete: count.complete,
    deliveredPct: listeners ? (100 * count.delivered) / (listeners * total) : NaN,
    framesPerMessage: count.messages ? count.delivered / count.messages : NaN,
    json: { min: count.jsonMin, max: count.jsonMax, gaps: count.jsonGaps },
    acks: acks.length,
    warmup: warmupAcks.length,
    warmupMax: warmupAcks.length ? Math.max(...warmupAcks) : NaN,
    lostAcks: pending.size,
    closedEarly,
    p50: percentile(acks, 50),
    p99: percentile(acks, 99),
    max: acks.length ? Math.max(...acks) : NaN,
  };
}

const secrets = benchSecrets();
console.log(machineLine("Utter live fan-out benchmark"));
const { worker, stub } = await startBenchWorker({ root, tmp, secrets, persist, build: !flag("no-build") });
// --gc: the runtime's collections, counted from its output (workerd's stdout reaches us in blocks, so not when each happened).
const collections = [];
if (flag("gc")) {
  let rest = "";
  worker.proc.child.stdout.on("data", (d) => {
    const lines = (rest + d).split("\n");
    rest = lines.pop();
    for (const line of lines) {
      const m = /(Scavenge|Mark-Compact|Mark-Sweep)[^,]*,.*?([0-9.]+) \/ [0-9.]+ ms/.exec(line);
      if (m) collections.push({ kind: m[1], pauseMs: Number(m[2]) });
    }
  });
}
const { client, user } = await createBenchUser(worker);
const voice = await createBenchVoice(worker, client, user.id);
const runtime = flag("engine-direct") || flag("listeners-direct") ? await worker.runtimeOrigin() : null;
const engineOrigin = flag("engine-direct") ? runtime : null;
const listenerOrigin = flag("listeners-direct") ? runtime : null;
if (flag("listeners-direct")) console.log(runtime ? `listeners straight to the runtime at ${runtime}` : "runtime not found: the listeners go through the proxy");
if (flag("engine-direct")) console.log(engineOrigin ? `engine socket straight to the runtime at ${engineOrigin}` : "runtime not found: the engine goes through the proxy");
const rows = [];
for (const listeners of COUNTS) {
  process.stdout.write(`▶ ${listeners} listeners, ${SECONDS} s at ${FPS} frames/s… `);
  const r = await runCount({ worker, client, stub, voiceId: voice.voiceId, listeners, engineOrigin, listenerOrigin });
  console.log(`done (${r.sendSeconds.toFixed(1)} s)`);
  if (r.listeners) console.log(`  JSON messages per listener (progress, segments…): ${r.json.min}–${r.json.max}, gaps in seq: ${r.json.gaps}`);
  if (r.closedEarly) console.log(`  the Worker closed the engine's socket at ${r.closedEarly.at.toFixed(2)} s: ${r.closedEarly.code} ${r.closedEarly.reason}`);
  rows.push(r);
}
console.log(
  "\n" +
    table(
      ["listeners", "frames sent", "listeners with every frame, in order", "frames delivered", "frames per message", "last frame → all delivered", "engine acks", "ack p50", "ack p99", "ack max", "warm-up acks (max)"],
      rows.map((r) => [
        r.listeners,
        r.frames,
        r.listeners ? `${r.complete} / ${r.listeners}` : "—",
        r.listeners ? `${r.deliveredPct.toFixed(2)} %` : "—",
        r.listeners ? r.framesPerMessage.toFixed(2) : "—",
        r.listeners ? `${r.drainSeconds.toFixed(1)} s` : "—",
        `${r.acks}${r.lostAcks ? ` (${r.lostAcks} unanswered)` : ""}`,
        ms(r.p50),
        ms(r.p99),
        ms(r.max),
        r.warmup ? `${r.warmup} (${ms(r.warmupMax)})` : "—",
      ]),
    ),
);
console.log(`\nload at the end ${loadavg()[0].toFixed(2)} (the bench client, wrangler dev and any other work share these cores)`);
await stub.close();
await worker.stop();
if (flag("gc")) {
  const major = collections.filter((c) => c.kind !== "Scavenge").map((c) => c.pauseMs).sort((a, b) => b - a);
  console.log(
    `the runtime's garbage collections (its whole life, set-up included): ${collections.length}, ${major.length} of them major` +
      (major.length ? `, pauses ${ms(major[major.length - 1])}–${ms(major[0])} (median ${ms(percentile(major, 50))})` : ""),
  );
}
if (!flag("keep")) for (const dir of [tmp, persist]) rmSync(dir, { recursive: true, force: true });
process.exit(0);
