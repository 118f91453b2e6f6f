#!/usr/bin/env node
// `npm run bench:long-form`: long-form with the development engine (issue 11 item 1, ADR 0023).
// Figures, not a pass/fail test.
//
// The Worker (`wrangler dev`, a frozen copy) with the development engine behind it. For each
// size (5,000 and 50,000 characters by default) one generation, followed on its task socket:
//   - time to first audio: POST sent → the first live frame (or `segment`) on the listener socket;
//   - time to the end (`completed`);
//   - peak resident memory, sampled every 100 ms while the job runs, of the Worker's workerd
//     process (the Worker and its Durable Objects run in it) and of the development engine.
// Then the resume: the engine restarted with DEV_ENGINE_FAIL_AT=0.6 (a first attempt fails,
// retryably, once 60 % of its parts are durable), one job of --resume-chars: the parts each
// attempt rendered (from the engine's log), how many were rendered twice, the charge, and the
// time to the end.
//
//   --sizes=5000,50000    text lengths
//   --resume-chars=50000  text length of the resume run (0: skip it)
//   --no-build            reuse build/ as it is
import { existsSync, mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { benchSecrets, machineLine, startBenchWorker } from "./lib/bench-stack.mjs";
import { freePort, installExitHandlers, sleep, startProcess, stopProcess, waitForHttp } from "./lib/procs.mjs";
import { createBenchUser, createBenchVoice } from "./lib/setup-account.mjs";
import { listenerBinaryOf } from "../worker/engine/frames.ts"; // the protocol's own codec (Node strips its types)

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const argv = process.argv.slice(2);
const opt = (name, dflt) => argv.find((a) => a.startsWith(`--${name}=`))?.split("=")[1] ?? dflt;
const SIZES = opt("sizes", "5000,50000").split(",").map(Number);
const RESUME_CHARS = Number(opt("resume-chars", 50_000));
const BUILD = !argv.includes("--no-build");

const tmp = mkdtempSync(join(tmpdir(), "utter-long-form-"));
installExitHandlers(async () => console.error(`logs and state kept in ${tmp}`));

/** Numbered sentences (~90 characters each), exactly `chars` long. */
function text(chars) {
  let out = "";
  for (let i = 0; out.length < chars; i++) out += `Sentence ${i} of the long text goes on a little, so the engine has something to say here. `;
  return out.slice(0, chars - 1) + ".";
}

/** Resident memory (KiB) of a process, or null when it is gone. */
function rssKiB(pid) {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/** The workerd processes in a process group (wrangler dev starts workerd in its own). */
function workerdPids(pgid) {
  const pids = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      const close = stat.lastIndexOf(")");
      const comm = stat.slice(stat.indexOf("(") + 1, close);
      const fields = stat.slice(close + 2).split(" ");
      if (Number(fields[2]) === pgid && comm.includes("workerd")) pids.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/** Samples the peak RSS of the given pids every 100 ms until stopped. */
function sampler(pids) {
  const peak = new Map(pids.map((p) => [p, 0]));
  const timer = setInterval(() => {
    for (const p of pids) peak.set(p, Math.max(peak.get(p), rssKiB(p) ?? 0));
  }, 100);
  return { stop: () => (clearInterval(timer), peak) };
}

/** The task's listener socket: first live frame, first segment, resume stage, the end. */
function follow(client, taskId) {
  const url = `${client.origin.replace(/^http/, "ws")}/api/tasks/${taskId}/ws`;
  const ws = new WebSocket(url, { headers: { cookie: client.cookieHeader, origin: client.origin } });
  ws.binaryType = "arraybuffer";
  const t = { firstFrame: null, firstSegment: null, resuming: null, end: null, frames: 0, frameBytes: 0, segments: new Map() };
  let resolve;
  const done = new Promise((r) => (resolve = r));
  ws.onmessage = (e) => {
    const at = performance.now();
    let text = e.data;
    if (typeof e.data !== "string") {
      // One frame or a batch of them (ADR 0027), and maybe the JSON messages that went with them (ADR 0031).
      const parts = listenerBinaryOf(e.data) ?? { frames: [], text: null };
      t.firstFrame ??= at;
      t.frames += parts.frames.length;
      t.frameBytes += parts.frames.reduce((n, f) => n + f.byteLength, 0);
      if (parts.text === null) return;
      text = parts.text;
    }
    const parsed = JSON.parse(text);
    for (const msg of Array.isArray(parsed) ? parsed : [parsed]) {
      if (msg.type === "segment") {
        t.firstSegment ??= at;
        t.segments.set(msg.index, (t.segments.get(msg.index) ?? 0) + 1);
      }
      if (msg.type === "progress" && msg.stage === "resuming") t.resuming ??= at;
      if (["completed", "failed", "cancelled"].includes(msg.type)) {
        t.end = { at, type: msg.type, msg };
        resolve(t);
      }
    }
  };
  ws.onclose = () => resolve(t);
  return { t, done, close: () => ws.close(1000) };
}

async function startEngine(secrets, extraEnv, label) {
  const port = await freePort();
  const logFile = join(tmp, `dev-engine-${label}.log`);
  const proc = startProcess("dev engine", "nice", ["-n", "5", process.execPath, join(root, "dev/engine/server.ts")], {
    cwd: root,
    env: { ...process.env, DEV_ENGINE_PORT: String(port), DEV_ENGINE_HOST: "127.0.0.1", ENGINE_TOKEN: secrets.ENGINE_TOKEN, DEV_ENGINE_REALTIME: "0", ...extraEnv },
    logFile,
  });
  const url = `http://127.0.0.1:${port}`;
  await waitForHttp(`${url}/health`, { proc, timeoutMs: 60_000 });
  for (let i = 0; i < 300 && !(existsSync(logFile) && /espeak_(ready|unavailable)/.test(readFileSync(logFile, "utf8"))); i++) await sleep(100);
  return { proc, url, logFile };
}

/** The engine's log lines for one job (JSON lines, `event` names each). */
function engineLog(logFile, taskId) {
  return readFileSync(logFile, "utf8")
    .split("\n")
    .flatMap((l) => {
      try {
        const j = JSON.parse(l);
        return j.job_id === taskId ? [j] : [];
      } catch {
        return [];
      }
    });
}

async function balance(client) {
  return (await client.json("/api/me")).credits.balance;
}

async function runJob({ client, voiceId, chars, worker, engine }) {
  const before = await balance(client);
  const pids = [...workerdPids(worker.proc.child.pid), engine.proc.child.pid];
  // `nice` execs node, so the engine's pid is the child's own.
  const mem = sampler(pids);
  const sent = performance.now();
  const created = await client.post("/api/generations", { voice_id: voiceId, text: text(chars), language: "en" });
  const f = follow(client, created.task_id);
  const t = await f.done;
  f.close();
  const peak = mem.stop();
  const after = await balance(client);
  const workerd = Math.max(0, ...[...peak].filter(([p]) => p !== engine.proc.child.pid).map(([, v]) => v));
  return {
    taskId: created.task_id,
    cost: created.cost,
    charged: before - after,
    firstAudioMs: (Math.min(t.firstFrame ?? Infinity, t.firstSegment ?? Infinity) - sent) | 0,
    endMs: t.end ? (t.end.at - sent) | 0 : null,
    status: t.end?.type ?? "closed",
    workerdPeakMiB: workerd / 1024,
    enginePeakMiB: (peak.get(engine.proc.child.pid) ?? 0) / 1024,
    frames: t.frames,
    segments: t.segments,
    resumingMs: t.resuming ? (t.resuming - sent) | 0 : null,
  };
}

const mib = (x) => `${x.toFixed(0)} MiB`;
const sec = (x) => (x === null ? "—" : `${(x / 1000).toFixed(2)} s`);

const secrets = benchSecrets();
console.log(machineLine("Utter long-form benchmark (dev engine)"));
const { worker, stub } = await startBenchWorker({ root, tmp, secrets, build: BUILD });
await stub.close();
let engine = await startEngine(secrets, {}, "plain");
await worker.stop();
await worker.start(engine.url);
const { client, user } = await createBenchUser(worker);
const voice = await createBenchVoice(worker, client, user.id);

// A warm-up job (first eSpeak and isolate use), not counted.
await runJob({ client, voiceId: voice.voiceId, chars: 400, worker, engine });

console.log("\n== Time to first audio, time to the end, peak memory (one job each, sampled every 100 ms) ==");
console.log("| characters | parts | first audio | end | Worker (workerd) peak RSS | dev engine peak RSS | charged |");
console.log("|---|---|---|---|---|---|---|");
for (const chars of SIZES) {
  const r = await runJob({ client, voiceId: voice.voiceId, chars, worker, engine });
  const dup = [...r.segments.values()].some((n) => n > 1);
  console.log(
    `| ${chars.toLocaleString("en-US")} | ${r.segments.size} | ${sec(r.firstAudioMs)} | ${sec(r.endMs)} (${r.status}) | ${mib(r.workerdPeakMiB)} | ${mib(r.enginePeakMiB)} | ${r.charged} of ${r.cost}${dup ? " (a segment announced twice!)" : ""} |`,
  );
}

if (RESUME_CHARS > 0) {
  await stopProcess(engine.proc);
  engine = await startEngine(secrets, { DEV_ENGINE_FAIL_AT: "0.6" }, "fail-at-60");
  await worker.stop();
  await worker.start(engine.url);
  console.log(`\n== Resume after a forced engine failure at 60 %, ${RESUME_CHARS.toLocaleString("en-US")} characters ==`);
  const r = await runJob({ client, voiceId: voice.voiceId, chars: RESUME_CHARS, worker, engine });
  const log = engineLog(engine.logFile, r.taskId);
  const started = log.filter((l) => l.event === "job_started");
  const failed = log.find((l) => l.event === "job_failed");
  const completed = log.find((l) => l.event === "job_completed");
  const total = started[0]?.segments ?? 0;
  const firstRendered = Number(/after (\d+) of/.exec(failed?.message ?? "")?.[1] ?? NaN);
  const secondRendered = completed?.rendered ?? NaN;
  const announcedTwice = [...r.segments.values()].filter((n) => n > 1).length;
  console.log(`- attempts: ${started.length} (the second with resume_from part ${started[1]?.resume_from ?? "?"}); parts: ${total}`);
  console.log(`- parts rendered: first attempt ${firstRendered}, resumed attempt ${secondRendered} (read back: ${completed?.reused ?? "?"}); rendered twice: ${firstRendered + secondRendered - total}`);
  console.log(`- listener: ${r.segments.size} parts announced, ${announcedTwice} announced twice; ${r.frames} live frames; status ${r.status}`);
  console.log(`- charged ${r.charged} of ${r.cost} credits (one capture); the failure was heard as "resuming" after ${sec(r.resumingMs)}; end after ${sec(r.endMs)}`);
  console.log(`- peak RSS: Worker (workerd) ${mib(r.workerdPeakMiB)}, dev engine ${mib(r.enginePeakMiB)}`);
}
await stopProcess(engine.proc);
await worker.stop();
process.exit(0);
