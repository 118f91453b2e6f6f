import { createMessageBatch, getQueueResult, createExecutionContext, runDurableObjectAlarm, runInDurableObject, evictDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { MAX_RESUMES } from "../../worker/engine/protocol";
import { describe, expect, it } from "vitest";
import worker from "../../worker/index";
import { ApiErrorBody } from "../../worker/lib/errors";
import { TaskSnapshot } from "../../worker/tasks/messages";
import type { TaskTracker } from "../../durable-objects/task-tracker";
import { installFakeEngine } from "../support/fake-engine";
import { createVoice, grantCredits, setPlan } from "../support/factories";
import { call, type TestUser } from "../support/http";
import { ledgerCheckedUsers } from "../support/ledger-users";
import { createHeldTask } from "../support/held-tasks";
import { openTaskSocket, socketStatus } from "../support/socket";
import { makeWav, wavDurationMs } from "../support/wav";

interface Created {
  task_id: string;
  generation_id: string;
  socket_url: string;
  cost: number;
}

async function generate(user: TestUser, voiceId: string, text = "Hello there. This is a test.", language = "en") {
  return call("/api/generations", { method: "POST", cookie: user.cookie, json: { voice_id: voiceId, text, language } });
}

async function created(user: TestUser, voiceId: string, text?: string): Promise<Created> {
  const res = await generate(user, voiceId, text);
  if (res.status !== 202) throw new Error(`generation refused: ${res.status} ${await res.text()}`);
  return (await res.json()) as Created;
}

async function balanceOf(user: TestUser): Promise<number> {
  const me = (await (await call("/api/me", { cookie: user.cookie })).json()) as { credits: { balance: number } };
  return me.credits.balance;
}

async function snapshot(user: TestUser, taskId: string) {
  const res = await call(`/api/tasks/${taskId}`, { cookie: user.cookie });
  expect(res.status).toBe(200);
  return TaskSnapshot.parse(await res.json());
}

function tracker(taskId: string) {
  return env.TASK_TRACKER.get(env.TASK_TRACKER.idFromName(taskId));
}

async function waitForStatus(user: TestUser, taskId: string, status: string, timeoutMs = 10_000) {
  const started = Date.now();
  for (;;) {
    const snap = await snapshot(user, taskId);
    if (snap.task.status === status) return snap;
    if (Date.now() - started > timeoutMs) throw new Error(`task stayed ${snap.task.status}, wanted ${status}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const newUser = ledgerCheckedUsers();

describe("task pipeline: queue → engine → Durable Object → WebSocket", () => {
  it("runs a generation end to end: snapshot, ordered progress and segments, completed, audio, credits captured once", async () => {
    const engine = installFakeEngine();
    const user = await newUser("happy");
    const voice = await createVoice(user.id);
    const before = await balanceOf(user);
    const text = "One sentence here. ".repeat(20).trim();
    const task = await created(user, voice.id, text);
    expect(task.cost).toBe(Math.ceil([...text].length / 100));
    expect(task.socket_url).toBe(`/api/tasks/${task.task_id}/ws`);
    expect(await balanceOf(user)).toBe(before - task.cost);

    const ws = await openTaskSocket(task.task_id, user.cookie);
    const first = await ws.waitFor(() => true);
    expect(first.type).toBe("snapshot");

    const job = await engine.waitForJob(task.task_id);
    expect(job.job.kind).toBe("generate");
    expect(job.job.voice?.voice_id).toBe(voice.id);
    expect(job.job.text).toBe(text);
    // The engine can fetch the reference with its job token.
    const ref = await job.fetchReference();
    expect(ref.status).toBe(200);
    expect(new Uint8Array(await ref.arrayBuffer())).toEqual(voice.reference);

    const ack = await job.succeed(4, 300);
    expect(ack).toEqual({ accepted: true, state: "succeeded" });
    const done = await ws.waitFor((m) => m.type === "completed");
    if (done.type !== "completed") throw new Error("unreachable");
    expect(done.result.generation_id).toBe(task.generation_id);

    const types = ws.messages.map((m) => m.type);
    expect(types[0]).toBe("snapshot");
    expect(types.filter((t) => t === "segment")).toHaveLength(4);
    expect(types.filter((t) => t === "progress").length).toBeGreaterThanOrEqual(4);
    expect(types.at(-1)).toBe("completed");
    const seqs = ws.messages.map((m) => m.seq);
    for (let i = 1; i < seqs.length; i++) expect(seqs[i]).toBeGreaterThan(seqs[i - 1]!);
    const segIdx = ws.messages.flatMap((m) => (m.type === "segment" ? [m.index] : []));
    expect(segIdx).toEqual([0, 1, 2, 3]);

    // Each segment URL plays as WAV.
    for (const m of ws.messages) {
      if (m.type !== "segment") continue;
      const res = await call(m.url, { cookie: user.cookie });
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toBe("audio/wav");
      const bytes = new Uint8Array(await res.arrayBuffer());
      expect(new TextDecoder().decode(bytes.slice(0, 4))).toBe("RIFF");
      expect(Math.round(wavDurationMs(bytes))).toBe(m.duration_ms);
    }

    const audio = await call(`/api/generations/${task.generation_id}/audio`, { cookie: user.cookie });
    expect(audio.status).toBe(200);
    const final = new Uint8Array(await audio.arrayBuffer());
    expect(wavDurationMs(final)).toBeCloseTo(1200, 0);

    const gen = (await (await call(`/api/generations/${task.generation_id}`, { cookie: user.cookie })).json()) as { generation: { status: string; duration_ms: number } };
    expect(gen.generation.status).toBe("succeeded");
    expect(gen.generation.duration_ms).toBe(1200);

    // Credits: reserved once, captured once, never released.
    expect(await balanceOf(user)).toBe(before - task.cost);
    const ledger = (await (await call("/api/credits/ledger", { cookie: user.cookie })).json()) as { entries: { kind: string; task_id: string | null; delta: number }[] };
    const mine = ledger.entries.filter((e) => e.task_id === task.task_id).map((e) => [e.kind, e.delta]);
    expect(mine.sort()).toEqual([["capture", 0], ["reserve", -task.cost]].sort());
    ws.close();
  });

  it("hands the pause between sentences to the engine when asked, and refuses one over the limit", async () => {
    const engine = installFakeEngine();
    const user = await newUser("pause");
    await setPlan(user.id, "studio"); // two jobs at once
    const voice = await createVoice(user.id);
    const send = (json: Record<string, unknown>) =>
      call("/api/generations", { method: "POST", cookie: user.cookie, json: { voice_id: voice.id, text: "One. Two.", language: "en", ...json } });
    const tooLong = await send({ pause_ms: 3001 });
    expect(tooLong.status).toBe(400);
    expect(JSON.stringify(await tooLong.json())).toContain("pause_ms");
    expect((await send({ pause_ms: 250.5 })).status).toBe(400);
    const asked = (await (await send({ pause_ms: 600 })).json()) as Created;
    expect((await engine.waitForJob(asked.task_id)).job.pause_ms).toBe(600);
    const natural = (await (await send({})).json()) as Created;
    expect("pause_ms" in (await engine.waitForJob(natural.task_id)).job).toBe(false);

    // The generate page's "Pauses" choice goes the same way.
    expect(await (await call("/generate", { cookie: user.cookie })).text()).toContain("Pauses");
    await call(`/api/tasks/${asked.task_id}`, { method: "DELETE", cookie: user.cookie });
    await call(`/api/tasks/${natural.task_id}`, { method: "DELETE", cookie: user.cookie });
    const page = new FormData();
    for (const [k, v] of Object.entries({ voice_id: voice.id, text: "One. Two.", language: "en", pause_ms: "800" })) page.set(k, v);
    const posted = await call("/generate", { method: "POST", cookie: user.cookie, body: page });
    expect(posted.status).toBe(200);
    const newest = await env.DB.prepare("SELECT id FROM tasks WHERE user_id = ?1 ORDER BY created_at DESC LIMIT 1").bind(user.id).first<{ id: string }>();
    expect(newest!.id).not.toBe(natural.task_id);
    expect((await engine.waitForJob(newest!.id)).job.pause_ms).toBe(800);
  });

  it("names each voice's reference clip in the job, the same for every job of that voice (ADR 0024)", async () => {
    const engine = installFakeEngine();
    const user = await newUser("refid");
    await setPlan(user.id, "studio");
    const [a, b] = [await createVoice(user.id), await createVoice(user.id)];
    const submit = async (voiceId: string) => {
      const res = await call("/api/generations", { method: "POST", cookie: user.cookie, json: { voice_id: voiceId, text: "One. Two.", language: "en" } });
      const created = (await res.json()) as Created;
      const { job } = await engine.waitForJob(created.task_id);
      await call(`/api/tasks/${created.task_id}`, { method: "DELETE", cookie: user.cookie });
      return job.voice!;
    };
    const first = await submit(a.id);
    const again = await submit(a.id);
    const other = await submit(b.id);
    const size = await env.DB.prepare("SELECT size_bytes FROM voices WHERE id = ?1").bind(a.id).first<{ size_bytes: number }>();
    expect(first.reference_id).toBe(`${a.id}.${size!.size_bytes}`);
    expect(again.reference_id).toBe(first.reference_id);
    expect(other.reference_id).not.toBe(first.reference_id);
    expect(first.reference_url).not.toBe(again.reference_url); // the download URL is per job; the id is per clip
  });

  it("makes no tracker when a task is created; the owner's socket, opened before dispatch, makes it and follows the task (ADR 0025)", async () => {
    const engine = installFakeEngine();
    const user = await newUser("lazy");
    const voice = await createVoice(user.id);
    const task = await createHeldTask(user, voice.id); // its queue message is held: nothing dispatches it yet
    const stored = await runInDurableObject(tracker(task.task_id), (_i: TaskTracker, state) => state.storage.get("state"));
    expect(stored).toBeUndefined(); // no tracker state: creation did not make it

    const ws = await openTaskSocket(task.task_id, user.cookie);
    const first = await ws.waitFor(() => true);
    expect(first.type === "snapshot" && first.task.status).toBe("queued");
    const batch = createMessageBatch("utter-tasks", [{ id: "lazy-1", timestamp: new Date(), attempts: 1, body: task.message }]);
    const ctx = createExecutionContext();
    await worker.queue(batch, env, ctx);
    expect((await getQueueResult(batch, ctx)).explicitAcks).toEqual(["lazy-1"]);
    const job = await engine.waitForJob(task.task_id);
    expect((await job.succeed(2)).state).toBe("succeeded");
    const done = await ws.waitFor((m) => m.type === "completed");
    expect(done.type).toBe("completed");
    ws.close();
  });

  it("cancels a task before its dispatch: its tracker is made cancelled, the credits come back, and no engine ever gets it", async () => {
    const engine = installFakeEngine();
    const user = await newUser("lazycancel");
    const voice = await createVoice(user.id);
    const before = await balanceOf(user);
    const task = await createHeldTask(user, voice.id);
    expect(await balanceOf(user)).toBe(before - task.cost);
    const res = await call(`/api/tasks/${task.task_id}`, { method: "DELETE", cookie: user.cookie });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { task: { status: string } }).task.status).toBe("cancelled");
    expect(await balanceOf(user)).toBe(before);
    const batch = createMessageBatch("utter-tasks", [{ id: "lazy-2", timestamp: new Date(), attempts: 1, body: task.message }]);
    const ctx = createExecutionContext();
    await worker.queue(batch, env, ctx);
    expect((await getQueueResult(batch, ctx)).explicitAcks).toEqual(["lazy-2"]);
    expect(engine.submitsFor(task.task_id)).toBe(0);
    expect((await snapshot(user, task.task_id)).task.status).toBe("cancelled");
  });

  it("dispatches a task once however often the queue delivers it", async () => {
    const engine = installFakeEngine();
    const user = await newUser("dup");
    const voice = await createVoice(user.id);
    const task = await created(user, voice.id);
    await engine.waitForJob(task.task_id);
    const batch = createMessageBatch("utter-tasks", [
      { id: "m1", timestamp: new Date(), attempts: 1, body: { task_id: task.task_id } },
      { id: "m2", timestamp: new Date(), attempts: 2, body: { task_id: task.task_id } },
    ]);
    const ctx = createExecutionContext();
    await worker.queue(batch, env, ctx);
    const result = await getQueueResult(batch, ctx);
    expect(result.explicitAcks.sort()).toEqual(["m1", "m2"]);
    expect(result.retryMessages).toEqual([]);
    expect(engine.submitsFor(task.task_id)).toBe(1);
  });

  it("retries a failing engine, then the dead-letter queue fails the task and releases its credits", async () => {
    const engine = installFakeEngine({ submitStatus: 503 });
    const user = await newUser("dlq");
    const voice = await createVoice(user.id);
    const before = await balanceOf(user);
    const task = await created(user, voice.id);
    expect(await balanceOf(user)).toBeLessThan(before);
    const snap = await waitForStatus(user, task.task_id, "failed", 20_000);
    expect(snap.task.error?.code).toBe("engine_unavailable");
    // queue max_retries (3 in tests) + the first delivery
    expect(engine.submitsFor(task.task_id)).toBeGreaterThanOrEqual(2);
    expect(await balanceOf(user)).toBe(before);
  });

  it("a retry after a transient failure dispatches the task", async () => {
    const engine = installFakeEngine({ submitStatus: 503 });
    const user = await newUser("transient");
    const voice = await createVoice(user.id);
    const task = await created(user, voice.id);
    // Wait for the first failed attempt, then bring the engine back.
    const started = Date.now();
    while (engine.submitsFor(task.task_id) < 1 && Date.now() - started < 5000) await new Promise((r) => setTimeout(r, 20));
    engine.setSubmitStatus(202);
    const job = await engine.waitForJob(task.task_id);
    await job.succeed(1);
    const snap = await waitForStatus(user, task.task_id, "succeeded");
    expect(snap.task.result?.generation_id).toBe(task.generation_id);
  });

  it("ignores out-of-order and duplicate events: progress only rises, one terminal transition", async () => {
    const engine = installFakeEngine();
    const user = await newUser("order");
    const voice = await createVoice(user.id);
    const before = await balanceOf(user);
    const task = await created(user, voice.id);
    const job = await engine.waitForJob(task.task_id);
    expect(await job.ack({ type: "started" }, { seq: 0 })).toEqual({ accepted: true, state: "running" });
    expect((await job.ack({ type: "progress", progress: 0.6, stage: "generating" }, { seq: 5 })).accepted).toBe(true);
    // stale (lower seq) and duplicate (same seq)
    expect((await job.ack({ type: "progress", progress: 0.9, stage: "generating" }, { seq: 3 })).accepted).toBe(false);
    expect((await job.ack({ type: "progress", progress: 0.9, stage: "generating" }, { seq: 5 })).accepted).toBe(false);
    // a higher seq with a lower number does not move the bar back
    expect((await job.ack({ type: "progress", progress: 0.2, stage: "generating" }, { seq: 6 })).accepted).toBe(true);
    expect((await snapshot(user, task.task_id)).task.progress).toBe(0.6);
    // two failures: only the first counts
    expect(await job.ack({ type: "failed", error: { code: "generation_failed", message: "boom", retryable: false } }, { seq: 7 })).toEqual({
      accepted: true,
      state: "failed",
    });
    expect((await job.ack({ type: "failed", error: { code: "other", message: "again", retryable: false } }, { seq: 8 })).accepted).toBe(false);
    const snap = await snapshot(user, task.task_id);
    expect(snap.task.status).toBe("failed");
    expect(snap.task.error?.code).toBe("generation_failed");
    expect(await balanceOf(user)).toBe(before);
    const stats = await tracker(task.task_id).stats();
    expect(stats.ignoredEvents).toBe(3);
  });

  it("fails a silent task with engine_timeout when the heartbeat alarm fires (its resumes used up)", async () => {
    const engine = installFakeEngine();
    const user = await newUser("silent");
    const voice = await createVoice(user.id);
    const before = await balanceOf(user);
    const task = await created(user, voice.id);
    const job = await engine.waitForJob(task.task_id);
    await job.ack({ type: "started" });
    const stub = tracker(task.task_id);
    // Pretend the last event was two minutes ago, and the job was resumed as often as it may be (ADR 0023;
    // test/integration/long-form.test.ts has the silent task that is resumed).
    await runInDurableObject(stub, async (_instance: TaskTracker, state) => {
      const s = (await state.storage.get<{ lastEventAt: number; resumes?: number }>("state"))!;
      s.lastEventAt = Date.now() - 120_000;
      s.resumes = MAX_RESUMES;
      await state.storage.put("state", s);
    });
    await evictDurableObject(stub);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    const snap = await snapshot(user, task.task_id);
    expect(snap.task.status).toBe("failed");
    expect(snap.task.error?.code).toBe("engine_timeout");
    expect(await balanceOf(user)).toBe(before);
    // the engine, waking up late, is told the job is over
    expect(await job.ack({ type: "heartbeat" })).toEqual({ accepted: false, state: "failed" });
  });

  it("fails a task the engine never starts with engine_timeout", async () => {
    const engine = installFakeEngine();
    const user = await newUser("nostart");
    const voice = await createVoice(user.id);
    const task = await created(user, voice.id);
    await engine.waitForJob(task.task_id); // dispatched (its tracker made), and the engine stays silent
    const stub = tracker(task.task_id);
    await runInDurableObject(stub, async (_i: TaskTracker, state) => {
      const s = (await state.storage.get<{ init: { createdAt: number } }>("state"))!;
      s.init.createdAt = Date.now() - 11 * 60_000;
      await state.storage.put("state", s);
    });
    await evictDurableObject(stub);
    await runDurableObjectAlarm(stub);
    expect((await snapshot(user, task.task_id)).task.error?.code).toBe("engine_timeout");
  });

  it("cancels mid-flight: cancelled, engine told, the delivered part charged and the rest released, later events ignored", async () => {
    const engine = installFakeEngine();
    const user = await newUser("cancel");
    const voice = await createVoice(user.id);
    const before = await balanceOf(user);
    const task = await created(user, voice.id, "A sentence of about fifty characters, give or take. ".repeat(5).trim()); // 259 chars: 3 credits
    expect(task.cost).toBe(3);
    const job = await engine.waitForJob(task.task_id);
    await job.ack({ type: "started", segments_total: 3 });
    await job.segment(0);
    // Segment 1 is uploaded but never announced: it was not delivered.
    expect((await job.upload("segments/1", makeWav(300))).status).toBe(201);
    const ws = await openTaskSocket(task.task_id, user.cookie);
    const res = await call(`/api/tasks/${task.task_id}`, { method: "DELETE", cookie: user.cookie });
    expect(res.status).toBe(200);
    const cancelledSnap = TaskSnapshot.parse(await res.json());
    expect(cancelledSnap.task.status).toBe("cancelled");
    // One of three parts was delivered: a third of the cost (DESIGN §6), the rest released.
    expect(cancelledSnap.task.charge).toEqual({ credits: 1, of: 3, parts_delivered: 1, parts_total: 3 });
    const cancelledMsg = await ws.waitFor((m) => m.type === "cancelled");
    expect(cancelledMsg.type === "cancelled" && cancelledMsg.charge?.credits).toBe(1);
    expect(await balanceOf(user)).toBe(before - 1);
    const started = Date.now();
    while (!engine.cancels.includes(`call_${task.task_id}`) && Date.now() - started < 3000) await new Promise((r) => setTimeout(r, 20));
    expect(engine.cancels).toContain(`call_${task.task_id}`);
    // late events and uploads are refused or ignored, and change nothing
    expect(await job.ack({ type: "progress", progress: 0.9, stage: "generating" })).toEqual({ accepted: false, state: "cancelled" });
    const late = await job.upload("segments/1", new Uint8Array(100));
    expect(late.status).toBe(409);
    expect(await job.ack({ type: "completed", duration_ms: 1, sample_rate: 24000, size_bytes: 100 })).toEqual({ accepted: false, state: "cancelled" });
    // cancelling twice is a clear 409
    const again = await call(`/api/tasks/${task.task_id}`, { method: "DELETE", cookie: user.cookie });
    expect(again.status).toBe(409);
    expect((await snapshot(user, task.task_id)).task.status).toBe("cancelled");
    expect(await balanceOf(user)).toBe(before - 1);
    const ledger = (await (await call("/api/credits/ledger", { cookie: user.cookie })).json()) as { entries: { kind: string; task_id: string | null; delta: number; note: string }[] };
    const settle = ledger.entries.find((e) => e.task_id === task.task_id && e.kind !== "reserve");
    expect(settle).toMatchObject({ kind: "capture", delta: 2, note: "Charged 1 of 3 credits: 1 of 3 parts were delivered (cancelled)" });
    // The delivered part stays playable; the undelivered ones are never served.
    expect((await call(`/api/tasks/${task.task_id}/segments/0`, { cookie: user.cookie })).status).toBe(200);
    expect((await call(`/api/tasks/${task.task_id}/artifacts/segment/1`, { cookie: user.cookie })).status).toBe(404);
    expect((await call(`/api/tasks/${task.task_id}/segments/1`, { cookie: user.cookie })).status).toBe(404);
    ws.close();
  });

  it("gives a reconnecting socket a complete snapshot after the object was evicted", async () => {
    const engine = installFakeEngine();
    const user = await newUser("reconnect");
    const voice = await createVoice(user.id);
    const task = await created(user, voice.id);
    const job = await engine.waitForJob(task.task_id);
    await job.ack({ type: "started", segments_total: 3 });
    await job.segment(0);
    await job.ack({ type: "progress", progress: 0.5, stage: "generating" });
    await job.segment(1);
    await evictDurableObject(tracker(task.task_id));
    const ws = await openTaskSocket(task.task_id, user.cookie);
    const snap = await ws.waitFor((m) => m.type === "snapshot");
    if (snap.type !== "snapshot") throw new Error("unreachable");
    expect(snap.task.status).toBe("running");
    expect(snap.task.progress).toBe(0.5);
    expect(snap.task.segments_total).toBe(3);
    expect(snap.segments.map((s) => s.index)).toEqual([0, 1]);
    // and it keeps receiving after the eviction
    await job.segment(2);
    const seg = await ws.waitFor((m) => m.type === "segment");
    expect(seg.seq).toBeGreaterThan(snap.seq);
    ws.close();
  });

  it("refuses forged, expired and other-job tokens without changing anything", async () => {
    const engine = installFakeEngine();
    const user = await newUser("tokens");
    const voice = await createVoice(user.id);
    const a = await created(user, voice.id);
    const jobA = await engine.waitForJob(a.task_id);
    await setPlan(user.id, "pro");
    const b = await created(user, voice.id);
    const jobB = await engine.waitForJob(b.task_id);

    const forged = jobA.job.callbacks.token.slice(0, -4) + "AAAA";
    expect((await jobA.event({ type: "started" }, { token: forged })).status).toBe(401);
    expect((await jobA.event({ type: "started" }, { token: "nonsense" })).status).toBe(401);
    expect((await jobA.upload("segments/0", new Uint8Array(100), forged)).status).toBe(401);
    expect((await jobA.fetchReference(forged)).status).toBe(401);
    // B's token on A's routes
    expect((await jobA.event({ type: "started" }, { token: jobB.job.callbacks.token })).status).toBe(403);
    expect((await jobA.upload("final", new Uint8Array(100), jobB.job.callbacks.token)).status).toBe(403);
    // an expired token (signed with the right secret, expired an hour ago)
    const { mintJobToken } = await import("../../worker/engine/job-token");
    const expired = await mintJobToken("test-job-token-secret-0123456789abcdef", a.task_id, new Date(Date.now() - 3600_000));
    const res = await jobA.event({ type: "started" }, { token: expired });
    expect(res.status).toBe(401);
    expect(ApiErrorBody.parse(await res.json()).error.message).toContain("expired");
    // an event body naming another job, with A's valid token
    expect((await jobA.event({ type: "started" }, { jobId: b.task_id })).status).toBe(403);

    const snapA = await snapshot(user, a.task_id);
    expect(snapA.task.status).not.toBe("running");
    expect((await tracker(a.task_id).stats()).engineSeq).toBe(-1);
    expect((await snapshot(user, b.task_id)).task.status).not.toBe("running");
  });

  it("a second user cannot read, cancel, download or subscribe to the first user's task", async () => {
    const engine = installFakeEngine();
    const owner = await newUser("owner");
    const other = await newUser("other");
    const voice = await createVoice(owner.id);
    const task = await created(owner, voice.id);
    const job = await engine.waitForJob(task.task_id);
    await job.succeed(1);
    await waitForStatus(owner, task.task_id, "succeeded");

    for (const [method, path] of [
      ["GET", `/api/tasks/${task.task_id}`],
      ["DELETE", `/api/tasks/${task.task_id}`],
      ["GET", `/api/tasks/${task.task_id}/segments/0`],
      ["GET", `/api/generations/${task.generation_id}`],
      ["GET", `/api/generations/${task.generation_id}/audio`],
      ["DELETE", `/api/generations/${task.generation_id}`],
    ] as const) {
      const res = await call(path, { method, cookie: other.cookie });
      expect(res.status, `${method} ${path}`).toBe(404);
      expect(ApiErrorBody.parse(await res.json()).error.code).toBe("not_found");
    }
    expect(await socketStatus(task.task_id, other.cookie)).toBe(404);
    // nor generate with the first user's voice
    expect((await generate(other, voice.id)).status).toBe(404);
    // and lists stay separate
    const list = (await (await call("/api/generations", { cookie: other.cookie })).json()) as { generations: unknown[] };
    expect(list.generations).toEqual([]);
    // the owner still has it all
    expect((await call(`/api/generations/${task.generation_id}/audio`, { cookie: owner.cookie })).status).toBe(200);
  });

  it("parallel generations never push a balance below zero", async () => {
    installFakeEngine();
    const user = await newUser("parallel");
    const balance = await balanceOf(user); // this month's Free grant: 100
    await setPlan(user.id, "studio"); // 10 concurrent jobs: the credit guard, not the cap, must stop them
    const voice = await createVoice(user.id);
    const text = "x".repeat(3000); // 30 credits each
    const results = await Promise.all(Array.from({ length: 8 }, () => generate(user, voice.id, text)));
    const statuses = results.map((r) => r.status);
    const accepted = statuses.filter((s) => s === 202).length;
    expect(accepted).toBeGreaterThan(0);
    expect(accepted * 30).toBeLessThanOrEqual(balance);
    expect(statuses.filter((s) => s === 402).length).toBe(8 - accepted);
    const refused = results.find((r) => r.status === 402)!;
    const body = ApiErrorBody.parse(await refused.json());
    expect(body.error.code).toBe("insufficient_credits");
    expect(body.error.details).toMatchObject({ cost: 30 });
    expect(await balanceOf(user)).toBeGreaterThanOrEqual(0);
    expect(await balanceOf(user)).toBe(balance - accepted * 30);
    // Refused requests left no task or generation behind.
    const tasks = (await (await call("/api/tasks?status=all", { cookie: user.cookie })).json()) as { tasks: unknown[] };
    expect(tasks.tasks).toHaveLength(accepted);
  });

  it("out of credits is a 402 with balance and cost", async () => {
    installFakeEngine();
    const user = await newUser("broke");
    const voice = await createVoice(user.id);
    const res = await generate(user, voice.id, "y".repeat(5000)); // 50 credits
    expect(res.status).toBe(202);
    await grantCredits(user.id, 0);
    const first = (await res.json()) as Created;
    await call(`/api/tasks/${first.task_id}`, { method: "DELETE", cookie: user.cookie });
    // 100 - 0 after release; spend 100 with two 50s (plan cap 1: cancel in between)
    const big = await generate(user, voice.id, "z".repeat(5000));
    expect(big.status).toBe(202);
    await call(`/api/tasks/${((await big.json()) as Created).task_id}`, { method: "DELETE", cookie: user.cookie });
    await grantCredits(user.id, -95);
    const refused = await generate(user, voice.id, "w".repeat(700));
    expect(refused.status).toBe(402);
    expect(ApiErrorBody.parse(await refused.json()).error.details).toEqual({ balance: 5, cost: 7 });
  });

  it("caps concurrent jobs per plan with a clear 429", async () => {
    installFakeEngine();
    const user = await newUser("cap");
    const voice = await createVoice(user.id);
    expect((await generate(user, voice.id)).status).toBe(202);
    const second = await generate(user, voice.id);
    expect(second.status).toBe(429);
    const body = ApiErrorBody.parse(await second.json());
    expect(body.error.code).toBe("too_many_active_tasks");
    expect(body.error.message).toContain("1 job at a time");
  });

  it("validates generation requests", async () => {
    const user = await newUser("validate");
    const voice = await createVoice(user.id);
    const cases: [unknown, string][] = [
      [{ voice_id: voice.id, text: "", language: "en" }, "text"],
      [{ voice_id: voice.id, text: "   ", language: "en" }, "text"],
      [{ voice_id: voice.id, text: "a".repeat(50_001), language: "en" }, "text"], // over the longest plan limit (Free over its own is a 403: long-form.test.ts)
      [{ voice_id: voice.id, text: "hi", language: "xx" }, "language"],
      [{ text: "hi", language: "en" }, "voice_id"],
    ];
    for (const [json, field] of cases) {
      const res = await call("/api/generations", { method: "POST", cookie: user.cookie, json });
      expect(res.status).toBe(400);
      const body = ApiErrorBody.parse(await res.json());
      expect(body.error.message).toContain(field);
    }
    expect((await call("/api/generations", { method: "POST", json: { voice_id: voice.id, text: "hi" } })).status).toBe(401);
    expect(await balanceOf(user)).toBe(100);
  });
});
