import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import worker from "../../worker/index";
import { handleTaskBatch } from "../../worker/queue/dispatch";
import { createLogger } from "../../worker/lib/log";
import { newId } from "../../worker/lib/ids";
import { TASK_TIMEOUTS } from "../../worker/tasks/timeouts";
import { installFakeEngine } from "../support/fake-engine";
import { createVoice, grantCredits, setPlan } from "../support/factories";
import { faultyD1 } from "../support/faulty-d1";
import { createHeldTask, taskRow } from "../support/held-tasks";
import { call } from "../support/http";
import { ledgerCheckedUsers } from "../support/ledger-users";

const newUser = ledgerCheckedUsers();
const log = createLogger({ test: "dispatch-faults" });

function tracker(taskId: string) {
  return env.TASK_TRACKER.get(env.TASK_TRACKER.idFromName(taskId));
}

/** Delivers `bodies` as one batch to the dispatcher, as the queue would, and returns what it acked and retried. */
async function deliver(bodies: { task_id: string }[], o: { attempts?: number; now?: number; env?: Env } = {}) {
  const batch = createMessageBatch(
    "utter-tasks",
    bodies.map((body, i) => ({ id: `m-${body.task_id}-${i}`, timestamp: new Date(), attempts: o.attempts ?? 1, body })),
  );
  // The delay each retry asked for (the test runtime's result does not keep it).
  const delays: (number | undefined)[] = [];
  for (const m of batch.messages) {
    const retry = m.retry.bind(m);
    vi.spyOn(m, "retry").mockImplementation((opts?: QueueRetryOptions) => {
      delays.push(opts?.delaySeconds);
      retry(opts);
    });
  }
  const ctx = createExecutionContext();
  const now = o.now;
  await handleTaskBatch(batch, { env: o.env ?? env, log, pauseMs: 0, ...(now !== undefined ? { now: () => now } : {}) });
  return { ...(await getQueueResult(batch, ctx)), delays };
}

async function balance(userId: string) {
  const row = await env.DB.prepare(`SELECT balance FROM credit_balances WHERE user_id = ?1`).bind(userId).first<{ balance: number }>();
  return row?.balance ?? 0;
}

describe("dispatch: a batch's messages are independent", () => {
  it("one poisoned message in a batch of 10: the other 9 are dispatched once each and acknowledged", async () => {
    const engine = installFakeEngine();
    const user = await newUser("batch");
    await setPlan(user.id, "studio"); // 10 jobs at a time
    await grantCredits(user.id, 100);
    const voice = await createVoice(user.id);
    const healthy: Awaited<ReturnType<typeof createHeldTask>>[] = [];
    for (let i = 0; i < 9; i++) healthy.push(await createHeldTask(user, voice.id, `Task number ${i}.`));
    // The poison: an orphaned row (its tracker never started) whose voice no longer exists,
    // so dispatching it fails past the submit guard.
    const poison = newId("task");
    await env.DB.batch([
      env.DB.prepare(
        `INSERT INTO tasks (id, user_id, kind, status, voice_id, input, cost, created_at, updated_at) VALUES (?1, ?2, 'generate', 'queued', 'voice_gone', '{"text":"x","language":"en"}', 1, ?3, ?3)`,
      ).bind(poison, user.id, Date.now()),
      env.DB.prepare(
        `INSERT INTO credit_ledger (user_id, delta, kind, idempotency_key, task_id, created_at) VALUES (?1, -1, 'reserve', ?2, ?3, ?4)`,
      ).bind(user.id, `reserve:${poison}`, poison, Date.now()),
    ]);
    const result = await deliver([{ task_id: poison }, ...healthy.map((t) => t.message)]);
    for (const t of healthy) {
      expect(engine.submitsFor(t.task_id), t.task_id).toBe(1);
      expect((await taskRow(t.task_id))?.call_id).toBe(`call_${t.task_id}`);
      expect((await tracker(t.task_id).stats()).status).toBe("dispatched");
    }
    expect(result.explicitAcks).toEqual(expect.arrayContaining(healthy.map((t) => `m-${t.task_id}-${healthy.indexOf(t) + 1}`)));
    expect(result.retryMessages.map((m) => m.msgId)).not.toEqual(expect.arrayContaining([expect.stringContaining(healthy[0]!.task_id)]));
    // The poisoned task never reached the engine, and its hold was released from its row.
    expect(engine.submitsFor(poison)).toBe(0);
    expect((await taskRow(poison))?.status).toBe("failed");
  });

  it("dispatches a batch's messages concurrently: ten slow submits are all in flight at once", async () => {
    const engine = installFakeEngine();
    const user = await newUser("concurrent");
    await setPlan(user.id, "studio");
    await grantCredits(user.id, 100);
    const voice = await createVoice(user.id);
    const held: Awaited<ReturnType<typeof createHeldTask>>[] = [];
    for (let i = 0; i < 10; i++) held.push(await createHeldTask(user, voice.id, `Concurrent ${i}.`));
    let inFlight = 0;
    let peak = 0;
    const real = engine.spy.getMockImplementation()!;
    engine.spy.mockImplementation(async (input, init) => {
      inFlight += 1;
      peak = Math.max(peak, inFlight);
      try {
        await new Promise((r) => setTimeout(r, 50));
        return await real(input, init);
      } finally {
        inFlight -= 1;
      }
    });
    const result = await deliver(held.map((t) => t.message));
    expect(result.explicitAcks).toHaveLength(10);
    expect(peak).toBe(10);
    for (const t of held) expect(engine.jobsFor(t.task_id)).toBe(1);
  });
});

describe("dispatch: claims hold a lease", () => {
  it("a release that fails is retried and the message redelivered; after the lease the task is dispatched once", async () => {
    const engine = installFakeEngine({ submitStatus: 503 });
    const user = await newUser("lease");
    const voice = await createVoice(user.id);
    const task = await createHeldTask(user, voice.id);
    const t0 = Date.now();
    const broken = { ...env, DB: faultyD1(env.DB, /SET status = 'queued'/) };

    // The engine is down and the database drops every attempt to hand the claim back.
    const first = await deliver([task.message], { now: t0, env: broken });
    expect(broken.DB.failures).toBe(3); // tried three times, not swallowed
    expect(first.explicitAcks).toEqual([]);
    expect(first.retryMessages).toHaveLength(1);
    expect(first.delays[0]).toBeGreaterThanOrEqual(TASK_TIMEOUTS.claimLeaseMs / 1000);
    const claimed = await taskRow(task.task_id);
    expect(claimed).toMatchObject({ status: "dispatched", call_id: null, lease_until: t0 + TASK_TIMEOUTS.claimLeaseMs });

    engine.setSubmitStatus(202);
    // A redelivery inside the lease is not acknowledged as "not queued": it comes back after the lease.
    const early = await deliver([task.message], { now: t0 + 1_000, attempts: 2 });
    expect(early.explicitAcks).toEqual([]);
    expect(early.delays[0]).toBeGreaterThan(40);
    expect(engine.jobsFor(task.task_id)).toBe(0);

    // After the lease the next delivery takes the claim over and dispatches it.
    const late = await deliver([task.message], { now: t0 + TASK_TIMEOUTS.claimLeaseMs + 1, attempts: 3 });
    expect(late.explicitAcks).toHaveLength(1);
    expect(engine.jobsFor(task.task_id)).toBe(1);
    expect(await taskRow(task.task_id)).toMatchObject({
      status: "dispatched",
      call_id: `call_${task.task_id}`,
      engine: "local",
      lease_until: null,
    });
    expect((await tracker(task.task_id).stats()).status).toBe("dispatched");

    // And a later duplicate delivery changes nothing.
    const dup = await deliver([task.message], { now: t0 + 2 * TASK_TIMEOUTS.claimLeaseMs, attempts: 4 });
    expect(dup.explicitAcks).toHaveLength(1);
    expect(engine.submitsFor(task.task_id)).toBe(2); // one refused by the 503, one accepted
  });

  it("a claimant that died before submitting: the task is dispatched after its lease", async () => {
    const engine = installFakeEngine();
    const user = await newUser("died");
    const voice = await createVoice(user.id);
    const task = await createHeldTask(user, voice.id);
    const t0 = Date.now();
    // Another invocation claimed it and was never heard of again.
    await env.DB.prepare(`UPDATE tasks SET status = 'dispatched', claimed_by = 'gone#1', lease_until = ?2 WHERE id = ?1`)
      .bind(task.task_id, t0 + TASK_TIMEOUTS.claimLeaseMs)
      .run();
    const held = await deliver([task.message], { now: t0 + 5_000, attempts: 2 });
    expect(held.retryMessages).toHaveLength(1);
    expect(engine.submitsFor(task.task_id)).toBe(0);
    const after = await deliver([task.message], { now: t0 + TASK_TIMEOUTS.claimLeaseMs + 1, attempts: 3 });
    expect(after.explicitAcks).toHaveLength(1);
    expect(engine.jobsFor(task.task_id)).toBe(1);
  });
});

describe("dispatch: submits are idempotent end to end", () => {
  it("a submit the engine accepted but whose reply was lost is sent again with the same key, and the engine runs one job", async () => {
    const engine = installFakeEngine();
    const user = await newUser("lostreply");
    const voice = await createVoice(user.id);
    const task = await createHeldTask(user, voice.id);
    engine.loseReplies(1);
    const first = await deliver([task.message]);
    expect(first.retryMessages).toHaveLength(1);
    expect(await taskRow(task.task_id)).toMatchObject({ status: "queued", call_id: null });
    const second = await deliver([task.message], { attempts: 2 });
    expect(second.explicitAcks).toHaveLength(1);
    expect(engine.submitsFor(task.task_id)).toBe(2);
    expect(engine.jobsFor(task.task_id)).toBe(1);
    expect(engine.idempotencyKeys).toEqual([task.task_id, task.task_id]);
    expect(engine.requests.every((j) => j.job_id === task.task_id)).toBe(true);
    expect((await taskRow(task.task_id))?.call_id).toBe(`call_${task.task_id}`);
    // The one job runs to the end and is charged once.
    const job = await engine.waitForJob(task.task_id);
    expect((await job.succeed(1)).state).toBe("succeeded");
  });
});

describe("dead-letter queue", () => {
  async function deadLetter(taskId: string) {
    const batch = createMessageBatch("utter-tasks-dlq", [
      { id: `dlq-${taskId}`, timestamp: new Date(), attempts: 1, body: { task_id: taskId } },
    ]);
    const ctx = createExecutionContext();
    await worker.queue(batch, env, ctx);
    return getQueueResult(batch, ctx);
  }

  it("leaves a task that another delivery dispatched, and that is running, untouched", async () => {
    const engine = installFakeEngine();
    const user = await newUser("dlq-running");
    const voice = await createVoice(user.id);
    const task = await createHeldTask(user, voice.id);
    const before = (await balance(user.id)) + task.cost;
    await deliver([task.message]);
    const job = await engine.waitForJob(task.task_id);
    await job.ack({ type: "started" });
    const res = await deadLetter(task.task_id);
    expect(res.explicitAcks).toHaveLength(1);
    expect((await tracker(task.task_id).stats()).status).toBe("running");
    expect(engine.cancels).toEqual([]);
    expect(await balance(user.id)).toBe(before - task.cost);
    expect((await job.succeed(1)).state).toBe("succeeded");
  });

  it("fails a task still waiting for dispatch and gives its credits back", async () => {
    installFakeEngine();
    const user = await newUser("dlq-waiting");
    const voice = await createVoice(user.id);
    const task = await createHeldTask(user, voice.id);
    const before = (await balance(user.id)) + task.cost;
    await deadLetter(task.task_id);
    // It never had a tracker (ADR 0025): settled from its row, and its snapshot says so.
    expect((await taskRow(task.task_id))?.status).toBe("failed");
    expect(await balance(user.id)).toBe(before);
    const res = await call(`/api/tasks/${task.task_id}`, { cookie: user.cookie });
    expect(res.status).toBe(200);
    const { task: view } = (await res.json()) as { task: { status: string; error: { code: string } | null } };
    expect(view.status).toBe("failed");
    expect(view.error?.code).toBe("engine_unavailable");
    expect((await tracker(task.task_id).stats()).synced).toBe(true); // made failed and settled: nothing left to do
    expect(await balance(user.id)).toBe(before);
  });
});
