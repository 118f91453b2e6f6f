// Starts the README's dev command (node dev/run.mjs) on spare ports and waits
// until the Worker answers /api/health; stop() kills the whole process group.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { createServer } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

async function freePort() {
  const srv = createServer().listen(0, "127.0.0.1");
  await once(srv, "listening");
  const { port } = srv.address();
  srv.close();
  return port;
}

export async function startDevStack({ timeoutMs = 180_000, env = {} } = {}) {
  const port = await freePort();
  const enginePort = await freePort();
  const child = spawn(process.execPath, [join(root, "dev/run.mjs")], {
    cwd: root,
    detached: true,
    env: { ...process.env, PORT: String(port), DEV_ENGINE_PORT: String(enginePort), ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let log = "";
  child.stdout.on("data", (d) => (log += d));
  child.stderr.on("data", (d) => (log += d));
  const origin = `http://localhost:${port}`;
  const stop = () => {
    try {
      process.kill(-child.pid, "SIGTERM");
    } catch {
      // already gone
    }
  };
  const started = Date.now();
  for (;;) {
    if (child.exitCode !== null) throw new Error(`dev stack exited early:\n${log.slice(-4000)}`);
    try {
      const res = await fetch(`${origin}/api/health`);
      if (res.ok) break;
    } catch {
      // not up yet
    }
    if (Date.now() - started > timeoutMs) {
      stop();
      throw new Error(`dev stack did not become healthy in ${timeoutMs} ms:\n${log.slice(-4000)}`);
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  return { origin, port, enginePort, pid: child.pid, stop, log: () => log };
}
