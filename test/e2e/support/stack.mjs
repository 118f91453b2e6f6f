// Starts the whole product the way a developer does (`node dev/run.mjs`:
// build, local D1 migrations, dev engine, wrangler dev) on free ports, and
// stops its process group afterwards. UTTER_E2E_URL points the tests at a
// stack that is already running instead.
import { spawn } from "node:child_process";
import { createWriteStream } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");

function freePort() {
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

async function waitForHealth(url, child, log, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child && child.exitCode !== null)
      throw new Error(`dev/run.mjs exited with ${child.exitCode} before it was healthy:\n${log.join("").slice(-4000)}`);
    try {
      const res = await fetch(`${url}/api/health`);
      if (res.ok) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`the stack did not become healthy at ${url} within ${timeoutMs} ms:\n${log.join("").slice(-4000)}`);
}

/**
 * @param {{ env?: Record<string,string>, timeoutMs?: number }} [opts]
 * @returns {Promise<{ url: string, stop: () => Promise<void>, log: string[], logPath?: string, pid?: number }>}
 */
export async function startStack(opts = {}) {
  if (process.env.UTTER_E2E_URL) {
    const url = process.env.UTTER_E2E_URL.replace(/\/+$/, "");
    await waitForHealth(url, null, [], 10_000);
    return { url, stop: async () => {}, log: [] };
  }
  const port = await freePort();
  let enginePort = await freePort();
  while (enginePort === port) enginePort = await freePort();
  const log = [];
  const child = spawn(process.execPath, [join(repoRoot, "dev/run.mjs")], {
    cwd: repoRoot,
    // Its own process group, so stopping it stops wrangler, workerd and the engine too.
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, PORT: String(port), DEV_ENGINE_PORT: String(enginePort), ...opts.env },
  });
  // Everything the stack prints goes to a file, to read when a test fails.
  const logPath = join(tmpdir(), `utter-e2e-stack-${port}.log`);
  const logFile = createWriteStream(logPath);
  for (const stream of [child.stdout, child.stderr]) {
    stream.on("data", (d) => {
      log.push(String(d));
      if (log.length > 2000) log.splice(0, log.length - 2000);
      logFile.write(d);
    });
  }
  // The origin must be the APP_URL run.mjs gives wrangler (http://localhost:PORT), or CSRF checks refuse our forms.
  const url = `http://localhost:${port}`;
  const stop = async () => {
    if (child.exitCode !== null) return;
    const exited = new Promise((r) => child.once("exit", r));
    try {
      process.kill(-child.pid, "SIGTERM");
    } catch {
      return;
    }
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {
        // already gone
      }
    }, 5_000);
    await exited;
    clearTimeout(timer);
    logFile.end();
    // run.mjs exits first; make sure nothing of its group is left behind.
    try {
      process.kill(-child.pid, "SIGKILL");
    } catch {
      // already gone
    }
  };
  try {
    await waitForHealth(url, child, log, opts.timeoutMs ?? 180_000);
  } catch (err) {
    await stop();
    throw err;
  }
  return { url, stop, log, logPath, pid: child.pid };
}
