import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { SubmitRequest } from "../../../worker/engine/protocol.ts";
import { FINISHED_REMEMBERED, createJobRegistry } from "../job-registry.ts";
import type { JobOutcome } from "../job-runner.ts";
import { silentLogger } from "../log.ts";

const job = (id: string) => ({ job_id: id, kind: "design_preview" }) as SubmitRequest;

/** A registry whose jobs finish when the test says so, counting the runs it started. */
function registry() {
  const runs: string[] = [];
  const finish = new Map<string, () => void>();
  const reg = createJobRegistry({
    log: silentLogger,
    run: (j) =>
      new Promise<JobOutcome>((resolve) => {
        runs.push(j.job_id);
        finish.set(j.job_id, () => resolve("completed"));
      }),
  });
  return { reg, runs, finish: (id: string) => finish.get(id)!() };
}

describe("job registry: one run per job id", () => {
  it("a repeated submit of a running job returns its call and starts nothing", () => {
    const { reg, runs } = registry();
    const a = reg.submit(job("task_a"));
    assert.equal(reg.submit(job("task_a")), a);
    assert.deepEqual(runs, ["task_a"]);
  });

  it("a repeated submit after the job finished (the Worker lost the first reply) returns the same call", async () => {
    const { reg, runs, finish } = registry();
    const a = reg.submit(job("task_b"));
    finish("task_b");
    await reg.idle();
    assert.equal(reg.activeCount(), 0);
    assert.equal(reg.submit(job("task_b")), a);
    assert.deepEqual(runs, ["task_b"]);
  });

  it("remembers a bounded number of finished jobs, never forgetting a running one", async () => {
    const { reg, runs, finish } = registry();
    const long = reg.submit(job("task_long"));
    for (let i = 0; i < FINISHED_REMEMBERED + 5; i++) {
      reg.submit(job(`task_${i}`));
      finish(`task_${i}`);
      await new Promise((r) => setImmediate(r));
    }
    assert.equal(reg.submit(job("task_long")), long);
    // The oldest finished ids were forgotten: a submit of one starts a new run.
    assert.notEqual(reg.submit(job("task_0")), undefined);
    assert.equal(runs.filter((r) => r === "task_0").length, 2);
    assert.equal(runs.filter((r) => r === `task_${FINISHED_REMEMBERED + 4}`).length, 1);
    reg.submit(job(`task_${FINISHED_REMEMBERED + 4}`));
    assert.equal(runs.filter((r) => r === `task_${FINISHED_REMEMBERED + 4}`).length, 1);
    finish("task_long");
  });
});
