import { describe, expect, it } from "vitest";
import { installFakeEngine } from "../support/fake-engine";
import { formatHotRequests, runHotRequests } from "../support/hot-requests";

/**
 * Users far from the database (issue 16 §8): each sequential call a hot
 * request makes to D1, R2, a Durable Object or the queue costs a far-away user
 * a full round trip. These are counts, not timings (the bench prints the
 * modelled latency: `npm run bench:round-trips`).
 */
describe("sequential round trips of the hot requests", () => {
  it("stay within the targets", async () => {
    const engine = installFakeEngine();
    const rows = await runHotRequests({ onSubmit: () => engine.jobs.at(-1) });
    console.log(`\n${formatHotRequests(rows, 100)}`);
    const by = (name: string) => {
      const r = rows.find((x) => x.name === name);
      if (!r) throw new Error(`no request ${name}`);
      expect(r.status, name).toBeLessThan(400);
      return r;
    };
    expect(by("create task (POST /api/generations)").waves).toBeLessThanOrEqual(3);
    for (const page of ["page /generate", "page /voices", "page /history"]) expect(by(page).waves, page).toBeLessThanOrEqual(1);
    for (const cb of ["engine callback: started", "engine callback: segment event"]) expect(by(cb).waves, cb).toBeLessThanOrEqual(1);
  });
});
