// What every bench that runs the Worker starts with: fresh secrets, a line naming the
// machine, and `wrangler dev` (a frozen copy of the Worker, its own D1/R2 state) with the
// stub engine behind it.
import { randomBytes } from "node:crypto";
import { availableParallelism, cpus, loadavg, totalmem } from "node:os";
import { join } from "node:path";
import { runCommand } from "./procs.mjs";
import { startStubEngine } from "./stub-engine.mjs";
import { LocalWorker } from "./wrangler.mjs";

export function benchSecrets() {
  return {
    BETTER_AUTH_SECRET: randomBytes(24).toString("hex"),
    JOB_TOKEN_SECRET: randomBytes(24).toString("hex"),
    ENGINE_TOKEN: `bench-${randomBytes(12).toString("hex")}`,
  };
}

/** "Utter … benchmark — 2026-12-01 12:00 UTC, <cpu> × 2, 24 GiB, Node v24, load 1.23" (then `extra`). */
export function machineLine(title, extra = "") {
  return (
    `${title} — ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC, ${cpus()[0]?.model ?? "cpu"} × ${availableParallelism()}, ` +
    `${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, load ${loadavg()[0].toFixed(2)}${extra}`
  );
}

/** Builds the app (unless `build` is false), then starts the stub engine and the Worker against it. */
export async function startBenchWorker({ root, tmp, secrets, build = true, persist }) {
  if (build) await runCommand(join(root, "node_modules/.bin/remix"), ["vite:build"], { cwd: root, env: process.env });
  const worker = new LocalWorker({ root, tmp, secrets, persist });
  await worker.snapshot();
  await worker.migrate();
  const stub = await startStubEngine(secrets.ENGINE_TOKEN);
  await worker.start(stub.url);
  return { worker, stub };
}
