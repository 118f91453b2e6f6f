// `npm run bench:burst`: bench/burst.bench.test.ts (200 tasks from 20 Studio users at once, in workerd)
// four times, then one table: each dispatch mode (the creating request's own dispatch, ADR 0029, as
// wrangler dev and production run; the queue alone) with the local D1/Queues/Durable Object state
// on the disk and in memory (/dev/shm; bench/lib/state-dir.mjs says why). Figures only.
//   --runs=1        rounds of the four
//   --disk-only     skip the in-memory runs (a machine without /dev/shm skips them anyway)
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { machineLine } from "./lib/bench-stack.mjs";
import { runCommand } from "./lib/procs.mjs";
import { MEMORY_DIR } from "./lib/state-dir.mjs";
import { table } from "./lib/stats.mjs";

const root = fileURLToPath(new URL("..", import.meta.url));
const argv = process.argv.slice(2);
const runs = Number(argv.find((a) => a.startsWith("--runs="))?.split("=")[1] ?? 1);
const placements = argv.includes("--disk-only") || !existsSync(MEMORY_DIR) ? ["disk"] : ["disk", "memory"];
/** The "today": 50–57 tasks/s accepted (issue 16); the target is 4× the upper figure. */
const TODAY_PER_S = 57;

async function once(placement, onCreate) {
  const dir = placement === "memory" ? mkdtempSync(join(MEMORY_DIR, "utter-burst-")) : null;
  const label = `${placement}, ${onCreate ? "on create" : "queue"}`;
  try {
    const out = await runCommand(join(root, "node_modules/.bin/vitest"), ["run", "--config", "vitest.bench.config.ts", "bench/burst.bench.test.ts"], {
      cwd: root,
      env: { ...process.env, UTTER_DISPATCH_ON_CREATE: onCreate ? "1" : "0", ...(dir ? { TMPDIR: dir } : {}) },
    }).catch((err) => Promise.reject(new Error(`burst bench (${label}): ${err.message}`)));
    const line = out.split("\n").find((l) => l.startsWith("burst-result "));
    if (!line) throw new Error(`burst bench (${label}) printed no result:\n${out.slice(-4000)}`);
    return JSON.parse(line.slice("burst-result ".length));
  } finally {
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
}

// The Worker's entry imports the Remix build.
if (!existsSync(join(root, "build/server/index.js"))) {
  await runCommand(join(root, "node_modules/.bin/remix"), ["vite:build"], { cwd: root, env: process.env, quiet: false });
}
console.log(machineLine("Utter burst benchmark"));
const rows = [];
for (let r = 0; r < runs; r++) {
  for (const placement of placements) {
    for (const onCreate of [true, false]) {
      const x = await once(placement, onCreate);
      const perS = (x.accepted / x.acceptedMs) * 1000;
      rows.push([
        onCreate ? "by the creating request" : "by the queue alone",
        placement === "memory" ? "in memory" : "on disk",
        `${x.accepted} in ${(x.acceptedMs / 1000).toFixed(2)} s (${perS.toFixed(0)}/s, ${(perS / TODAY_PER_S).toFixed(1)}×)`,
        `${x.reached}/${x.accepted}`,
        `${x.p50.toFixed(0)} ms`,
        `${x.p90.toFixed(0)} ms`,
        `${x.p99.toFixed(0)} ms`,
        `${x.max.toFixed(0)} ms`,
        `${x.jobs} / ${x.submits}`,
      ]);
      process.stdout.write(".");
    }
  }
}
console.log(
  "\n\n" +
    table(["dispatch", "local state", `accepted (× ${TODAY_PER_S}/s)`, "reached the engine", "creation → engine p50", "p90", "p99", "max", "engine jobs / submits"], rows),
);
