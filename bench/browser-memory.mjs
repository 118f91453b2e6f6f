#!/usr/bin/env node
// `npm run bench:browser-memory`: memory of the browser (and the Worker) while a long job plays
// (issue 11, "Benchmarks": memory flat in the length). Figures, not a pass/fail test.
//
// The Worker (`wrangler dev`, a frozen copy) with the development engine behind it at its
// defaults (no pacing: it renders far faster than real time). Debian's Chromium (never a
// downloaded one) signed in as the bench user. For each size (5,000 and 50,000 characters by
// default) the page opens /generate, fills the text and clicks Generate (the click makes the live
// player, which plays at once), and then, every second while the job runs, until the live stream
// has handed over to the final file, and for --after seconds more (the final player playing):
//   - the page's JS heap (CDP `Performance.getMetrics`: JSHeapUsedSize / JSHeapTotalSize;
//     `performance.memory` is off in headless);
//   - the resident set of the page's renderer process (/proc; AudioBuffers and media buffers
//     live outside the JS heap) and the proportional set size (PSS) of all of Chromium's
//     processes together (shared pages counted once);
//   - the resident set of workerd (the Worker and its Durable Objects, local D1/R2).
// Then the finished generation of the largest size on its history page (/history/:id): its
// player is pressed and sampled for --after seconds.
//
//   --sizes=5000,50000   text lengths
//   --after=20           seconds sampled after the handover (and on the history page)
//   --no-history         skip the history page
//   --no-build           reuse build/ as it is
//   --csv=FILE           write every sample (one line per second) to FILE
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { benchSecrets, machineLine, startBenchWorker } from "./lib/bench-stack.mjs";
import { freePort, installExitHandlers, sleep, startProcess, stopProcess, waitForHttp } from "./lib/procs.mjs";
import { prose } from "./lib/prose.mjs";
import { createBenchUser, createBenchVoice } from "./lib/setup-account.mjs";
import { CHROMIUM, CHROMIUM_ARGS } from "../test/e2e/support/browser.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const argv = process.argv.slice(2);
const opt = (name, dflt) => argv.find((a) => a.startsWith(`--${name}=`))?.split("=")[1] ?? dflt;
const SIZES = opt("sizes", "5000,50000").split(",").map(Number);
const AFTER_S = Number(opt("after", 20));
const HISTORY = !argv.includes("--no-history");
const BUILD = !argv.includes("--no-build");
const CSV = opt("csv", "");

const tmp = mkdtempSync(join(tmpdir(), "utter-browser-memory-"));
let context = null;
installExitHandlers(async () => {
  await context?.close().catch(() => {});
  console.error(`logs and state kept in ${tmp}`);
});

/** One process's /proc facts: parent, command name, command line, resident KiB; null when it is gone. */
function proc(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const close = stat.lastIndexOf(")");
    const comm = stat.slice(stat.indexOf("(") + 1, close);
    const ppid = Number(stat.slice(close + 2).split(" ")[1]);
    const pgid = Number(stat.slice(close + 2).split(" ")[2]);
    const rss = Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0);
    // A zygote-forked child rewrites its title into one string: split on spaces too.
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8").split(/[\0 ]/);
    return { pid, ppid, pgid, comm, cmdline, rss };
  } catch {
    return null;
  }
}

function allProcs() {
  return readdirSync("/proc")
    .filter((n) => /^\d+$/.test(n))
    .map((n) => proc(Number(n)))
    .filter(Boolean);
}

/** Proportional set size (KiB): shared pages split between the processes that map them, so a sum is honest. */
function pssKiB(pid) {
  try {
    return Number(/^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, "utf8"))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

/** Chromium's processes for our profile: the browser (its command line names the profile) and all below it. */
function chromiumProcs(profile) {
  const procs = allProcs();
  const top = procs.find(
    (p) => p.cmdline.some((a) => a === `--user-data-dir=${profile}`) && !p.cmdline.some((a) => a.startsWith("--type=")),
  );
  if (!top) return [];
  const out = [top];
  for (let grew = true; grew;) {
    grew = false;
    for (const p of procs) {
      if (out.includes(p) || !out.some((o) => o.pid === p.ppid)) continue;
      out.push(p);
      grew = true;
    }
  }
  return out;
}

function workerdRss(pgid) {
  return allProcs()
    .filter((p) => p.pgid === pgid && p.comm.includes("workerd"))
    .reduce((n, p) => Math.max(n, p.rss), 0);
}

async function startEngine(secrets) {
  const port = await freePort();
  const logFile = join(tmp, "dev-engine.log");
  const proc = startProcess("dev engine", "nice", ["-n", "5", process.execPath, join(root, "dev/engine/server.ts")], {
    cwd: root,
    env: {
      ...process.env,
      DEV_ENGINE_PORT: String(port),
      DEV_ENGINE_HOST: "127.0.0.1",
      ENGINE_TOKEN: secrets.ENGINE_TOKEN,
      DEV_ENGINE_REALTIME: "0",
    },
    logFile,
  });
  const url = `http://127.0.0.1:${port}`;
  await waitForHttp(`${url}/health`, { proc, timeoutMs: 60_000 });
  for (let i = 0; i < 300 && !(existsSync(logFile) && /espeak_(ready|unavailable)/.test(readFileSync(logFile, "utf8"))); i++)
    await sleep(100);
  return { proc, url };
}

/** `chars` characters of prose (repeated past its own length), cut at a sentence end. */
function text(chars) {
  let out = "";
  while (out.length < chars) out += prose(Infinity) + "\n\n";
  const head = out.slice(0, chars);
  const cut = Math.max(head.lastIndexOf(". "), head.lastIndexOf("? "), head.lastIndexOf("! "), head.lastIndexOf(".\n"));
  return head.slice(0, cut + 1);
}

const samples = [];

/** One sample: the page's heap (CDP), the renderer's and all of Chromium's RSS, workerd's RSS, and what the page shows. */
async function sample({ cdp, profile, worker, label, t0, extra }) {
  const { metrics } = await cdp.send("Performance.getMetrics");
  const m = Object.fromEntries(metrics.map((x) => [x.name, x.value]));
  const chrome = chromiumProcs(profile);
  const renderers = chrome.filter((p) => p.cmdline.includes("--type=renderer"));
  const s = {
    label,
    t: Math.round((performance.now() - t0) / 1000),
    jsUsedMiB: m.JSHeapUsedSize / 2 ** 20,
    jsTotalMiB: m.JSHeapTotalSize / 2 ** 20,
    // The page's renderer is the largest one (a spare renderer may sit beside it).
    rendererMiB: renderers.reduce((n, p) => Math.max(n, p.rss), 0) / 1024,
    chromiumMiB: chrome.reduce((n, p) => n + pssKiB(p.pid), 0) / 1024,
    workerdMiB: workerdRss(worker.proc.child.pid) / 1024,
    ...(await extra()),
  };
  samples.push(s);
  return s;
}

const peak = (rows, key) => rows.reduce((n, r) => Math.max(n, r[key]), 0);
const mib = (x) => `${x.toFixed(0)} MiB`;

/** Generates `chars` characters from the page and samples every second until handover + AFTER_S. */
async function runSize({ page, cdp, profile, worker, voiceId, chars, label }) {
  await page.goto(`${worker.origin}/generate?voice=${voiceId}`);
  await page.getByLabel("Text").fill(text(chars));
  const t0 = performance.now();
  await page.getByTestId("generate-submit").click();
  const run = page.getByTestId("task-run");
  await run.waitFor({ timeout: 60_000 });
  const taskId = await run.getAttribute("data-task-id");
  const extra = () =>
    page.evaluate(() => {
      const r = document.querySelector("[data-testid=task-run]");
      return {
        status: r?.getAttribute("data-status") ?? "",
        handedOver: r?.getAttribute("data-handed-over") === "true",
        live: document.querySelector("[data-testid=live-player] .live-meta .muted")?.textContent ?? "",
        finalTime: Number(document.querySelector("[data-testid=final-player]")?.getAttribute("data-time") ?? NaN),
      };
    });
  const rows = [];
  let doneAt = null;
  let handedAt = null;
  for (;;) {
    const next = performance.now() + 1000;
    const s = await sample({ cdp, profile, worker, label, t0, extra });
    rows.push(s);
    if (doneAt === null && ["succeeded", "failed", "cancelled"].includes(s.status)) doneAt = s.t;
    if (handedAt === null && s.handedOver) handedAt = s.t;
    if (label !== "warm-up" && s.t % 30 === 0)
      console.log(
        `  ${label} t=${s.t}s ${s.status} heap ${mib(s.jsUsedMiB)} renderer ${mib(s.rendererMiB)} chromium ${mib(s.chromiumMiB)} workerd ${mib(s.workerdMiB)} · ${s.live}`,
      );
    const settled = doneAt !== null && (handedAt !== null || s.status !== "succeeded");
    if (settled && s.t >= (handedAt ?? doneAt) + AFTER_S) break;
    if (doneAt !== null && s.t > doneAt + 120) break; // never handed over: stop anyway
    const wait = next - performance.now();
    if (wait > 0) await sleep(wait);
  }
  const during = rows.filter((r) => doneAt === null || r.t <= (handedAt ?? doneAt));
  const after = rows.filter((r) => r.t > (handedAt ?? doneAt ?? Infinity));
  const finalPlaying = after.length > 1 && after.at(-1).finalTime > after[0].finalTime;
  return { taskId, rows, during, after, doneAt, handedAt, finalPlaying, status: rows.at(-1).status };
}

/** The finished generation's history page: press its player, sample AFTER_S seconds. */
async function runHistory({ page, cdp, profile, worker, client, taskId }) {
  const task = await client.json(`/api/tasks/${taskId}`);
  const generationId = task.result?.generation_id ?? task.task?.result?.generation_id ?? task.generation_id ?? task.task?.generation_id;
  if (!generationId) return null;
  const t0 = performance.now();
  await page.goto(`${worker.origin}/history/${generationId}`);
  const player = page.locator("[data-testid^=take-player-]").first();
  await player.waitFor({ timeout: 60_000 });
  const extra = () =>
    page.evaluate(() => {
      const p = document.querySelector("[data-testid^=take-player-]");
      return { state: p?.getAttribute("data-state") ?? "", finalTime: Number(p?.getAttribute("data-time") ?? NaN) };
    });
  const rows = [];
  let pressed = false;
  for (let i = 0; i < AFTER_S + 120; i++) {
    const next = performance.now() + 1000;
    const s = await sample({ cdp, profile, worker, label: "history", t0, extra });
    rows.push(s);
    if (!pressed && s.state === "ready") {
      await player.locator("button.play-button").click();
      pressed = s.t;
    }
    if (pressed !== false && s.t >= pressed + AFTER_S) break;
    const wait = next - performance.now();
    if (wait > 0) await sleep(wait);
  }
  return { generationId, rows, readyAt: pressed, playedTo: rows.at(-1).finalTime };
}

const secrets = benchSecrets();
const load0 = loadavg()[0];
console.log(machineLine("Utter browser memory benchmark (dev engine, Chromium)"));
const { worker, stub } = await startBenchWorker({ root, tmp, secrets, build: BUILD });
await stub.close();
const engine = await startEngine(secrets);
await worker.stop();
await worker.start(engine.url);
const { client, user } = await createBenchUser(worker);
const voice = await createBenchVoice(worker, client, user.id);

const profile = mkdtempSync(join(tmp, "profile-"));
context = await chromium.launchPersistentContext(profile, {
  executablePath: CHROMIUM,
  headless: false, // "--headless" is in args
  args: CHROMIUM_ARGS,
  viewport: { width: 1280, height: 800 },
});
await context.addCookies([...client.cookies].map(([name, value]) => ({ name, value, url: worker.origin })));
const page = await context.newPage();
const cdp = await context.newCDPSession(page);
await cdp.send("Performance.enable");

// A warm-up job (first eSpeak use, page code paths), not counted.
await runSize({ page, cdp, profile, worker, voiceId: voice.voiceId, chars: 400, label: "warm-up" });

const results = [];
for (const chars of SIZES) {
  const label = `${chars}`;
  console.log(`\n-- ${chars.toLocaleString("en-US")} characters --`);
  const r = await runSize({ page, cdp, profile, worker, voiceId: voice.voiceId, chars, label });
  results.push({ chars, ...r });
}
let history = null;
if (HISTORY && results.length) {
  const largest = results.reduce((a, b) => (b.chars > a.chars ? b : a));
  console.log(`\n-- history page of the ${largest.chars.toLocaleString("en-US")}-character generation --`);
  history = await runHistory({ page, cdp, profile, worker, client, taskId: largest.taskId });
  if (history) history.chars = largest.chars;
}

console.log("\n== Peak memory while the job runs and plays live (sampled every second) ==");
console.log("| characters | job ran | live → final | JS heap used (total) | renderer RSS | all Chromium PSS | Worker (workerd) RSS |");
console.log("|---|---|---|---|---|---|---|");
for (const r of results) {
  console.log(
    `| ${r.chars.toLocaleString("en-US")} | ${r.doneAt ?? "—"} s (${r.status}) | ${r.handedAt ?? "—"} s | ${mib(peak(r.during, "jsUsedMiB"))} (${mib(peak(r.during, "jsTotalMiB"))}) | ${mib(peak(r.during, "rendererMiB"))} | ${mib(peak(r.during, "chromiumMiB"))} | ${mib(peak(r.during, "workerdMiB"))} |`,
  );
}
console.log(`\n== Peak memory in the ${AFTER_S} s after the handover (the final player, Range-streamed with the peaks artifact) ==`);
console.log("| characters | final playing | JS heap used | renderer RSS | all Chromium PSS |");
console.log("|---|---|---|---|---|");
for (const r of results) {
  console.log(
    `| ${r.chars.toLocaleString("en-US")} | ${r.finalPlaying ? "yes" : "no"} | ${mib(peak(r.after, "jsUsedMiB"))} | ${mib(peak(r.after, "rendererMiB"))} | ${mib(peak(r.after, "chromiumMiB"))} |`,
  );
}
if (history) {
  console.log(
    `\n== History page (/history/:id) of the ${history.chars.toLocaleString("en-US")}-character generation, its player pressed ==`,
  );
  console.log(
    `player ready after ${history.readyAt === false ? "never" : `${history.readyAt} s`}, played to ${history.playedTo.toFixed(1)} s; peak JS heap ${mib(peak(history.rows, "jsUsedMiB"))}, renderer ${mib(peak(history.rows, "rendererMiB"))}, all Chromium ${mib(peak(history.rows, "chromiumMiB"))}`,
  );
}
console.log(
  `\nload at the start ${load0.toFixed(2)}, at the end ${loadavg()[0].toFixed(2)} (Chromium, wrangler dev, the engine and other work share these cores)`,
);
if (CSV) {
  const keys = [
    "label",
    "t",
    "jsUsedMiB",
    "jsTotalMiB",
    "rendererMiB",
    "chromiumMiB",
    "workerdMiB",
    "status",
    "live",
    "finalTime",
    "state",
  ];
  writeFileSync(CSV, [keys.join(","), ...samples.map((s) => keys.map((k) => JSON.stringify(s[k] ?? "")).join(","))].join("\n") + "\n");
}
await context.close();
context = null;
await stopProcess(engine.proc);
await worker.stop();
rmSync(tmp, { recursive: true, force: true });
process.exit(0);
