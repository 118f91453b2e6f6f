// Where a bench keeps the local D1, R2 and Durable Object state.
//
// Locally every storage commit of those simulators is an fsync on the runtime's only thread, and
// every socket and object waits while it runs (docs/benchmarks.md, "Reruns after ADR 0030"). On
// Cloudflare, D1, R2 and a Durable Object's storage commit off the isolate's thread. `--memory-state`
// puts the state on a memory file system (/dev/shm), so a figure measures the Worker and not this
// machine's disk; without it the state is on the disk, as `npm run dev` keeps it. The bench's temp
// dir itself (the Worker's snapshot, logs) stays on the disk either way.
import { existsSync, mkdtempSync } from "node:fs";
import { join } from "node:path";

export const MEMORY_DIR = "/dev/shm";

/** True when the bench was asked for in-memory state (and this machine has a memory file system). */
export function memoryState(argv = process.argv) {
  if (!argv.includes("--memory-state")) return false;
  if (!existsSync(MEMORY_DIR)) throw new Error(`--memory-state: ${MEMORY_DIR} is not here`);
  return true;
}

/** The state dir for a bench run: a fresh dir under /dev/shm with --memory-state, else `tmp/state`. */
export function benchStateDir(tmp, argv = process.argv) {
  return memoryState(argv) ? mkdtempSync(join(MEMORY_DIR, "utter-state-")) : join(tmp, "state");
}
