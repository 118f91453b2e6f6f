#!/usr/bin/env node
// `npm run bench`: pipeline latency of the local stack, printed and written to
// docs/benchmarks.md ("## Pipeline latency"). Self-contained: builds, migrates
// a throw-away D1, runs its own `wrangler dev` (free ports, own persist dir)
// and engines, and stops every child process when it ends. The Worker runs
// from a copy of the tree taken at the start (see LocalWorker.snapshot), so
// edits and rebuilds made meanwhile by others do not reload it mid-run.
//
//   --no-build     reuse build/ as it is
//   --only=a|b     one phase
//   --runs=N       phase B (and engine-only baseline) repeats per text size (default 30)
//   --events=N     phase A progress events (default 200)
//   --no-write     print only, leave docs/benchmarks.md alone
//   --keep         keep the temp dir (logs, D1/R2 state)
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { availableParallelism, cpus, loadavg, tmpdir, totalmem } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { runPhaseA } from "./lib/phase-a.mjs";
import { runGeneration } from "./lib/phase-b.mjs";
import { runEngineOnly, startCallbackReceiver, waitForEngineIdle } from "./lib/engine-baseline.mjs";
import {
  installExitHandlers,
  isStopping,
  freePort,
  runCommand,
  sleep,
  startProcess,
  stopAll,
  stopProcess,
  waitForHttp,
} from "./lib/procs.mjs";
import { createBenchUser, createBenchVoice } from "./lib/setup-account.mjs";
import { startStubEngine } from "./lib/stub-engine.mjs";
import { LocalWorker } from "./lib/wrangler.mjs";
import { benchSecrets } from "./lib/bench-stack.mjs";
import { baselineTable, breakdownTable, phaseATables, phaseBTable } from "./lib/format-results.mjs";
import { interpretation } from "./lib/interpret.mjs";
import { writeSection } from "./lib/report-doc.mjs";
import { seconds } from "./lib/stats.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const argv = process.argv.slice(2);
const flag = (name) => argv.includes(`--${name}`);
const opt = (name, dflt) => argv.find((a) => a.startsWith(`--${name}=`))?.split("=")[1] ?? dflt;
const only = opt("only", null);
const runs = Number(opt("runs", 30));
const events = Number(opt("events", 200));
const SIZES = [1000, 5000];

const tmp = mkdtempSync(join(tmpdir(), "utter-bench-"));
let succeeded = false;
const cleanup = async (ok = succeeded) => {
  if (ok && !flag("keep")) rmSync(tmp, { recursive: true, force: true });
  else console.error(`logs and state kept in ${tmp}`);
};
installExitHandlers(cleanup);

/** Retries a measurement that broke (e.g. wrangler reloaded because someone edited worker/ meanwhile). */
const retrying = async (label, fn, tries = 3) => {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (err) {
      if (i >= tries || isStopping()) throw err;
      console.log(`  ${label} failed (${err.message.split("\n")[0]}); retrying`);
      await sleep(3000);
    }
  }
};

const step = async (label, fn) => {
  process.stdout.write(`▶ ${label}… `);
  const t = performance.now();
  const r = await fn();
  console.log(`${seconds(performance.now() - t)}`);
  return r;
};

const secrets = benchSecrets();
const machine = {
  date: new Date().toISOString().slice(0, 16).replace("T", " ") + " UTC",
  nproc: availableParallelism(),
  cpu: cpus()[0]?.model ?? "unknown",
  memGiB: Math.round(totalmem() / 2 ** 30),
  node: process.version,
  loadStart: loadavg()[0],
  wrangler: JSON.parse(readFileSync(join(root, "node_modules/wrangler/package.json"), "utf8")).version,
};
console.log(
  `Utter pipeline benchmark — ${machine.date}, ${machine.cpu} × ${machine.nproc}, ${machine.memGiB} GiB, Node ${machine.node}, wrangler ${machine.wrangler}`,
);
console.log(`temp dir ${tmp}\n`);

if (!flag("no-build"))
  await step("build (remix vite:build)", () =>
    runCommand(join(root, "node_modules/.bin/remix"), ["vite:build"], { cwd: root, env: process.env }),
  );
const worker = new LocalWorker({ root, tmp, secrets });
await step("snapshot the Worker (worker/, durable-objects/, build/, …) into the temp dir", () => worker.snapshot());
await step("apply D1 migrations to a fresh local database", () => worker.migrate());
const stub = await startStubEngine(secrets.ENGINE_TOKEN);
const ready1 = await step(`start wrangler dev (engine = bench stub at ${stub.url})`, () => worker.start(stub.url));
console.log(`  Worker at ${worker.origin}, /api/health answered ${seconds(ready1)} after start`);
const { client, user } = await step("sign up a user, set plan=studio and +100000 credits in D1", () => createBenchUser(worker));
const voice = await step("create a voice (12 s WAV)", () => createBenchVoice(worker, client, user.id));
console.log(
  `  voice ${voice.voiceId} via ${voice.via === "api" ? "POST /api/voices" : "wrangler d1/r2 (fallback)"}${voice.note ? ` — ${voice.note}` : ""}`,
);

let a = null;
if (only !== "b") {
  console.log(`\n== Phase A: engine event → client latency (bench plays the engine) ==`);
  a = await retrying("phase A", () => runPhaseA({ client, stub, voiceId: voice.voiceId, events }));
  const t = phaseATables(a);
  console.log(`\n${t.latency}\n\n${t.engineSide}\n\n${t.counts}`);
}
await stub.close();

let b = null;
let devEngine = null;
if (only !== "a") {
  console.log(`\n== Phase B: time to first playable segment (development engine) ==`);
  const server = join(root, "dev/engine/server.ts");
  for (let waited = 0; !existsSync(server); waited += 10) {
    if (waited >= 600) throw new Error("dev/engine/server.ts did not appear within 10 minutes");
    if (waited === 0) console.log("  waiting for dev/engine/server.ts to exist…");
    await sleep(10_000);
  }
  const port = await freePort();
  const engineLog = join(tmp, "dev-engine.log");
  devEngine = startProcess("dev engine", process.execPath, [server], {
    cwd: root,
    env: { ...process.env, DEV_ENGINE_PORT: String(port), DEV_ENGINE_HOST: "127.0.0.1", ENGINE_TOKEN: secrets.ENGINE_TOKEN },
    logFile: engineLog,
  });
  await step(`start the development engine on :${port}`, async () => {
    await waitForHttp(`http://127.0.0.1:${port}/health`, { proc: devEngine, timeoutMs: 60_000 });
    for (let i = 0; i < 300 && !/espeak_(ready|unavailable)/.test(readFileSync(engineLog, "utf8")); i++) await sleep(100);
  });
  await worker.stop();
  const ready2 = await step("restart wrangler dev with ENGINE_URL = the development engine", () =>
    worker.start(`http://127.0.0.1:${port}`),
  );
  console.log(`  ready ${seconds(ready2)} after start`);
  const engineUrl = `http://127.0.0.1:${port}`;
  const receiver = await startCallbackReceiver();
  // Every run starts on an idle engine: the previous job (and its MP3 step) has finished.
  const idle = async () => waitForEngineIdle(engineUrl);
  const gen = async (chars) => {
    await idle();
    return runGeneration({ client, voiceId: voice.voiceId, chars, engineLog, workerLog: worker.proc.logFile });
  };
  const engineOnly = async (chars) => {
    await idle();
    return runEngineOnly({ engineUrl, engineToken: secrets.ENGINE_TOKEN, receiver, chars });
  };
  // The first job after a start pays for cold code paths (Worker isolate, DO, eSpeak's wasm): shown, not counted.
  const warm = await retrying("warm-up", () => gen(SIZES[0]));
  b = { warm };
  console.log(
    `  warm-up (${warm.chars} chars, not counted): first segment ${seconds(warm.firstSegment)}, playable ${seconds(warm.playable)}, completed ${seconds(warm.completed)}`,
  );
  await retrying("engine-only warm-up", () => engineOnly(SIZES[0]));
  b.runs = Object.fromEntries(SIZES.map((c) => [c, []]));
  b.baseline = Object.fromEntries(SIZES.map((c) => [c, []]));
  // Sizes alternate, and each pipeline run is paired with an engine-only run, so drift (warming up,
  // other load on the machine) favours neither a size nor the pipeline over the baseline.
  for (let i = 0; i < runs; i++) {
    for (const chars of SIZES) {
      const base = await retrying(`engine-only ${chars} chars #${i + 1}`, () => engineOnly(chars));
      b.baseline[chars].push(base);
      const r = await retrying(`${chars} chars #${i + 1}`, () => gen(chars));
      b.runs[chars].push(r);
      console.log(
        `  ${r.chars} chars #${i + 1}: first segment ${seconds(r.firstSegment)}, playable ${seconds(r.playable)}, completed ${seconds(r.completed)}, ` +
          `${r.segments} segments, final ${seconds(r.finalMs)} vs Σ segments ${seconds(r.sumSegMs)}`,
      );
    }
  }
  await receiver.close();
  console.log(
    `\n${phaseBTable(b.runs)}\n\n¹ from the development engine's log (wall clock, ms precision).\n\n${breakdownTable(b.runs)}\n\n${baselineTable(b.runs, b.baseline)}`,
  );
}

machine.loadEnd = loadavg()[0];
await worker.stop();
await stopProcess(devEngine);
await stopAll();

if (!flag("no-write")) {
  const how = writeSection(join(root, "docs/benchmarks.md"), interpretation({ machine, a, b, voice, runs }));
  console.log(`\ndocs/benchmarks.md: "## Pipeline latency" ${how}`);
}
succeeded = true;
await cleanup(true);
process.exit(0);
