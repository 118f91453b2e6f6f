#!/usr/bin/env node
// The one local command: prepares secrets, builds the Remix app, applies D1
// migrations to the local database, then runs the development engine beside
// `wrangler dev` (local D1, R2, Queues and Durable Objects) until Ctrl-C.
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const bin = (name) => join(root, "node_modules", ".bin", name);
const port = process.env.PORT ?? "8787";
// wrangler looks up Cloudflare hosts at start; offline that can hang for seconds.
const env = { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_SEND_METRICS: "false" };

function ensureDevVars() {
  const path = join(root, ".dev.vars");
  if (existsSync(path)) return;
  const example = readFileSync(join(root, ".dev.vars.example"), "utf8");
  writeFileSync(path, example.replace(/replace-with-32-or-more-random-characters/g, () => randomBytes(24).toString("hex")));
  console.log("created .dev.vars with fresh random secrets");
}

function readDevVar(name) {
  const line = readFileSync(join(root, ".dev.vars"), "utf8")
    .split("\n")
    .find((l) => l.startsWith(`${name}=`));
  return line?.slice(name.length + 1).trim();
}

function step(label, cmd, args) {
  console.log(`\n▶ ${label}`);
  const r = spawnSync(cmd, args, { cwd: root, stdio: "inherit", env });
  if (r.status !== 0) {
    console.error(`✗ ${label} failed`);
    process.exit(r.status ?? 1);
  }
}

ensureDevVars();
// The engine decodes MP3/M4A/OGG/WEBM/FLAC references with ffmpeg; without it only WAV can be cloned.
if (spawnSync("bash", [join(root, "dev/ensure-ffmpeg.sh")], { cwd: root, stdio: "inherit", env }).status !== 0) {
  console.warn("⚠ without ffmpeg the development engine can clone only from WAV references");
}
step("build the Remix app", bin("remix"), ["vite:build"]);
step("apply D1 migrations locally", bin("wrangler"), ["d1", "migrations", "apply", "DB", "--local"]);

const children = new Set();
let stopping = false;
function shutdown(code) {
  if (stopping) return;
  stopping = true;
  clearTimeout(engineRestartTimer);
  for (const c of children) if (c.exitCode === null) c.kill("SIGTERM");
  setTimeout(() => process.exit(code), 500);
}
process.on("SIGINT", () => shutdown(0));
process.on("SIGTERM", () => shutdown(0));

function start(cmd, args, extraEnv, onExit) {
  const child = spawn(cmd, args, { cwd: root, stdio: "inherit", env: { ...env, ...extraEnv } });
  children.add(child);
  child.on("exit", (code, signal) => {
    children.delete(child);
    if (!stopping) onExit(code, signal);
  });
  return child;
}

// The engine may crash (or be killed to try what the page says): it is restarted with backoff,
// 1 s doubling to 30 s, back to 1 s once it has stayed up for a minute. wrangler dev stays up meanwhile;
// jobs the dead engine was running fail at the Worker's heartbeat deadline (or are cancelled).
const ENGINE_BACKOFF_MS = { first: 1000, max: 30_000, healthyAfter: 60_000 };
let engineRestartTimer;
let engineDelay = ENGINE_BACKOFF_MS.first;
function startEngine(engineEnv) {
  const startedAt = Date.now();
  start(process.execPath, [join(root, "dev/engine/server.ts")], engineEnv, (code, signal) => {
    if (Date.now() - startedAt >= ENGINE_BACKOFF_MS.healthyAfter) engineDelay = ENGINE_BACKOFF_MS.first;
    console.log(`dev engine exited (${signal ?? code}); restarting it in ${engineDelay / 1000} s (wrangler dev keeps running)`);
    engineRestartTimer = setTimeout(() => startEngine(engineEnv), engineDelay);
    engineDelay = Math.min(ENGINE_BACKOFF_MS.max, engineDelay * 2);
  });
}

const enginePort = process.env.DEV_ENGINE_PORT ?? "8788";
startEngine({
  ENGINE_TOKEN: readDevVar("ENGINE_TOKEN") ?? "dev-engine-token",
  DEV_ENGINE_PORT: enginePort,
});
const wranglerArgs = [
  "dev",
  "--port",
  port,
  "--ip",
  "127.0.0.1",
  // The origin follows the port, so a second stack (tests, benchmarks) can run beside yours.
  "--var",
  `APP_URL:http://localhost:${port}`,
  "--var",
  `TRUSTED_ORIGINS:http://localhost:${port},http://127.0.0.1:${port}`,
  "--var",
  `ENGINE_URL:http://127.0.0.1:${enginePort}`,
];
// wrangler dev is the stack: when it goes, everything goes.
start(bin("wrangler"), wranglerArgs, {}, (code, signal) => {
  console.log(`wrangler dev exited (${signal ?? code}); stopping the engine`);
  shutdown(code ?? 1);
});
console.log(`\nUtter is starting at http://localhost:${port} (engine on :${enginePort}). Ctrl-C stops both; a crashed engine is restarted.\n`);
