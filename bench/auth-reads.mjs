#!/usr/bin/env node
// `npm run bench:reads`: throughput of authenticated reads against `/api/health`
// (issue 16: signed-in `GET /api/voices` and `/api/generations` at ≥ 0.8× health's
// throughput with 200 connections and no errors). Closed loop: C clients, each
// sending its next request as soon as the last one answered, for S seconds per
// endpoint after a warm-up, against `wrangler dev` with its own D1/R2 state.
// Prints figures, not a pass/fail test.
//
//   --connections=200   concurrent clients
//   --seconds=15        measured time per endpoint (after --warmup=3 s)
//   --rounds=2          the endpoints are measured in turn this many times (order rotated)
//   --no-build          reuse build/ as it is
//   --keep              keep the temp dir (logs, D1/R2 state)
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { Agent, request } from "node:http";
import { installExitHandlers } from "./lib/procs.mjs";
import { createBenchUser, createBenchVoice } from "./lib/setup-account.mjs";
import { ms, percentile, table } from "./lib/stats.mjs";
import { benchSecrets, machineLine, startBenchWorker } from "./lib/bench-stack.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const argv = process.argv.slice(2);
const flag = (name) => argv.includes(`--${name}`);
const opt = (name, dflt) => argv.find((a) => a.startsWith(`--${name}=`))?.split("=")[1] ?? dflt;
const CONNECTIONS = Number(opt("connections", 200));
const SECONDS = Number(opt("seconds", 15));
const WARMUP = Number(opt("warmup", 3));
const ROUNDS = Number(opt("rounds", 2));

const tmp = mkdtempSync(join(tmpdir(), "utter-reads-"));
installExitHandlers(async () => console.error(`logs and state kept in ${tmp}`));

/** One GET on a keep-alive agent: resolves with the status once the body is read. */
function get(url, headers, agent) {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers, agent, timeout: 10_000 }, (res) => {
      res.on("data", () => {});
      res.on("end", () => resolve(res.statusCode ?? 0));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(Object.assign(new Error("timeout"), { code: "timeout" })));
    req.on("error", reject);
    req.end();
  });
}

/** One closed-loop run: C clients, one keep-alive socket each; counts answers, errors and latencies. */
async function load(url, headers, seconds, connections) {
  const agent = new Agent({ keepAlive: true, maxSockets: connections });
  const latencies = [];
  let ok = 0;
  const errors = new Map();
  const count = (key) => errors.set(key, (errors.get(key) ?? 0) + 1);
  const until = performance.now() + seconds * 1000;
  const client = async () => {
    while (performance.now() < until) {
      const t = performance.now();
      try {
        const status = await get(url, headers, agent);
        if (status >= 200 && status < 300) {
          ok++;
          latencies.push(performance.now() - t);
        } else count(`HTTP ${status}`);
      } catch (err) {
        count(err?.code ?? err?.name ?? "error");
      }
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: connections }, client));
  const took = (performance.now() - started) / 1000;
  agent.destroy();
  return { rps: ok / took, ok, errors, p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
}

const secrets = benchSecrets();
const loadAtStart = loadavg()[0];
console.log(machineLine("Utter authenticated-read benchmark", `; ${CONNECTIONS} connections, ${SECONDS} s per run, ${ROUNDS} rounds`));
const { worker, stub } = await startBenchWorker({ root, tmp, secrets, build: !flag("no-build") });
const { client } = await createBenchUser(worker);
await createBenchVoice(worker, client, (await client.json("/api/me")).user.id);
const key = (await client.post("/api/keys", { name: "bench reads", scopes: ["voices:read", "history"] })).key.key;

const cookie = { cookie: client.cookieHeader };
const bearer = { authorization: `Bearer ${key}` };
const targets = [
  { name: "GET /api/health (no auth)", path: "/api/health", headers: {} },
  { name: "GET /api/voices (session)", path: "/api/voices", headers: cookie },
  { name: "GET /api/generations (session)", path: "/api/generations", headers: cookie },
  { name: "GET /api/voices (API key)", path: "/api/voices", headers: bearer },
];
for (const t of targets) {
  const res = await fetch(worker.origin + t.path, { headers: t.headers });
  if (!res.ok) throw new Error(`${t.name} answered ${res.status}: ${(await res.text()).slice(0, 300)}`);
}

const results = new Map(targets.map((t) => [t.name, []]));
for (let round = 0; round < ROUNDS; round++) {
  // Rotated each round, so no endpoint always runs first (or last) on a warming machine.
  const order = targets.map((_, i) => targets[(i + round) % targets.length]);
  for (const t of order) {
    process.stdout.write(`▶ round ${round + 1}: ${t.name}… `);
    await load(worker.origin + t.path, t.headers, WARMUP, CONNECTIONS);
    const r = await load(worker.origin + t.path, t.headers, SECONDS, CONNECTIONS);
    results.get(t.name).push(r);
    console.log(`${r.rps.toFixed(0)} req/s, ${[...r.errors.values()].reduce((a, b) => a + b, 0)} errors`);
  }
}

const merged = targets.map((t) => {
  const runs = results.get(t.name);
  const errors = new Map();
  for (const r of runs) for (const [k, v] of r.errors) errors.set(k, (errors.get(k) ?? 0) + v);
  return {
    name: t.name,
    rps: runs.reduce((a, r) => a + r.rps, 0) / runs.length,
    ok: runs.reduce((a, r) => a + r.ok, 0),
    errors,
    p50: percentile(runs.map((r) => r.p50), 50),
    p99: Math.max(...runs.map((r) => r.p99)),
  };
});
const health = merged[0].rps;
console.log(
  "\n" +
    table(
      ["endpoint", "req/s (mean of rounds)", "× health", "answered", "errors", "p50", "p99 (worst round)"],
      merged.map((m) => [
        m.name,
        m.rps.toFixed(0),
        (m.rps / health).toFixed(2),
        m.ok,
        m.errors.size ? [...m.errors].map(([k, v]) => `${v} ${k}`).join(", ") : "0",
        ms(m.p50),
        ms(m.p99),
      ]),
    ),
);
console.log(`\nload ${loadAtStart.toFixed(2)} at the start, ${loadavg()[0].toFixed(2)} at the end (the clients and wrangler dev share these cores)`);
await stub.close();
await worker.stop();
if (!flag("keep")) rmSync(tmp, { recursive: true, force: true });
process.exit(0);
