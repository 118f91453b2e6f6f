import { describe, expect, it } from "vitest";
import { TaskSnapshot } from "../../worker/tasks/messages";
import { installFakeEngine } from "../support/fake-engine";
import { createVoice } from "../support/factories";
import { call, type TestUser } from "../support/http";
import { ledgerCheckedUsers } from "../support/ledger-users";

// GET /api/tasks/:id/engine: the page asks when a running task goes quiet, so a dead engine is
// reported within seconds instead of at the 60 s heartbeat deadline (issue 13, item 3).
const newUser = ledgerCheckedUsers();

async function startTask(user: TestUser): Promise<string> {
  const voice = await createVoice(user.id);
  const res = await call("/api/generations", { method: "POST", cookie: user.cookie, json: { voice_id: voice.id, text: "Hello there. This is a test.", language: "en" } });
  expect(res.status).toBe(202);
  return ((await res.json()) as { task_id: string }).task_id;
}

async function liveness(user: TestUser, taskId: string) {
  const res = await call(`/api/tasks/${taskId}/engine`, { cookie: user.cookie });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function balanceOf(user: TestUser): Promise<number> {
  return ((await (await call("/api/me", { cookie: user.cookie })).json()) as { credits: { balance: number } }).credits.balance;
}

describe("engine liveness for a running task", () => {
  it("answers while the engine runs the job, and says unreachable or lost when it does not", async () => {
    const engine = installFakeEngine();
    const user = await newUser("liveness");
    const taskId = await startTask(user);
    const job = await engine.waitForJob(taskId);
    await job.ack({ type: "started", segments_total: 2 });

    expect(await liveness(user, taskId)).toEqual({ status: 200, body: { task_status: "running", answering: true, reason: "ok" } });
    engine.setHealth("unreachable");
    expect(await liveness(user, taskId)).toEqual({ status: 200, body: { task_status: "running", answering: false, reason: "unreachable" } });
    // Restarted without the job (the dev engine reports how many it runs): lost.
    engine.setHealth({ activeJobs: 0 });
    expect(await liveness(user, taskId)).toEqual({ status: 200, body: { task_status: "running", answering: false, reason: "lost_job" } });
  });

  it("lets the person cancel meanwhile, and gives the credits back", async () => {
    const engine = installFakeEngine();
    const user = await newUser("liveness-cancel");
    const before = await balanceOf(user);
    const taskId = await startTask(user);
    const job = await engine.waitForJob(taskId);
    await job.ack({ type: "started", segments_total: 2 });
    engine.setHealth("unreachable");
    const res = await call(`/api/tasks/${taskId}`, { method: "DELETE", cookie: user.cookie });
    expect(res.status).toBe(200);
    expect(TaskSnapshot.parse(await res.json()).task.status).toBe("cancelled");
    expect(await balanceOf(user)).toBe(before);
    // Once the task is over, the engine is not asked.
    expect((await liveness(user, taskId)).body).toEqual({ task_status: "cancelled", answering: true, reason: "not_running" });
  });

  it("is another user's 404 and needs a session", async () => {
    const engine = installFakeEngine();
    const owner = await newUser("liveness-owner");
    const other = await newUser("liveness-other");
    const taskId = await startTask(owner);
    await engine.waitForJob(taskId);
    const foreign = await call(`/api/tasks/${taskId}/engine`, { cookie: other.cookie });
    expect(foreign.status).toBe(404);
    expect(((await foreign.json()) as { error: { code: string } }).error.code).toBe("not_found");
    expect((await call(`/api/tasks/${taskId}/engine`)).status).toBe(401);
  });
});
