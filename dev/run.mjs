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

const children = [];
function start(label, cmd, args, extraEnv = {}) {
  const child = spawn(cmd, args, { cwd: root, stdio: "inherit", env: { ...env, ...extraEnv } });
  child.on("exit", (code, signal) => {
    console.log(`${label} exited (${signal ?? code}); stopping the rest`);
    shutdown(code ?? 0);
  });
  children.push(child);
}
let stopping = false;
function shutdown(code) {
  if (stopping) return;
  stopping = true;
  for (const c of children) if (c.exitCode === null) c.kill("SIGTERM");
  setTimeout(() => process.exit(code), 500);
}
process.on("SIGINT", () => shutdown(0));
process.on("SIGTERM", () => shutdown(0));

const enginePort = process.env.DEV_ENGINE_PORT ?? "8788";
start("dev engine", process.execPath, [join(root, "dev/engine/server.ts")], {
  ENGINE_TOKEN: readDevVar("ENGINE_TOKEN") ?? "dev-engine-token",
  DEV_ENGINE_PORT: enginePort,
});
start("wrangler dev", bin("wrangler"), [
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
]);
console.log(`\nUtter is starting at http://localhost:${port} (engine on :${enginePort}). Ctrl-C stops both.\n`);
