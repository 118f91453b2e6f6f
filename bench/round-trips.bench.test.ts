// `npm run bench:round-trips` (VITE_BENCH_DELAY_MS=100 by default): users far from the database.
// Every binding call of each hot request (D1, R2, Durable Object, queue) is delayed by the modelled
// distance to it, through the bench-only wrapper in test/support/binding-probe.ts; the table shows
// each request's sequential round trips, how many reached D1's primary, and its modelled and
// measured latency. Rate limiters are local to the edge and not delayed.
import { it } from "vitest";
import { installFakeEngine } from "../test/support/fake-engine";
import { formatHotRequests, runHotRequests } from "../test/support/hot-requests";

const delayMs = Number(import.meta.env.VITE_BENCH_DELAY_MS ?? 100);

it(`hot requests with ${delayMs} ms per binding call`, async () => {
  const engine = installFakeEngine();
  const rows = await runHotRequests({ delayMs, onSubmit: () => engine.jobs.at(-1) });
  console.log(`\nEach binding call delayed ${delayMs} ms (a user far from the database):\n${formatHotRequests(rows, delayMs)}\n`);
});
