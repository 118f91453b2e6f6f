import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { TaskTracker } from "../../durable-objects/task-tracker";
import { frameSamples } from "../../worker/engine/frames";
import { computePeaks } from "../../worker/engine/peaks";
import { SubmitRequest } from "../../worker/engine/protocol";
import { ApiErrorBody } from "../../worker/lib/errors";
import { jobTokenMs } from "../../worker/tasks/timeouts";
import { headerOf, openEngineSocket, toneSamples, type EngineSocket } from "../support/engine-socket";
import { installFakeEngine, JobDriver, type FakeEngine } from "../support/fake-engine";
import { createVoice, grantCredits, setPlan } from "../support/factories";
import { call, type TestUser } from "../support/http";
import { ledgerCheckedUsers } from "../support/ledger-users";
import { openTaskSocket } from "../support/socket";
import { makeWav } from "../support/wav";

// Long-form up to 50,000 characters that resumes from its last finished part (ADR 0023).
const newUser = ledgerCheckedUsers();
const tracker = (taskId: string) => env.TASK_TRACKER.get(env.TASK_TRACKER.idFromName(taskId));

async function balanceOf(user: TestUser): Promise<number> {
  return ((await (await call("/api/me", { cookie: user.cookie })).json()) as { credits: { balance: number } }).credits.balance;
}

async function paidUser(tag: string, credits = 1000) {
  const user = await newUser(tag);
  await setPlan(user.id, "pro");
  await grantCredits(user.id, credits);
  return user;
}

/** Exactly `chars` characters of ~100-character sentences. */
function longText(chars: number): string {
  const sentence = "The quick brown fox jumps over the lazy dog while the long evening settles over the quiet valley. ";
  return sentence.repeat(Math.ceil(chars / sentence.length) + 1).slice(0, chars - 1) + ".";
}

async function generate(user: TestUser, text: string, voiceId?: string) {
  const voice = voiceId ?? (await createVoice(user.id)).id;
  return call("/api/generations", { method: "POST", cookie: user.cookie, json: { voice_id: voice, text, language: "en" } });
}

/** The engine's nth job for a task (0: the first attempt, 1: the first resume, …). */
async function nthJob(fake: FakeEngine, taskId: string, n: number): Promise<JobDriver> {
  const started = Date.now();
  for (;;) {
    const job = fake.jobs.filter((j) => j.job_id === taskId)[n];
    if (job) return new JobDriver(job);
    if (Date.now() - started > 10_000) throw new Error(`engine never received attempt ${n} of ${taskId}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function engineFor(job: JobDriver): Promise<EngineSocket> {
  const opened = await openEngineSocket(job.job);
  if (!opened.ok) throw new Error(`engine socket refused: ${opened.status}`);
  return opened.engine;
}

/** A WAV whose PCM is exactly these frames' samples (what an engine uploads after streaming a part). */
function wavOfFrames(frames: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const pcm = frames.flatMap((f) => [...frameSamples(f)]);
  const out = new Uint8Array(44 + pcm.length * 2);
  out.set(makeWav(0, { sampleRate: 24_000 }).subarray(0, 44));
  const v = new DataView(out.buffer);
  v.setUint32(4, 36 + pcm.length * 2, true);
  v.setUint32(40, pcm.length * 2, true);
  pcm.forEach((x, i) => v.setInt16(44 + i * 2, x, true));
  return out;
}

/** Streams part `index` as two frames, uploads it, announces it. Returns its frames. */
async function renderPart(engine: EngineSocket, job: JobDriver, index: number): Promise<Uint8Array[]> {
  const frames = [0, 1].map((k) => engine.sendFrame(index, k * 480, toneSamples(engine.frame), k === 1));
  const up = await job.artifact(`segment/${index}`, { method: "PUT", body: wavOfFrames(frames) });
  expect(up.status, `segment ${index} upload`).toBe(201);
  expect((await engine.event({ type: "segment", index, duration_ms: 40, chars: 100 })).accepted).toBe(true);
  return frames;
}

async function settled(taskId: string) {
  return env.DB.prepare(`SELECT kind, delta FROM credit_ledger WHERE task_id = ?1 ORDER BY id`).bind(taskId).all<{ kind: string; delta: number }>();
}

describe("long-form text limits (plan limits, DESIGN §1)", () => {
  it("takes 50,000 characters on a paid plan, priced per character, with a token and deadline that fit an hour of audio", async () => {
    const fake = installFakeEngine();
    const user = await paidUser("long50k");
    const text = longText(50_000);
    expect([...text].length).toBe(50_000);
    const before = Date.now();
    const res = await generate(user, text);
    expect(res.status).toBe(202);
    const task = (await res.json()) as { task_id: string; cost: number };
    expect(task.cost).toBe(500);
    const job = await nthJob(fake, task.task_id, 0);
    expect(job.job.text).toBe(text);
    expect(job.job.resume_from).toBeUndefined();
    // The deadline (and the token) scale with the text: more than the old flat hour, by the per-character allowance.
    const deadline = Date.parse(job.job.deadline);
    expect(deadline - before).toBeGreaterThanOrEqual(jobTokenMs(50_000) - 5_000);
    expect(deadline - before).toBeGreaterThan(2 * 60 * 60_000);
    const cancel = await call(`/api/tasks/${task.task_id}`, { method: "DELETE", cookie: user.cookie });
    expect(cancel.status).toBe(200);
  });

  it("refuses 50,001 characters with 400 naming the limit, and Free over 5,000 with its plan limit (nothing reserved)", async () => {
    installFakeEngine();
    const paid = await paidUser("long50k1");
    const over = await generate(paid, longText(50_001));
    expect(over.status).toBe(400);
    const overBody = ApiErrorBody.parse(await over.json());
    expect(JSON.stringify(overBody.error)).toContain("50000");

    const free = await newUser("freeover");
    const before = await balanceOf(free);
    const voice = await createVoice(free.id);
    const res = await generate(free, longText(5_001), voice.id);
    expect(res.status).toBe(403);
    const body = ApiErrorBody.parse(await res.json());
    expect(body.error.code).toBe("text_limit_reached");
    expect(body.error.details).toMatchObject({ plan: "free", limit: 5_000, chars: 5_001 });
    expect(body.error.message).toContain("5,000");
    expect(await balanceOf(free)).toBe(before);
    const rows = await env.DB.prepare(`SELECT count(*) AS n FROM tasks WHERE user_id = ?1`).bind(free.id).first<{ n: number }>();
    expect(rows?.n).toBe(0);
    // 5,000 exactly is fine on Free (the credits allowing).
    await grantCredits(free.id, 100);
    expect((await generate(free, longText(5_000), voice.id)).status).toBe(202);
    // The limits are what the account and the plans say.
    const me = (await (await call("/api/me", { cookie: free.cookie })).json()) as { limits: { text_chars: number } };
    expect(me.limits.text_chars).toBe(5_000);
    const plans = (await (await call("/api/billing/plans")).json()) as { plans: { id: string; text_chars: number }[] };
    expect(Object.fromEntries(plans.plans.map((p) => [p.id, p.text_chars]))).toEqual({ free: 5_000, pro: 50_000, studio: 50_000 });
  });
});

describe("resume from the last finished part (ADR 0023)", () => {
  it("after a forced engine failure at 60 %: re-renders only the unfinished parts, charges once, no duplicate segments or audio", async () => {
    const fake = installFakeEngine();
    const user = await paidUser("resume60");
    const before = await balanceOf(user);
    const res = await generate(user, longText(1_000));
    expect(res.status).toBe(202);
    const task = (await res.json()) as { task_id: string; cost: number };
    const listener = await openTaskSocket(task.task_id, user.cookie);

    // Attempt 1: parts 0–5 of 10 finish (60 %), then the engine fails, retryably.
    const job1 = await nthJob(fake, task.task_id, 0);
    const engine1 = await engineFor(job1);
    await engine1.hello();
    await engine1.event({ type: "started", segments_total: 10, segment_chars: Array(10).fill(100) });
    const sent: Uint8Array[] = [];
    const parts: Uint8Array<ArrayBuffer>[] = [];
    for (let i = 0; i < 6; i++) {
      const frames = await renderPart(engine1, job1, i);
      sent.push(...frames);
      parts.push(wavOfFrames(frames));
    }
    const failAck = await engine1.event({ type: "failed", error: { code: "generation_failed", message: "CUDA hiccup", retryable: true } });
    expect(failAck).toMatchObject({ accepted: true, state: "running" });
    await engine1.waitClosed();

    // The Worker re-dispatches the same task: a new call (its own idempotency key), from part 6.
    const job2 = await nthJob(fake, task.task_id, 1);
    expect(job2.job.job_id).toBe(task.task_id);
    expect(job2.job.resume_from).toEqual({ attempt: 1, segment: 6, next_seq: 8, stream_offset: 6 * 960 });
    expect(fake.idempotencyKeys).toContain(`${task.task_id}.resume.1`);
    const deadline = Date.now() + 3000;
    while (!fake.cancels.includes(`call_${task.task_id}`) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(fake.cancels).toContain(`call_${task.task_id}`);

    // Attempt 2 takes the finished parts back with its job token instead of rendering them.
    const back = await fetchArtifact(job2, "segment/3");
    expect(back.status).toBe(200);
    expect(new Uint8Array(await back.arrayBuffer())).toEqual(parts[3]);
    expect((await fetchArtifact(job2, "segment/6")).status).toBe(404);
    expect((await fetchArtifact(job2, "segment/3", job1.job.callbacks.token.slice(0, -2) + "xx")).status).toBe(401);

    const engine2 = await engineFor(job2);
    const hello = await engine2.hello();
    expect(hello).toMatchObject({ acked_seq: 7, last_frame: 11, state: "running" });
    expect(hello.artifacts.filter((a) => a.kind === "segment").map((a) => a.index).sort((a, b) => a! - b!)).toEqual([0, 1, 2, 3, 4, 5]);
    engine2.seq = job2.job.resume_from!.next_seq;
    engine2.frame = hello.last_frame + 1;
    engine2.streamOffset = job2.job.resume_from!.stream_offset!;
    // Re-announcing a finished part is harmless (idempotent by index).
    expect((await engine2.event({ type: "segment", index: 2, duration_ms: 40 })).accepted).toBe(true);
    for (let i = 6; i < 10; i++) {
      const frames = await renderPart(engine2, job2, i);
      sent.push(...frames);
      parts.push(wavOfFrames(frames));
    }
    const final = wavOfFrames(sent);
    expect((await job2.artifact("final", { method: "PUT", body: final })).status).toBe(201);
    expect(await engine2.event({ type: "completed", duration_ms: 400, sample_rate: 24000, size_bytes: final.byteLength })).toMatchObject({
      accepted: true,
      state: "succeeded",
    });

    await listener.waitFor((m) => m.type === "completed");
    // Every part announced once, in order; every frame relayed once; the stream has no repeat and no gap.
    expect(listener.messages.flatMap((m) => (m.type === "segment" ? [m.index] : []))).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(listener.frames).toEqual(sent);
    const offsets = listener.frames.map((f) => headerOf(f).stream_offset);
    expect(offsets).toEqual(offsets.map((_, i) => i * 480));
    expect(listener.messages.some((m) => m.type === "progress" && m.stage === "resuming")).toBe(true);
    expect(listener.messages.some((m) => m.type === "failed")).toBe(false);

    // Charged once: one reservation, one capture of the whole cost.
    expect((await settled(task.task_id)).results).toEqual([
      { kind: "reserve", delta: -task.cost },
      { kind: "capture", delta: 0 },
    ]);
    expect(await balanceOf(user)).toBe(before - task.cost);
    const rows = await env.DB.prepare(`SELECT kind, idx FROM task_artifacts WHERE task_id = ?1 AND kind = 'segment' ORDER BY idx`).bind(task.task_id).all<{ idx: number }>();
    expect(rows.results.map((r) => r.idx)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    // The dispatcher records the resumed call beside telling the tracker, and the settle follows the ack: let both land.
    let row: { status: string; call_id: string | null } | null = null;
    const resumedCall = (r: typeof row) => !!r?.call_id && r.call_id.startsWith(`call_${task.task_id}_`);
    for (let i = 0; i < 200 && (!resumedCall(row) || row?.status !== "succeeded"); i++) {
      row = await env.DB.prepare(`SELECT status, call_id FROM tasks WHERE id = ?1`).bind(task.task_id).first<{ status: string; call_id: string | null }>();
      await new Promise((r) => setTimeout(r, 10));
    }
    // The row names the resumed call (the fake engine numbers a job id's later calls `call_<id>_<n>`).
    expect(row?.status).toBe("succeeded");
    expect(resumedCall(row)).toBe(true);
    // Two engine jobs in all: the first attempt and one resume.
    expect(fake.jobsFor(task.task_id)).toBe(2);
    listener.close();
  });

  it("a silent engine (heartbeat deadline) is resumed too; a v1 engine continues the Worker's seqs", async () => {
    const fake = installFakeEngine();
    const user = await paidUser("resumesilent");
    const before = await balanceOf(user);
    const task = (await (await generate(user, longText(400))).json()) as { task_id: string; cost: number };
    const job1 = await nthJob(fake, task.task_id, 0);
    await job1.ack({ type: "started", segments_total: 4 });
    await job1.segment(0);
    await job1.segment(1);
    const stub = tracker(task.task_id);
    await runInDurableObject(stub, async (_i: TaskTracker, state) => {
      const s = (await state.storage.get<{ lastEventAt: number }>("state"))!;
      s.lastEventAt = Date.now() - 120_000;
      await state.storage.put("state", s);
    });
    await evictDurableObject(stub);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    const job2 = await nthJob(fake, task.task_id, 1);
    expect(job2.job.resume_from).toMatchObject({ attempt: 1, segment: 2, next_seq: 3 });
    expect(SubmitRequest.safeParse(job2.job).success).toBe(true);
    job2.seq = job2.job.resume_from!.next_seq;
    for (let i = 2; i < 4; i++) await job2.segment(i);
    const finalWav = makeWav(1600, { sampleRate: 24_000 });
    expect((await job2.upload("final", finalWav)).status).toBe(201);
    expect(await job2.ack({ type: "completed", duration_ms: 1600, sample_rate: 24000, size_bytes: finalWav.byteLength })).toEqual({ accepted: true, state: "succeeded" });
    expect(await balanceOf(user)).toBe(before - task.cost);
    expect((await settled(task.task_id)).results.map((r) => r.kind)).toEqual(["reserve", "capture"]);
  });
});

async function fetchArtifact(job: JobDriver, path: string, token?: string) {
  const { exports } = await import("cloudflare:workers");
  return exports.default.fetch(new Request(`${job.job.callbacks.upload_url}/artifacts/${path}`, { headers: { authorization: `Bearer ${token ?? job.job.callbacks.token}` } }));
}

describe("the peaks artifact (ADR 0023)", () => {
  it("stores valid peaks, refuses bad ones with a 4xx and keeps nothing, and serves them to the owner after success", async () => {
    const fake = installFakeEngine();
    const user = await paidUser("peaks");
    const task = (await (await generate(user, "Hello there. This is a test.")).json()) as { task_id: string; generation_id: string };
    const job = await nthJob(fake, task.task_id, 0);
    await job.ack({ type: "started", segments_total: 1 });
    await job.segment(0, 400);
    const samples = new Float32Array(9600).map((_, i) => Math.sin(i / 9) * 0.5);
    const peaks = computePeaks(samples, 24_000);
    expect(peaks.peaks.length).toBe(Math.ceil(9600 / peaks.samples_per_peak));
    const key = `users/${user.id}/tasks/${task.task_id}/artifacts/peaks`; // the registry's default place for a newer kind

    const bad = [
      { ...peaks, peaks: peaks.peaks.slice(1) }, // the wrong count for its length
      { ...peaks, peaks: peaks.peaks.map(() => 1.5) }, // out of range
      { ...peaks, version: 2 },
    ];
    for (const body of [...bad.map((b) => JSON.stringify(b)), "not json", JSON.stringify({ ...peaks, extra: 1 })]) {
      const res = await job.artifact("peaks", { method: "PUT", body, contentType: "application/json" });
      expect(res.status, body.slice(0, 60)).toBe(400);
      expect(ApiErrorBody.parse(await res.json()).error.code).toBe("invalid_artifact_content");
      expect(await env.AUDIO.head(key)).toBeNull();
    }
    expect((await job.artifact("peaks", { method: "PUT", body: JSON.stringify(peaks), contentType: "audio/wav" })).status).toBe(415);
    expect((await job.artifact("peaks/uploads", { method: "POST", contentType: "application/json" })).status).toBe(400);
    expect((await job.artifact("peaks/0", { method: "PUT", body: JSON.stringify(peaks), contentType: "application/json" })).status).toBe(400);
    expect(await env.AUDIO.head(key)).toBeNull();

    const ok = await job.artifact("peaks", { method: "PUT", body: JSON.stringify(peaks), contentType: "application/json" });
    expect(ok.status).toBe(201);
    expect(await ok.json()).toMatchObject({ kind: "peaks", index: null });
    const finalWav = makeWav(400, { sampleRate: 24_000 });
    expect((await job.upload("final", finalWav)).status).toBe(201);
    expect((await job.ack({ type: "completed", duration_ms: 400, sample_rate: 24000, size_bytes: finalWav.byteLength })).state).toBe("succeeded");

    const served = await call(`/api/tasks/${task.task_id}/artifacts/peaks`, { cookie: user.cookie });
    expect(served.status).toBe(200);
    expect(served.headers.get("content-type")).toBe("application/json");
    expect(await served.json()).toEqual(peaks);
    const other = await newUser("peaksother");
    expect((await call(`/api/tasks/${task.task_id}/artifacts/peaks`, { cookie: other.cookie })).status).toBe(404);
    const g = (await (await call(`/api/generations/${task.generation_id}`, { cookie: user.cookie })).json()) as { generation: { peaks_url: string | null } };
    expect(g.generation.peaks_url).toBe(`/api/tasks/${task.task_id}/artifacts/peaks`);
    // The takes list names each take's peaks too (the generation page's take players draw them).
    const takes = (await (await call(`/api/generations/${task.generation_id}/takes`, { cookie: user.cookie })).json()) as { takes: { peaks_url: string | null }[] };
    expect(takes.takes.map((t) => t.peaks_url)).toEqual([`/api/tasks/${task.task_id}/artifacts/peaks`]);
    // The final audio itself is served with Range, so a player streams it instead of fetching it whole.
    const part = await call(`/api/generations/${task.generation_id}/audio`, { cookie: user.cookie, headers: { range: "bytes=0-99" } });
    expect(part.status).toBe(206);
    expect((await part.arrayBuffer()).byteLength).toBe(100);
  });
});

describe("the generate page counts to the plan's limit", () => {
  it("shows 5,000 on Free and 50,000 on a paid plan", async () => {
    const free = await newUser("pagefree");
    await createVoice(free.id); // the form shows once there is a voice to speak with
    const html = await (await call("/generate", { cookie: free.cookie, headers: { accept: "text/html" } })).text();
    expect(html).toContain("up to 5,000 characters");
    const paid = await newUser("pagepaid");
    await setPlan(paid.id, "pro");
    await createVoice(paid.id);
    const paidHtml = await (await call("/generate", { cookie: paid.cookie, headers: { accept: "text/html" } })).text();
    expect(paidHtml).toContain("up to 50,000 characters");
  });
});
