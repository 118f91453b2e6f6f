// `npm run bench:burst`: a burst of 200 tasks from 20 Studio users through
// the Worker's own handlers in workerd (local D1, Queues with the wrangler.toml consumer settings,
// Durable Objects), the engine answered by the fake engine at once. Prints the accepted rate and
// creation → engine (the engine receiving the submit) p50 / p90 / p99 / max. Figures only; no
// target is asserted here. `npm run bench:burst` (bench/burst.mjs) runs it four times: with the
// creating request's own dispatch (ADR 0029, as wrangler dev and production run) and with the queue
// alone, each with the local state on the disk and in memory.
import { env } from "cloudflare:workers";
import { it } from "vitest";
import { installFakeEngine } from "../test/support/fake-engine";
import { createVoice, grantCredits, setPlan } from "../test/support/factories";
import { call, signUp } from "../test/support/http";

const USERS = 20;
const PER_USER = 10;

function pct(xs: number[], p: number) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

it(`burst: ${USERS * PER_USER} tasks from ${USERS} Studio users`, async () => {
  const engine = installFakeEngine();
  const received = new Map<string, number>();
  const real = engine.spy.getMockImplementation()!;
  engine.spy.mockImplementation(async (input, init) => {
    const res = await real(input, init);
    const req = new Request(input, init);
    if (new URL(req.url).pathname === "/jobs") {
      const id = engine.requests.at(-1)?.job_id;
      if (id && !received.has(id)) received.set(id, performance.now());
    }
    return res;
  });
  const users = [];
  for (let i = 0; i < USERS; i++) {
    const u = await signUp(`burst${i}`);
    await setPlan(u.id, "studio");
    await grantCredits(u.id, 10_000);
    users.push({ u, voice: await createVoice(u.id) });
  }
  const created = new Map<string, number>();
  const t0 = performance.now();
  const results = await Promise.all(
    users.flatMap(({ u, voice }) =>
      Array.from({ length: PER_USER }, async (_, k) => {
        const res = await call("/api/generations", {
          method: "POST",
          cookie: u.cookie,
          json: { voice_id: voice.id, text: `Burst task ${k} of a busy minute.`, language: "en" },
        });
        const body = (await res.json()) as { task_id?: string };
        if (res.status === 202 && body.task_id) created.set(body.task_id, performance.now());
        return res.status;
      }),
    ),
  );
  const acceptedMs = performance.now() - t0;
  const deadline = performance.now() + 60_000;
  while ([...created.keys()].some((id) => !received.has(id)) && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  const lags = [...created].filter(([id]) => received.has(id)).map(([id, at]) => received.get(id)! - at);
  const statuses = results.reduce<Record<number, number>>((m, s) => ({ ...m, [s]: (m[s] ?? 0) + 1 }), {});
  const r = {
    tasks: results.length,
    accepted: created.size,
    acceptedMs,
    reached: lags.length,
    p50: pct(lags, 50),
    p90: pct(lags, 90),
    p99: pct(lags, 99),
    max: Math.max(...lags),
    jobs: engine.jobs.length,
    submits: engine.requests.length,
  };
  console.log(
    `\n[${(env as unknown as Record<string, unknown>).DISPATCH_ON_CREATE === "1" ? "dispatched by the creating request (ADR 0029)" : "dispatched by the queue alone"}] burst of ${r.tasks} tasks from ${USERS} Studio users: statuses ${JSON.stringify(statuses)}, accepted in ${r.acceptedMs.toFixed(0)} ms ` +
      `(${((r.accepted / r.acceptedMs) * 1000).toFixed(1)}/s); reached the engine ${r.reached}/${r.accepted}; ` +
      `creation → engine p50 ${r.p50.toFixed(0)} ms, p90 ${r.p90.toFixed(0)} ms, p99 ${r.p99.toFixed(0)} ms, max ${r.max.toFixed(0)} ms; ` +
      `engine jobs ${r.jobs}, submits ${r.submits}\n`,
  );
  // The same figures as one line for bench/burst.mjs, which runs this file once per state placement and dispatch mode.
  console.log(`burst-result ${JSON.stringify(r)}`);
});
