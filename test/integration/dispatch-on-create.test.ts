import { createExecutionContext, createMessageBatch, getQueueResult, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createRequestContext } from "../../worker/context";
import { handleTaskBatch } from "../../worker/queue/dispatch";
import { createLogger } from "../../worker/lib/log";
import { createGeneration } from "../../worker/services/generations";
import type { TaskMessage } from "../../worker/tasks/queue-message";
import { installFakeEngine } from "../support/fake-engine";
import { createVoice, grantCredits } from "../support/factories";
import { taskRow } from "../support/held-tasks";
import { ledgerCheckedUsers } from "../support/ledger-users";

const newUser = ledgerCheckedUsers();
const log = createLogger({ test: "dispatch-on-create" });

/**
 * Signs up `name` with 50 credits and a voice, then creates a generation as the API does with
 * DISPATCH_ON_CREATE on (ADR 0029), the queue binding replaced by one that keeps its message and
 * the options it was sent with; waits for the work the request left running after its answer.
 */
async function createDispatched(name: string) {
  const user = await newUser(name);
  await grantCredits(user.id, 50);
  const voice = await createVoice(user.id);
  const held: { body: TaskMessage; options?: QueueSendOptions; rowAtSend: Awaited<ReturnType<typeof taskRow>> }[] = [];
  const queue = {
    async send(body: TaskMessage, options?: QueueSendOptions) {
      // The row as the creation batch left it, before the request's own dispatch has run.
      held.push({ body, options, rowAtSend: await taskRow(body.task_id) });
    },
  } as unknown as Queue;
  const exec = createExecutionContext();
  const ctx = createRequestContext({ ...env, TASKS: queue, DISPATCH_ON_CREATE: "1" } as Env, exec, `create-${Math.random().toString(36).slice(2)}`);
  const created = await createGeneration(ctx, { id: user.id, email: user.email, name: "c", plan: "free" }, { voice_id: voice.id, text: "Hello there. This is a test.", language: "en" });
  await waitOnExecutionContext(exec);
  expect(held).toHaveLength(1);
  return { created, message: held[0]! };
}

async function deliver(body: TaskMessage) {
  const batch = createMessageBatch("utter-tasks", [{ id: `m-${body.task_id}`, timestamp: new Date(), attempts: 1, body }]);
  const exec = createExecutionContext();
  await handleTaskBatch(batch, { env, log, pauseMs: 0 });
  return getQueueResult(batch, exec);
}

describe("the creating request dispatches its task (ADR 0029)", () => {
  it("the engine has the job when the request's work is done; the later queue message finds it dispatched and starts nothing", async () => {
    const engine = installFakeEngine();
    const { created, message } = await createDispatched("oncreate");
    // No queue delivery yet: the request itself claimed the task and submitted it.
    expect(engine.submitsFor(created.task_id)).toBe(1);
    const row = await taskRow(created.task_id);
    expect(row).toMatchObject({ status: "dispatched", call_id: `call_${created.task_id}`, attempts: 1 });
    expect(row?.claimed_by).toMatch(/^create:/);
    // The queue message is the fallback, sent with a delay.
    expect(message.options?.delaySeconds).toBe(10);
    const result = await deliver(message.body);
    expect(result.explicitAcks).toEqual([`m-${created.task_id}`]);
    expect(engine.submitsFor(created.task_id)).toBe(1);
    expect(engine.jobs.filter((j) => j.job_id === created.task_id)).toHaveLength(1);
  });

  it("the creation batch writes the task already claimed by the request, under a lease that ends when its queue message arrives (ADR 0030)", async () => {
    const engine = installFakeEngine();
    const { created, message } = await createDispatched("oncreateclaim");
    // Nothing in D1 stood between the answer and the submit: the row was claimed before the request's dispatch began.
    const at = message.rowAtSend;
    expect(at).toMatchObject({ status: "dispatched", call_id: null, attempts: 1 });
    expect(at?.claimed_by).toMatch(/^create:/);
    // Should the request's work die before the submit, the fallback message (10 s later) finds the lease over and takes over.
    const createdAt = (await env.DB.prepare(`SELECT created_at FROM tasks WHERE id = ?1`).bind(created.task_id).first<{ created_at: number }>())!.created_at;
    expect(at!.lease_until! - createdAt).toBe(10_000);
    expect(engine.submitsFor(created.task_id)).toBe(1);
    expect(await taskRow(created.task_id)).toMatchObject({ status: "dispatched", call_id: `call_${created.task_id}`, lease_until: null });
  });

  it("a submit the engine refuses for now hands the task back; the queue message dispatches it", async () => {
    const engine = installFakeEngine({ submitStatus: 503 });
    const { created, message } = await createDispatched("oncreate503");
    expect(engine.submitsFor(created.task_id)).toBe(1);
    expect(await taskRow(created.task_id)).toMatchObject({ status: "queued", call_id: null, claimed_by: null });
    engine.setSubmitStatus(202);
    const result = await deliver(message.body);
    expect(result.explicitAcks).toEqual([`m-${created.task_id}`]);
    expect(engine.submitsFor(created.task_id)).toBe(2);
    expect(await taskRow(created.task_id)).toMatchObject({ status: "dispatched", call_id: `call_${created.task_id}`, attempts: 2 });
  });

  it("the tracker the request made follows the engine from its first event", async () => {
    const engine = installFakeEngine();
    const { created } = await createDispatched("oncreatews");
    const job = await engine.waitForJob(created.task_id);
    await job.ack({ type: "started", segments_total: 1 });
    const snap = await env.TASK_TRACKER.get(env.TASK_TRACKER.idFromName(created.task_id)).snapshot();
    expect(snap.task.status).toBe("running");
  });
});
