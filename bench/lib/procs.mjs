// Child processes for the benchmark: each runs in its own process group
// (detached), so stopping it also stops what it started (wrangler → workerd,
// esbuild). Every group is killed when the bench exits, however it exits.
import { spawn } from "node:child_process";
import { createWriteStream } from "node:fs";
import { createServer } from "node:net";

const groups = new Set();

/** Starts a long-running command; its output goes to `logFile`. */
export function startProcess(label, cmd, args, { cwd, env, logFile }) {
  const out = createWriteStream(logFile, { flags: "a" });
  const child = spawn(cmd, args, { cwd, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  child.stdout.pipe(out);
  child.stderr.pipe(out);
  const entry = { label, child, logFile, exited: false };
  child.on("exit", () => {
    entry.exited = true;
    groups.delete(entry);
  });
  groups.add(entry);
  return entry;
}

/** Runs a command to completion; rejects with its output when it fails. */
export function runCommand(cmd, args, { cwd, env, quiet = true }) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
    const entry = { label: cmd, child, exited: false };
    groups.add(entry);
    let output = "";
    const onData = (d) => {
      output += d;
      if (!quiet) process.stdout.write(d);
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.on("error", reject);
    child.on("exit", (code, signal) => {
      entry.exited = true;
      groups.delete(entry);
      if (code === 0) resolve(output);
      else reject(new Error(`${cmd} ${args.join(" ")} failed (${signal ?? code}):\n${output.slice(-4000)}`));
    });
  });
}

function killGroup(entry, signal) {
  try {
    process.kill(-entry.child.pid, signal);
  } catch {
    // already gone
  }
}

/** Stops one process group: SIGTERM, then SIGKILL after `graceMs`. */
export async function stopProcess(entry, graceMs = 3000) {
  if (!entry || entry.exited) return;
  const gone = new Promise((r) => entry.child.once("exit", r));
  killGroup(entry, "SIGTERM");
  const timer = setTimeout(() => killGroup(entry, "SIGKILL"), graceMs);
  await gone;
  clearTimeout(timer);
  killGroup(entry, "SIGKILL"); // grandchildren that ignored SIGTERM
}

export async function stopAll() {
  await Promise.all([...groups].map((g) => stopProcess(g)));
}

let installed = false;
let stopping = false;
/** True once the bench is shutting down (Ctrl-C, crash): nothing should be retried. */
export const isStopping = () => stopping;
/** Kills every group on exit, Ctrl-C, SIGTERM or a crash. `cleanup` runs after the kill (sync or async). */
export function installExitHandlers(cleanup) {
  if (installed) return;
  installed = true;
  process.on("exit", () => {
    for (const g of groups) killGroup(g, "SIGKILL");
  });
  const bail = async (why, code) => {
    if (stopping) return;
    stopping = true;
    console.error(`\n${why}: stopping child processes…`);
    await stopAll();
    await cleanup?.(false);
    process.exit(code);
  };
  process.on("SIGINT", () => void bail("interrupted", 130));
  process.on("SIGTERM", () => void bail("terminated", 143));
  process.on("uncaughtException", (err) => {
    console.error(err);
    void bail("crashed", 1);
  });
  process.on("unhandledRejection", (err) => {
    console.error(err);
    void bail("crashed", 1);
  });
}

/** A port that was free a moment ago (bound to port 0 and released). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls `url` until `ok(res)` or the process dies or `timeoutMs` passes. */
export async function waitForHttp(url, { timeoutMs = 60_000, ok = (r) => r.ok, proc, failOn } = {}) {
  const started = Date.now();
  let last = "no answer";
  while (Date.now() - started < timeoutMs) {
    if (proc?.exited) throw new Error(`${proc.label} exited before ${url} answered (log: ${proc.logFile})`);
    const failure = failOn?.();
    if (failure) throw new Error(`${proc?.label ?? url} failed to start: ${failure}${proc ? ` (log: ${proc.logFile})` : ""}`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      if (ok(res)) return Date.now() - started;
      last = `HTTP ${res.status}: ${(await res.text()).slice(0, 200)}`;
    } catch (err) {
      last = err.cause?.code ?? err.message;
    }
    await sleep(200);
  }
  throw new Error(`${url} not ready after ${timeoutMs} ms (${last})${proc ? `; log: ${proc.logFile}` : ""}`);
}
