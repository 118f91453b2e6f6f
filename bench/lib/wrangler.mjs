// The local Worker under test: migrations, D1/R2 pokes through the wrangler
// CLI, and `wrangler dev` on its own ports and persist dir (so it can run
// beside `npm run dev`, which uses 8787/8788 and .wrangler/state).
import { cpSync, existsSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { freePort, runCommand, sleep, startProcess, stopProcess, waitForHttp } from "./procs.mjs";

const SNAPSHOT = ["worker", "durable-objects", "build", "migrations", "wrangler.toml", "package.json", "tsconfig.json"];

export function wranglerEnv() {
  // The cf look-up at start can hang offline; metrics would phone home. X_LOCAL_OBSERVABILITY:
  // wrangler dev's local trace store (its "local explorer") writes every invocation's trace to a
  // SQLite file with an fsync on the runtime's only thread, ≈ 20 a second at 20 frames/s; it is no
  // part of the product or of Cloudflare's runtime, so the benches measure without it (--traces keeps it).
  const traces = process.argv.includes("--traces");
  return {
    ...process.env,
    CLOUDFLARE_CF_FETCH_ENABLED: "false",
    WRANGLER_SEND_METRICS: "false",
    NO_COLOR: "1",
    ...(traces ? {} : { X_LOCAL_OBSERVABILITY: process.env.X_LOCAL_OBSERVABILITY ?? "false" }),
    // --gc: the runtime's V8 prints each garbage collection (miniflare passes these flags to workerd).
    ...(process.argv.includes("--gc") ? { MINIFLARE_WORKERD_V8_FLAGS: "--trace-gc" } : {}),
  };
}

/**
 * The snapshot's node_modules: hard links where the file system allows (one `cp -al`, under a
 * second), a symlink otherwise. With a symlink, wrangler dev's bundler resolved the packages to
 * the repo's own node_modules and watched from there, and edits in the repo (its package.json, its
 * README) reloaded the Worker mid-run ("Reloading local server…"), dropping every socket.
 */
function linkModules(from, to) {
  try {
    execFileSync("cp", ["-al", from, to], { stdio: "ignore" });
  } catch {
    rmSync(to, { recursive: true, force: true });
    symlinkSync(from, to, "dir");
  }
}

export class LocalWorker {
  /** @param {{root: string, tmp: string, secrets: Record<string,string>, persist?: string}} opts `persist`: the local D1/R2/DO state (default `tmp/state`) */
  constructor({ root, tmp, secrets, persist }) {
    this.root = root;
    this.tmp = tmp;
    this.persist = persist ?? join(tmp, "state");
    this.bin = join(root, "node_modules", ".bin", "wrangler");
    // wrangler reads secrets from --env-file (and then skips the repo's .dev.vars).
    this.envFile = join(tmp, "bench.env");
    writeFileSync(
      this.envFile,
      Object.entries(secrets)
        .map(([k, v]) => `${k}=${v}`)
        .join("\n") + "\n",
      { mode: 0o600 },
    );
    this.cwd = root;
    this.proc = null;
    this.port = null;
    this.starts = 0;
  }

  get origin() {
    return `http://127.0.0.1:${this.port}`;
  }

  /**
   * Freezes what the Worker is made of (worker/, durable-objects/, build/,
   * migrations/, wrangler.toml, package.json, tsconfig.json; node_modules
   * linked) into the temp dir, and runs every wrangler command there. Other
   * engineers edit worker/ and rebuild build/ while the bench runs; `wrangler
   * dev` watches its sources and would reload (dropping sockets) or fail to
   * bundle mid-measurement. Waits for a complete build/ first.
   */
  async snapshot() {
    const dest = join(this.tmp, "app");
    for (let attempt = 0; ; attempt++) {
      try {
        if (!existsSync(join(this.root, "build/server/index.js")) || !existsSync(join(this.root, "build/client/assets")))
          throw new Error("build/ is incomplete");
        rmSync(dest, { recursive: true, force: true });
        for (const part of SNAPSHOT) cpSync(join(this.root, part), join(dest, part), { recursive: true });
        if (!existsSync(join(dest, "build/server/index.js"))) throw new Error("build/ changed while it was copied");
        linkModules(join(this.root, "node_modules"), join(dest, "node_modules"));
        this.cwd = dest;
        return dest;
      } catch (err) {
        if (attempt >= 60) throw new Error(`could not snapshot the Worker (${err.message}); is build/ there? (run without --no-build)`);
        await sleep(1000);
      }
    }
  }

  async migrate() {
    await runCommand(this.bin, ["d1", "migrations", "apply", "DB", "--local", "--persist-to", this.persist], {
      cwd: this.cwd,
      env: wranglerEnv(),
    });
  }

  /** Runs SQL against the local D1 (also while `wrangler dev` holds it). */
  async sql(command) {
    const out = await runCommand(
      this.bin,
      ["d1", "execute", "DB", "--local", "--persist-to", this.persist, "--json", "--command", command],
      {
        cwd: this.cwd,
        env: wranglerEnv(),
      },
    );
    const start = out.indexOf("[");
    return start >= 0 ? JSON.parse(out.slice(start)) : out;
  }

  async r2Put(key, file, contentType) {
    await runCommand(
      this.bin,
      ["r2", "object", "put", `utter-audio/${key}`, "--local", "--persist-to", this.persist, "--file", file, "--content-type", contentType],
      {
        cwd: this.cwd,
        env: wranglerEnv(),
      },
    );
  }

  /**
   * Starts `wrangler dev` with ENGINE_URL = `engineUrl`; resolves once /api/health
   * answers, with ms to ready. A snapshot taken mid-edit may not bundle: then it
   * snapshots again and retries.
   */
  async start(engineUrl) {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.startOnce(engineUrl);
      } catch (err) {
        await this.stop();
        if (attempt >= 3 || !/Build failed/.test(err.message)) throw err;
        console.log(`  wrangler could not bundle the snapshot (${err.message.split("\n")[0]}); snapshotting again`);
        await sleep(5000);
        await this.snapshot();
      }
    }
  }

  async startOnce(engineUrl) {
    this.port ??= await freePort();
    const inspector = await freePort();
    const o = this.origin;
    const args = [
      "dev",
      "--port",
      String(this.port),
      "--ip",
      "127.0.0.1",
      "--inspector-port",
      String(inspector),
      "--persist-to",
      this.persist,
      "--env-file",
      this.envFile,
      "--show-interactive-dev-session=false",
      "--var",
      `ENGINE_URL:${engineUrl}`,
      "--var",
      `APP_URL:${o}`,
      "--var",
      `TRUSTED_ORIGINS:${o}`,
    ];
    this.starts += 1;
    this.proc = startProcess("wrangler dev", this.bin, args, {
      cwd: this.cwd,
      env: wranglerEnv(),
      logFile: join(this.tmp, `wrangler-${this.starts}.log`),
    });
    const logFile = this.proc.logFile;
    const failOn = () => {
      const m = existsSync(logFile) && /Build failed[\s\S]{0,600}/.exec(readFileSync(logFile, "utf8"));
      return m ? m[0].replace(/\x1b\[[0-9;]*m/g, "") : null;
    };
    return waitForHttp(`${o}/api/health`, { timeoutMs: 90_000, proc: this.proc, failOn });
  }

  /**
   * The origin of the Worker's own runtime, past wrangler dev's proxy (a second workerd that
   * relays every request and socket): found among the listening sockets of wrangler's child
   * processes as the one, other than the proxy's port, that answers /api/health. Null if none does.
   */
  async runtimeOrigin() {
    const root = this.proc?.child?.pid;
    if (!root) return null;
    const children = new Map();
    for (const line of execFileSync("ps", ["-eo", "pid=,ppid="], { encoding: "utf8" }).trim().split("\n")) {
      const [pid, ppid] = line.trim().split(/\s+/).map(Number);
      children.set(ppid, [...(children.get(ppid) ?? []), pid]);
    }
    const mine = new Set();
    const walk = (pid) => (children.get(pid) ?? []).forEach((c) => (mine.add(c), walk(c)));
    walk(root);
    const ports = new Set();
    for (const line of execFileSync("ss", ["-ltnpH"], { encoding: "utf8" }).split("\n")) {
      const pid = Number(/pid=(\d+)/.exec(line)?.[1]);
      const port = Number(/127\.0\.0\.1:(\d+)/.exec(line)?.[1]);
      if (mine.has(pid) && port && port !== this.port) ports.add(port);
    }
    for (const port of ports) {
      try {
        const res = await fetch(`http://127.0.0.1:${port}/api/health`, { signal: AbortSignal.timeout(1000) });
        if (res.ok && (res.headers.get("content-type") ?? "").includes("json")) return `http://127.0.0.1:${port}`;
      } catch {
        // not this one
      }
    }
    return null;
  }

  async stop() {
    await stopProcess(this.proc);
    this.proc = null;
  }
}
