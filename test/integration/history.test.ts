import { createExecutionContext, createScheduledController, evictDurableObject, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { MAX_RESUMES } from "../../worker/engine/protocol";
import { describe, expect, it } from "vitest";
import worker from "../../worker/index";
import { ApiErrorBody } from "../../worker/lib/errors";
import { audioKeys } from "../../worker/storage/keys";
import type { TaskTracker } from "../../durable-objects/task-tracker";
import { installFakeEngine, type FakeEngine } from "../support/fake-engine";
import { createVoice, expectLedgerInvariant, setPlan } from "../support/factories";
import { call, signUp, type TestUser } from "../support/http";

interface GenView {
  id: string;
  task_id: string;
  text: string;
  status: string;
  voice_id: string | null;
  voice_name: string;
  audio_url: string | null;
}

async function finishedGeneration(engine: FakeEngine, user: TestUser, voiceId: string, text: string, segments = 2) {
  const res = await call("/api/generations", { method: "POST", cookie: user.cookie, json: { voice_id: voiceId, text, language: "en" } });
  expect(res.status).toBe(202);
  const created = (await res.json()) as { task_id: string; generation_id: string };
  const job = await engine.waitForJob(created.task_id);
  await job.succeed(segments, 250);
  return created;
}

async function list(user: TestUser, query = ""): Promise<{ generations: GenView[]; next_cursor: string | null }> {
  const res = await call(`/api/generations${query}`, { cookie: user.cookie });
  expect(res.status).toBe(200);
  return (await res.json()) as { generations: GenView[]; next_cursor: string | null };
}

describe("history API", () => {
  it("lists, filters, searches and paginates generations", async () => {
    const engine = installFakeEngine();
    const user = await signUp("history");
    await setPlan(user.id, "pro");
    const alice = await createVoice(user.id, { name: "Alice" });
    const bob = await createVoice(user.id, { name: "Bob" });
    await finishedGeneration(engine, user, alice.id, "The quick brown fox.");
    await finishedGeneration(engine, user, bob.id, "Jumps over the lazy dog.");
    await finishedGeneration(engine, user, alice.id, "A fox again, quickly.");

    const all = await list(user);
    expect(all.generations.map((g) => g.text)).toEqual(["A fox again, quickly.", "Jumps over the lazy dog.", "The quick brown fox."]);
    expect(all.generations.every((g) => g.status === "succeeded" && g.audio_url)).toBe(true);

    expect((await list(user, `?voice_id=${bob.id}`)).generations.map((g) => g.voice_name)).toEqual(["Bob"]);
    expect((await list(user, "?search=fox")).generations).toHaveLength(2);
    expect((await list(user, "?search=Bob")).generations).toHaveLength(1);
    expect((await list(user, "?status=failed")).generations).toHaveLength(0);
    // LIKE wildcards in a search are literal
    expect((await list(user, "?search=%25")).generations).toHaveLength(0);
    expect((await list(user, "?search=qu_ck")).generations).toHaveLength(0);
    await finishedGeneration(engine, user, bob.id, "Only 100% sure, 100_000 times.");
    expect((await list(user, "?search=100%25")).generations.map((g) => g.text)).toEqual(["Only 100% sure, 100_000 times."]);
    expect((await list(user, "?search=0_0")).generations).toHaveLength(1);
    expect((await list(user, "?search=QUICK")).generations).toHaveLength(2);

    const page1 = await list(user, "?limit=3");
    expect(page1.generations).toHaveLength(3);
    expect(page1.next_cursor).not.toBeNull();
    const page2 = await list(user, `?limit=3&cursor=${page1.next_cursor}`);
    expect(page2.generations.map((g) => g.text)).toEqual(["The quick brown fox."]);
    expect(page2.next_cursor).toBeNull();

    const bad = await call("/api/generations?status=nope", { cookie: user.cookie });
    expect(bad.status).toBe(400);
    expect(ApiErrorBody.parse(await bad.json()).error.message).toContain("status");
    await expectLedgerInvariant(user.id);
  });

  it("serves generation audio with Range requests and as a download", async () => {
    const engine = installFakeEngine();
    const user = await signUp("range");
    const voice = await createVoice(user.id);
    const g = await finishedGeneration(engine, user, voice.id, "Range me.");
    const full = await call(`/api/generations/${g.generation_id}/audio`, { cookie: user.cookie });
    expect(full.status).toBe(200);
    expect(full.headers.get("accept-ranges")).toBe("bytes");
    expect(full.headers.get("x-content-type-options")).toBe("nosniff");
    const bytes = new Uint8Array(await full.arrayBuffer());

    const part = await call(`/api/generations/${g.generation_id}/audio`, { cookie: user.cookie, headers: { range: "bytes=10-29" } });
    expect(part.status).toBe(206);
    expect(part.headers.get("content-range")).toBe(`bytes 10-29/${bytes.length}`);
    expect(new Uint8Array(await part.arrayBuffer())).toEqual(bytes.slice(10, 30));

    const tail = await call(`/api/generations/${g.generation_id}/audio`, { cookie: user.cookie, headers: { range: "bytes=-8" } });
    expect(tail.status).toBe(206);
    expect(new Uint8Array(await tail.arrayBuffer())).toEqual(bytes.slice(-8));

    const beyond = await call(`/api/generations/${g.generation_id}/audio`, { cookie: user.cookie, headers: { range: `bytes=${bytes.length + 5}-` } });
    expect(beyond.status).toBe(416);

    const dl = await call(`/api/generations/${g.generation_id}/audio?download=1`, { cookie: user.cookie });
    expect(dl.headers.get("content-disposition")).toMatch(/^attachment; filename="utter-gen_[0-9a-f]+\.wav"$/);
    await dl.arrayBuffer();

    const mp3 = await call(`/api/generations/${g.generation_id}/audio?format=mp3`, { cookie: user.cookie });
    expect(mp3.status).toBe(409);
    expect(ApiErrorBody.parse(await mp3.json()).error.code).toBe("format_unavailable");
  });

  it("deletes a generation with its audio and segments", async () => {
    const engine = installFakeEngine();
    const user = await signUp("delete");
    const voice = await createVoice(user.id);
    const g = await finishedGeneration(engine, user, voice.id, "Delete me.", 3);
    expect(await env.AUDIO.head(audioKeys.generation(user.id, g.generation_id))).not.toBeNull();
    expect(await env.AUDIO.head(audioKeys.segment(user.id, g.task_id, 2))).not.toBeNull();
    const res = await call(`/api/generations/${g.generation_id}`, { method: "DELETE", cookie: user.cookie });
    expect(res.status).toBe(204);
    expect(await env.AUDIO.head(audioKeys.generation(user.id, g.generation_id))).toBeNull();
    expect((await env.AUDIO.list({ prefix: audioKeys.segmentsPrefix(user.id, g.task_id) })).objects).toHaveLength(0);
    expect((await call(`/api/generations/${g.generation_id}`, { cookie: user.cookie })).status).toBe(404);
    expect((await list(user)).generations).toHaveLength(0);
  });

  it("refuses to delete a generation that is still running", async () => {
    const engine = installFakeEngine();
    const user = await signUp("busy");
    const voice = await createVoice(user.id);
    const res = await call("/api/generations", { method: "POST", cookie: user.cookie, json: { voice_id: voice.id, text: "Still going." } });
    const created = (await res.json()) as { task_id: string; generation_id: string };
    await engine.waitForJob(created.task_id);
    const del = await call(`/api/generations/${created.generation_id}`, { method: "DELETE", cookie: user.cookie });
    expect(del.status).toBe(409);
  });

  it("lists active and all tasks", async () => {
    const engine = installFakeEngine();
    const user = await signUp("tasks");
    await setPlan(user.id, "pro");
    const voice = await createVoice(user.id);
    const done = await finishedGeneration(engine, user, voice.id, "Done.");
    const res = await call("/api/generations", { method: "POST", cookie: user.cookie, json: { voice_id: voice.id, text: "Running." } });
    const running = (await res.json()) as { task_id: string };
    await engine.waitForJob(running.task_id);
    const active = (await (await call("/api/tasks?status=active", { cookie: user.cookie })).json()) as { tasks: { id: string }[] };
    expect(active.tasks.map((t) => t.id)).toEqual([running.task_id]);
    const all = (await (await call("/api/tasks", { cookie: user.cookie })).json()) as { tasks: { id: string }[] };
    expect(all.tasks.map((t) => t.id).sort()).toEqual([done.task_id, running.task_id].sort());
  });
});

describe("scheduled maintenance", () => {
  it("purges segments a day after a task ends and keeps the final file", async () => {
    const engine = installFakeEngine();
    const user = await signUp("purge");
    const voice = await createVoice(user.id);
    const g = await finishedGeneration(engine, user, voice.id, "Purge my segments.", 2);
    await env.DB.prepare(`UPDATE tasks SET finished_at = ?2 WHERE id = ?1`).bind(g.task_id, Date.now() - 25 * 3600_000).run();
    const ctx = createExecutionContext();
    await worker.scheduled(createScheduledController({ cron: "*/5 * * * *" }), env, ctx);
    expect((await env.AUDIO.list({ prefix: audioKeys.segmentsPrefix(user.id, g.task_id) })).objects).toHaveLength(0);
    expect(await env.AUDIO.head(audioKeys.generation(user.id, g.generation_id))).not.toBeNull();
  });

  it("fails a task whose alarm was lost, via the stale-task sweep", async () => {
    const engine = installFakeEngine();
    const user = await signUp("sweep");
    const voice = await createVoice(user.id);
    const res = await call("/api/generations", { method: "POST", cookie: user.cookie, json: { voice_id: voice.id, text: "Lost." } });
    const created = (await res.json()) as { task_id: string };
    const job = await engine.waitForJob(created.task_id);
    await job.ack({ type: "started" });
    // The DO records "running" in D1 in the background; let that land before backdating the row.
    for (let i = 0; i < 100; i++) {
      const row = await env.DB.prepare(`SELECT status FROM tasks WHERE id = ?1`).bind(created.task_id).first<{ status: string }>();
      if (row?.status === "running") break;
      await new Promise((r) => setTimeout(r, 10));
    }
    const stub = env.TASK_TRACKER.get(env.TASK_TRACKER.idFromName(created.task_id));
    await runInDurableObject(stub, async (_i: TaskTracker, state) => {
      const s = (await state.storage.get<{ lastEventAt: number; resumes?: number }>("state"))!;
      s.lastEventAt = Date.now() - 10 * 60_000;
      s.resumes = MAX_RESUMES; // resumed as often as it may be (ADR 0023): the sweep fails it
      await state.storage.put("state", s);
      await state.storage.deleteAlarm();
    });
    await evictDurableObject(stub); // reload the backdated state from storage
    await env.DB.prepare(`UPDATE tasks SET updated_at = ?2 WHERE id = ?1`).bind(created.task_id, Date.now() - 10 * 60_000).run();
    await worker.scheduled(createScheduledController({ cron: "*/5 * * * *" }), env, createExecutionContext());
    const snap = (await (await call(`/api/tasks/${created.task_id}`, { cookie: user.cookie })).json()) as { task: { status: string; error: { code: string } } };
    expect(snap.task.status).toBe("failed");
    expect(snap.task.error.code).toBe("engine_timeout");
    expect(await expectLedgerInvariant(user.id)).toBe(100);
  });

  it("grants monthly plan credits once per user and month", async () => {
    const user = await signUp("monthly");
    await setPlan(user.id, "pro");
    const at = new Date("2031-05-01T03:00:00Z");
    const { grantMonthlyCredits } = await import("../../worker/scheduled/maintenance");
    await grantMonthlyCredits(env, at);
    await grantMonthlyCredits(env, at);
    const row = await env.DB.prepare(`SELECT count(*) AS n, sum(delta) AS s FROM credit_ledger WHERE user_id = ?1 AND idempotency_key = ?2`)
      .bind(user.id, `grant:${user.id}:2031-05`)
      .first<{ n: number; s: number }>();
    expect(row).toEqual({ n: 1, s: 1000 });
    await expectLedgerInvariant(user.id);
  });
});

describe("monthly grants and subscriptions", () => {
  it("skips users whose credits come from a live subscription, lazily and in the cron", async () => {
    const user = await signUp("subscriber");
    await env.DB.prepare(
      `INSERT INTO subscriptions (id, user_id, customer_id, status, plan, stripe_updated_at) VALUES (?1, ?2, 'cus_test', 'active', 'pro', 1)`,
    )
      .bind(`sub_${user.id}`, user.id)
      .run();
    await setPlan(user.id, "pro");
    const me = (await (await call("/api/me", { cookie: user.cookie })).json()) as { credits: { balance: number } };
    expect(me.credits.balance).toBe(0);
    const { grantMonthlyCredits } = await import("../../worker/scheduled/maintenance");
    await grantMonthlyCredits(env, new Date("2031-06-01T03:00:00Z"));
    expect(await expectLedgerInvariant(user.id)).toBe(0);
  });
});

describe("recovery of tasks whose tracker never started", () => {
  it("the sweep fails them from their D1 row and releases the reservation once", async () => {
    const user = await signUp("orphan");
    const voice = await createVoice(user.id);
    const me = (await (await call("/api/me", { cookie: user.cookie })).json()) as { credits: { balance: number } };
    const taskId = `task_orphan${Date.now()}`;
    const old = Date.now() - 20 * 60_000;
    // Exactly what the creation batch commits before the tracker is initialised.
    await env.DB.batch([
      env.DB.prepare(
        `INSERT INTO tasks (id, user_id, kind, status, voice_id, input, cost, created_at, updated_at) VALUES (?1, ?2, 'generate', 'queued', ?3, '{"text":"x","language":"en"}', 3, ?4, ?4)`,
      ).bind(taskId, user.id, voice.id, old),
      env.DB.prepare(
        `INSERT INTO credit_ledger (user_id, delta, kind, idempotency_key, task_id, created_at) VALUES (?1, -3, 'reserve', ?2, ?3, ?4)`,
      ).bind(user.id, `reserve:${taskId}`, taskId, old),
    ]);
    expect(await expectLedgerInvariant(user.id)).toBe(me.credits.balance - 3);
    await worker.scheduled(createScheduledController({ cron: "*/5 * * * *" }), env, createExecutionContext());
    await worker.scheduled(createScheduledController({ cron: "*/5 * * * *" }), env, createExecutionContext());
    const row = await env.DB.prepare(`SELECT status, error FROM tasks WHERE id = ?1`).bind(taskId).first<{ status: string; error: string }>();
    expect(row?.status).toBe("failed");
    expect(JSON.parse(row!.error).code).toBe("engine_unavailable");
    expect(await expectLedgerInvariant(user.id)).toBe(me.credits.balance);
  });

  it("settling a task that holds no reservation releases nothing (no credits minted)", async () => {
    const user = await signUp("noreserve");
    await call("/api/me", { cookie: user.cookie });
    const before = await expectLedgerInvariant(user.id);
    const taskId = `task_noreserve${Date.now()}`;
    await env.DB.prepare(
      `INSERT INTO tasks (id, user_id, kind, status, input, cost, created_at, updated_at) VALUES (?1, ?2, 'design_preview', 'queued', '{"text":"x","language":"en"}', 5, ?3, ?3)`,
    )
      .bind(taskId, user.id, Date.now())
      .run();
    const { settleFromRow } = await import("../../worker/tasks/settle");
    expect(await settleFromRow(env.DB, taskId, { code: "engine_unavailable", message: "x", retryable: true })).toBe(true);
    expect(await expectLedgerInvariant(user.id)).toBe(before);
  });
});

describe("heartbeat deadline", () => {
  it("arms the alarm for silence as soon as the task runs", async () => {
    const engine = installFakeEngine();
    const user = await signUp("hbalarm");
    const voice = await createVoice(user.id);
    const res = await call("/api/generations", { method: "POST", cookie: user.cookie, json: { voice_id: voice.id, text: "Beat." } });
    const { task_id } = (await res.json()) as { task_id: string };
    const job = await engine.waitForJob(task_id);
    const stub = env.TASK_TRACKER.get(env.TASK_TRACKER.idFromName(task_id));
    const beforeStart = await runInDurableObject(stub, (_i: TaskTracker, state) => state.storage.getAlarm());
    await job.ack({ type: "started" });
    const afterStart = await runInDurableObject(stub, (_i: TaskTracker, state) => state.storage.getAlarm());
    expect(beforeStart! - Date.now()).toBeGreaterThan(5 * 60_000); // the start deadline
    expect(afterStart! - Date.now()).toBeLessThanOrEqual(60_000); // the heartbeat deadline
    expect(afterStart! - Date.now()).toBeGreaterThan(50_000);
  });
});

describe("MP3 downloads", () => {
  // A few MPEG-1 Layer III frame headers (0xFFFB…) stand in for an encoder's output: the Worker stores and serves bytes.
  const fakeMp3 = () => {
    const bytes = new Uint8Array(4 * 417);
    for (let f = 0; f < 4; f++) bytes.set([0xff, 0xfb, 0x90, 0x64], f * 417);
    return bytes;
  };

  it("serves the engine's MP3 beside the WAV, and deletes it with the generation", async () => {
    const engine = installFakeEngine();
    const user = await signUp("mp3");
    const voice = await createVoice(user.id);
    const res = await call("/api/generations", { method: "POST", cookie: user.cookie, json: { voice_id: voice.id, text: "In two formats." } });
    const created = (await res.json()) as { task_id: string; generation_id: string };
    const job = await engine.waitForJob(created.task_id);
    const mp3 = fakeMp3();
    await job.succeed(1, 300, { mp3 });
    const snap = (await (await call(`/api/tasks/${created.task_id}`, { cookie: user.cookie })).json()) as { task: { result: { formats: string[] } } };
    expect(snap.task.result.formats).toEqual(["wav", "mp3"]);
    const gen = (await (await call(`/api/generations/${created.generation_id}`, { cookie: user.cookie })).json()) as { generation: { formats: string[] } };
    expect(gen.generation.formats).toEqual(["wav", "mp3"]);
    const dl = await call(`/api/generations/${created.generation_id}/audio?format=mp3&download=1`, { cookie: user.cookie });
    expect(dl.status).toBe(200);
    expect(dl.headers.get("content-type")).toBe("audio/mpeg");
    expect(dl.headers.get("content-disposition")).toMatch(/\.mp3"$/);
    expect(new Uint8Array(await dl.arrayBuffer())).toEqual(mp3);
    expect((await call(`/api/generations/${created.generation_id}`, { method: "DELETE", cookie: user.cookie })).status).toBe(204);
    expect(await env.AUDIO.head(`users/${user.id}/generations/${created.generation_id}.mp3`)).toBeNull();
  });

  it("a generation without an MP3 lists only WAV; previews take no MP3", async () => {
    const engine = installFakeEngine();
    const user = await signUp("nomp3");
    const voice = await createVoice(user.id);
    const g = await finishedGeneration(engine, user, voice.id, "Just a WAV.");
    const gen = (await (await call(`/api/generations/${g.generation_id}`, { cookie: user.cookie })).json()) as { generation: { formats: string[] } };
    expect(gen.generation.formats).toEqual(["wav"]);
    const preview = await call("/api/voices/design/preview", { method: "POST", cookie: user.cookie, json: { description: "Bright", text: "Hi there." } });
    const { task_id } = (await preview.json()) as { task_id: string };
    const job = await engine.waitForJob(task_id);
    await job.ack({ type: "started" });
    expect((await job.upload("final.mp3", fakeMp3())).status).toBe(404);
  });
});

describe("MP3 after completion", () => {
  it("an MP3 uploaded after `completed` is still offered; one after a failure is refused", async () => {
    const engine = installFakeEngine();
    const user = await signUp("latemp3");
    await setPlan(user.id, "pro");
    const voice = await createVoice(user.id);
    const g = await finishedGeneration(engine, user, voice.id, "Late MP3.");
    const job = await engine.waitForJob(g.task_id);
    const mp3 = new Uint8Array(900).fill(0xff);
    expect((await job.upload("final.mp3", mp3)).status).toBe(201);
    const gen = (await (await call(`/api/generations/${g.generation_id}`, { cookie: user.cookie })).json()) as { generation: { formats: string[] } };
    expect(gen.generation.formats).toEqual(["wav", "mp3"]);
    expect((await call(`/api/generations/${g.generation_id}/audio?format=mp3`, { cookie: user.cookie })).status).toBe(200);

    const res = await call("/api/generations", { method: "POST", cookie: user.cookie, json: { voice_id: voice.id, text: "Will fail." } });
    const failed = (await res.json()) as { task_id: string };
    const job2 = await engine.waitForJob(failed.task_id);
    await job2.ack({ type: "failed", error: { code: "generation_failed", message: "no", retryable: false } });
    expect((await job2.upload("final.mp3", mp3)).status).toBe(409);
  });
});
