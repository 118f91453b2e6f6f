#!/usr/bin/env node
// `npm test`: every suite, one after another. A failing suite does not stop the
// rest; each gets a summary line at the end, and the exit status is non-zero
// when any failed. Suites that load the built app (worker, smoke, e2e) are
// skipped, and counted as failed, when the build fails.
//
//   node scripts/run-suites.mjs                      every suite
//   node scripts/run-suites.mjs modal dev-engine     only those (in the order given)
//   node scripts/run-suites.mjs --clock-ahead=365 worker dev-engine modal
//       the unit suites with the clock a year ahead (ADR 0014): any test that
//       depends on today's date fails the day it is written, not a year later.
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const npmScript = (name) => ({ cmd: "npm", args: ["run", "--silent", name] });

// name → how to run it, and whether it needs `npm run build` first.
const SUITES = {
  build: { ...npmScript("build"), needsBuild: false },
  worker: { ...npmScript("test:worker"), needsBuild: true },
  // The Worker's unit tests alone (test/unit): what runs with the clock moved (ADR 0014).
  "worker-unit": { cmd: "npx", args: ["vitest", "run", "test/unit"], needsBuild: true, clock: "date" },
  "dev-engine": { ...npmScript("test:dev-engine"), needsBuild: false, clock: "faketime" },
  modal: { ...npmScript("test:modal"), needsBuild: false, clock: "faketime" },
  smoke: { ...npmScript("test:smoke"), needsBuild: true },
  e2e: { ...npmScript("test:e2e"), needsBuild: true },
};

const args = process.argv.slice(2);
const aheadArg = args.find((a) => a.startsWith("--clock-ahead="));
const aheadDays = aheadArg ? Number(aheadArg.split("=")[1]) : 0;
if (!Number.isInteger(aheadDays) || aheadDays < 0) {
  console.error(`run-suites: --clock-ahead wants a whole number of days, got ${aheadArg}`);
  process.exit(2);
}
let names = args.filter((a) => !a.startsWith("--"));
for (const n of names) {
  if (!(n in SUITES)) {
    console.error(`run-suites: no suite named "${n}" (have: ${Object.keys(SUITES).join(", ")})`);
    process.exit(2);
  }
}
if (names.length === 0) names = Object.keys(SUITES).filter((n) => n !== "worker-unit"); // worker runs test/unit too
if (aheadDays > 0) {
  const unshiftable = names.filter((n) => n !== "build" && !SUITES[n].clock);
  if (unshiftable.length > 0) {
    console.error(`run-suites: the clock cannot be moved for ${unshiftable.join(", ")} (see ADR 0014)`);
    process.exit(2);
  }
}
// A suite that loads the build gets one first, unless the caller listed build itself.
if (names.some((n) => SUITES[n].needsBuild) && !names.includes("build")) names = ["build", ...names];

/** How one suite runs with the clock `aheadDays` ahead. */
function shifted(suite) {
  if (aheadDays === 0) return { cmd: suite.cmd, args: suite.args, env: {} };
  if (suite.clock === "faketime") {
    // libfaketime (LD_PRELOAD) shifts every clock the process and its children read, monotonic included
    // (FAKETIME_DONT_FAKE_MONOTONIC breaks subprocess and httpx with EINVAL; see ADR 0014).
    return { cmd: "faketime", args: ["-f", `+${aheadDays}d`, suite.cmd, ...suite.args], env: {} };
  }
  // workerd never starts under libfaketime (with or without the monotonic clock faked), so the Worker's
  // unit tests move Date inside the isolate themselves (test/support/setup.ts reads this variable).
  return { cmd: suite.cmd, args: suite.args, env: { UTTER_TEST_CLOCK_AHEAD_DAYS: String(aheadDays) } };
}

const results = [];
let buildFailed = false;
for (const name of names) {
  const suite = SUITES[name];
  if (suite.needsBuild && buildFailed) {
    results.push({ name, status: "skipped (the build failed)", ok: false, seconds: 0 });
    continue;
  }
  const run = name === "build" ? { cmd: suite.cmd, args: suite.args, env: {} } : shifted(suite);
  const label = aheadDays > 0 && name !== "build" ? `${name} (clock +${aheadDays} days)` : name;
  console.log(`\n━━━ ${label}: ${[run.cmd, ...run.args].join(" ")}`);
  const started = Date.now();
  const r = spawnSync(run.cmd, run.args, { cwd: root, stdio: "inherit", env: { ...process.env, ...run.env } });
  const seconds = Math.round((Date.now() - started) / 1000);
  const ok = r.status === 0;
  const status = ok ? "passed" : r.error ? `could not start (${r.error.message})` : `failed (exit ${r.status ?? r.signal})`;
  results.push({ name: label, status, ok, seconds });
  if (name === "build" && !ok) buildFailed = true;
}

console.log("\n━━━ summary");
for (const r of results) console.log(`${r.ok ? "✓" : "✗"} ${r.name.padEnd(32)} ${r.status.padEnd(30)} ${r.seconds}s`);
const failed = results.filter((r) => !r.ok);
console.log(failed.length === 0 ? "all suites passed" : `${failed.length} of ${results.length} failed`);
process.exit(failed.length === 0 ? 0 : 1);
