import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { createRequestContext } from "../../worker/context";
import { createTask } from "../../worker/services/tasks";
import { describe, expect, it } from "vitest";
import { SEED_MAX } from "../../worker/engine/protocol";
import { installFakeEngine, type FakeEngine } from "../support/fake-engine";
import { createVoice, setPlan } from "../support/factories";
import { call, type TestUser } from "../support/http";
import { ledgerCheckedUsers } from "../support/ledger-users";
import { makeWav } from "../support/wav";

interface Created {
  task_id: string;
  generation_id: string;
  take: number;
  cost: number;
}
interface TakeBody {
  take: number;
  task_id: string;
  seed: number | null;
  status: string;
  preferred: boolean;
  cost: number;
  charged: number | null;
  released: number | null;
  duration_ms: number | null;
  audio_url: string | null;
}
interface GenerationBody {
  id: string;
  task_id: string;
  status: string;
  take: number;
  preferred_take: number;
  takes: number;
  seed: number | null;
  duration_ms: number | null;
  audio_url: string | null;
}

const newUser = ledgerCheckedUsers();
const TEXT = "One sentence for a take. And another one.";

async function json<T>(res: Response, status: number): Promise<T> {
  if (res.status !== status) throw new Error(`wanted ${status}, got ${res.status}: ${await res.text()}`);
  return (await res.json()) as T;
}

async function balanceOf(user: TestUser): Promise<number> {
  return (await json<{ credits: { balance: number } }>(await call("/api/me", { cookie: user.cookie }), 200)).credits.balance;
}

function newTake(user: TestUser, generationId: string, body: unknown = {}) {
  return call(`/api/generations/${generationId}/takes`, { method: "POST", cookie: user.cookie, json: body });
}

async function takes(user: TestUser, generationId: string) {
  return json<{ generation_id: string; preferred_take: number; takes: TakeBody[] }>(
    await call(`/api/generations/${generationId}/takes`, { cookie: user.cookie }),
    200,
  );
}

async function generation(user: TestUser, id: string, query = "") {
  return (await json<{ generation: GenerationBody }>(await call(`/api/generations/${id}${query}`, { cookie: user.cookie }), 200))
    .generation;
}

/** The engine finishes the job with a final of `ms` milliseconds (a different length per take tells them apart). */
async function finish(engine: FakeEngine, taskId: string, ms: number) {
  const job = await engine.waitForJob(taskId);
  await job.ack({ type: "started", segments_total: 1 });
  await job.segment(0, ms);
  const final = makeWav(ms, { sampleRate: job.job.output.sample_rate });
  expect((await job.upload("final", final)).status).toBe(201);
  await job.ack({ type: "completed", duration_ms: ms, sample_rate: job.job.output.sample_rate, size_bytes: final.byteLength });
  return { job: job.job, final };
}

async function audioBytes(user: TestUser, path: string): Promise<Uint8Array> {
  const res = await call(path, { cookie: user.cookie });
  expect(res.status, path).toBe(200);
  return new Uint8Array(await res.arrayBuffer());
}

async function generated(user: TestUser, voiceId: string, extra: Record<string, unknown> = {}): Promise<Created> {
  return json<Created>(
    await call("/api/generations", {
      method: "POST",
      cookie: user.cookie,
      json: { voice_id: voiceId, text: TEXT, language: "en", ...extra },
    }),
    202,
  );
}

describe("takes and seeds (ADR 0022)", () => {
  it("records the seed it was given, or one it picked, and sends it to the engine", async () => {
    const engine = installFakeEngine();
    const user = await newUser("seeds");
    await setPlan(user.id, "studio");
    const voice = await createVoice(user.id);
    const chosen = await generated(user, voice.id, { seed: 1234 });
    const picked = await generated(user, voice.id);
    expect(chosen.take).toBe(1);
    expect((await engine.waitForJob(chosen.task_id)).job.seed).toBe(1234);
    const pickedSeed = (await engine.waitForJob(picked.task_id)).job.seed;
    expect(Number.isInteger(pickedSeed)).toBe(true);
    expect(pickedSeed).toBeGreaterThanOrEqual(0);
    expect(pickedSeed).toBeLessThanOrEqual(SEED_MAX);
    expect((await generation(user, chosen.generation_id)).seed).toBe(1234);
    expect((await generation(user, picked.generation_id)).seed).toBe(pickedSeed);
    expect((await takes(user, picked.generation_id)).takes.map((t) => t.seed)).toEqual([pickedSeed]);
  });

  it("refuses a seed outside 0 … 2^31 − 1 with the limit, on a generation and on a take", async () => {
    installFakeEngine();
    const user = await newUser("seed-range");
    const voice = await createVoice(user.id);
    for (const seed of [SEED_MAX + 1, -1, 1.5]) {
      const res = await call("/api/generations", { method: "POST", cookie: user.cookie, json: { voice_id: voice.id, text: TEXT, seed } });
      expect(res.status, String(seed)).toBe(400);
      const body = JSON.stringify(await res.json());
      expect(body).toContain("seed");
      expect(body).toContain(String(SEED_MAX));
    }
    const g = await generated(user, voice.id, { seed: SEED_MAX });
    const bad = await newTake(user, g.generation_id, { seed: SEED_MAX + 1 });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(await bad.json())).toContain(String(SEED_MAX));
    expect((await takes(user, g.generation_id)).takes).toHaveLength(1);
  });

  it("makes a second take charged once, like the same text again; the preferred switch changes what downloads return", async () => {
    const engine = installFakeEngine();
    const user = await newUser("takes");
    const voice = await createVoice(user.id);
    const first = await generated(user, voice.id, { seed: 7 });
    const one = await finish(engine, first.task_id, 400);
    const before = await balanceOf(user);

    const second = await json<Created>(await newTake(user, first.generation_id, { seed: 99 }), 202);
    expect(second).toMatchObject({ generation_id: first.generation_id, take: 2, cost: first.cost });
    expect(second.task_id).not.toBe(first.task_id);
    expect(await balanceOf(user)).toBe(before - first.cost);
    const two = await finish(engine, second.task_id, 800);
    // The engine got the same text, language and voice, with the take's own seed.
    expect(two.job).toMatchObject({ text: one.job.text, language: one.job.language, seed: 99, voice: { voice_id: voice.id } });
    expect(await balanceOf(user)).toBe(before - first.cost);
    const ledger = await json<{ entries: { kind: string; task_id: string | null; delta: number }[] }>(
      await call("/api/credits/ledger", { cookie: user.cookie }),
      200,
    );
    expect(
      ledger.entries
        .filter((e) => e.task_id === second.task_id)
        .map((e) => [e.kind, e.delta])
        .sort(),
    ).toEqual(
      [
        ["capture", 0],
        ["reserve", -first.cost],
      ].sort(),
    );

    const list = await takes(user, first.generation_id);
    expect(list.preferred_take).toBe(1);
    expect(list.takes.map((t) => [t.take, t.seed, t.status, t.preferred, t.duration_ms, t.charged])).toEqual([
      [1, 7, "succeeded", true, 400, first.cost],
      [2, 99, "succeeded", false, 800, first.cost],
    ]);

    // Until chosen, the first take is what the generation and its downloads are.
    const base = `/api/generations/${first.generation_id}/audio`;
    expect(await audioBytes(user, base)).toEqual(one.final);
    expect(await audioBytes(user, `${base}?take=2`)).toEqual(two.final);
    expect(await generation(user, first.generation_id)).toMatchObject({ take: 1, preferred_take: 1, takes: 2, seed: 7, duration_ms: 400 });
    expect(await generation(user, first.generation_id, "?take=2")).toMatchObject({
      take: 2,
      preferred_take: 1,
      seed: 99,
      duration_ms: 800,
      audio_url: `${base}?take=2`,
    });

    const chosen = await json<{ generation: GenerationBody }>(
      await call(`/api/generations/${first.generation_id}/preferred`, { method: "PUT", cookie: user.cookie, json: { take: 2 } }),
      200,
    );
    expect(chosen.generation).toMatchObject({
      take: 2,
      preferred_take: 2,
      seed: 99,
      duration_ms: 800,
      task_id: second.task_id,
      audio_url: base,
    });
    expect(await audioBytes(user, base)).toEqual(two.final);
    expect(await audioBytes(user, `${base}?take=1`)).toEqual(one.final);
    const download = await call(`${base}?download=1`, { cookie: user.cookie });
    expect(download.headers.get("content-disposition")).toContain(`utter-${first.generation_id}.wav`);
    const history = await json<{ generations: GenerationBody[] }>(await call("/api/generations", { cookie: user.cookie }), 200);
    expect(history.generations.find((g) => g.id === first.generation_id)).toMatchObject({ take: 2, takes: 2, seed: 99, duration_ms: 800 });
    // The ZIP of several generations takes the preferred take too.
    const zip = await audioBytes(user, `/api/generations/archive?ids=${first.generation_id}`);
    expect(zip.byteLength).toBeGreaterThan(two.final.byteLength);
    expect(zip.byteLength).toBeLessThan(two.final.byteLength + one.final.byteLength);

    // Back to the first.
    await call(`/api/generations/${first.generation_id}/preferred`, { method: "PUT", cookie: user.cookie, json: { take: 1 } });
    expect(await audioBytes(user, base)).toEqual(one.final);
    expect((await takes(user, first.generation_id)).takes.map((t) => t.preferred)).toEqual([true, false]);
  });

  it("releases the credits of a failed take, says so, and keeps the preferred take", async () => {
    const engine = installFakeEngine();
    const user = await newUser("take-fails");
    const voice = await createVoice(user.id);
    const first = await generated(user, voice.id);
    await finish(engine, first.task_id, 400);
    const before = await balanceOf(user);
    const second = await json<Created>(await newTake(user, first.generation_id), 202);
    expect(await balanceOf(user)).toBe(before - second.cost);
    const job = await engine.waitForJob(second.task_id);
    await job.ack({ type: "started", segments_total: 1 });
    // Not retryable: a retryable failure of a running generation resumes it instead (ADR 0023).
    await job.ack({ type: "failed", error: { code: "generation_failed", message: "boom", retryable: false } });
    expect(await balanceOf(user)).toBe(before);

    const list = await takes(user, first.generation_id);
    expect(list.takes[1]).toMatchObject({ take: 2, status: "failed", charged: 0, released: second.cost, audio_url: null });
    expect(await generation(user, first.generation_id)).toMatchObject({ status: "succeeded", take: 1, takes: 2 });
    // A take with no audio cannot be chosen, nor downloaded.
    const refused = await call(`/api/generations/${first.generation_id}/preferred`, {
      method: "PUT",
      cookie: user.cookie,
      json: { take: 2 },
    });
    expect(refused.status).toBe(409);
    expect((await call(`/api/generations/${first.generation_id}/audio?take=2`, { cookie: user.cookie })).status).toBe(409);
  });

  it("releases the credits of a cancelled take and lists it as released", async () => {
    const engine = installFakeEngine();
    const user = await newUser("take-cancel");
    const voice = await createVoice(user.id);
    const first = await generated(user, voice.id);
    await finish(engine, first.task_id, 400);
    const before = await balanceOf(user);
    const second = await json<Created>(await newTake(user, first.generation_id, { seed: 8 }), 202);
    await engine.waitForJob(second.task_id);
    expect((await call(`/api/tasks/${second.task_id}`, { method: "DELETE", cookie: user.cookie })).status).toBe(200);
    expect(await balanceOf(user)).toBe(before);
    expect((await takes(user, first.generation_id)).takes[1]).toMatchObject({
      take: 2,
      seed: 8,
      status: "cancelled",
      charged: 0,
      released: second.cost,
    });
    expect(await generation(user, first.generation_id)).toMatchObject({ status: "succeeded", take: 1 });
  });

  it("keeps the generation on its preferred take when another take finishes first", async () => {
    const engine = installFakeEngine();
    const user = await newUser("take-overtakes");
    await setPlan(user.id, "studio"); // two jobs at once
    const voice = await createVoice(user.id);
    const first = await generated(user, voice.id, { seed: 1 });
    const second = await json<Created>(await newTake(user, first.generation_id, { seed: 2 }), 202);
    await finish(engine, second.task_id, 800);
    const meanwhile = await generation(user, first.generation_id);
    expect(meanwhile).toMatchObject({ task_id: first.task_id, take: 1, seed: 1, audio_url: null });
    expect(["queued", "dispatched", "running"]).toContain(meanwhile.status);
    const one = await finish(engine, first.task_id, 400);
    expect(await generation(user, first.generation_id)).toMatchObject({
      task_id: first.task_id,
      status: "succeeded",
      take: 1,
      duration_ms: 400,
    });
    expect(await audioBytes(user, `/api/generations/${first.generation_id}/audio`)).toEqual(one.final);
  });

  it("replaces a failed preferred take with the first take that succeeds", async () => {
    const engine = installFakeEngine();
    const user = await newUser("take-rescues");
    const voice = await createVoice(user.id);
    const first = await generated(user, voice.id);
    const job = await engine.waitForJob(first.task_id);
    await job.ack({ type: "failed", error: { code: "generation_failed", message: "boom", retryable: true } });
    expect(await generation(user, first.generation_id)).toMatchObject({ status: "failed", audio_url: null });
    const second = await json<Created>(await newTake(user, first.generation_id, { seed: 5 }), 202);
    const two = await finish(engine, second.task_id, 600);
    expect(await generation(user, first.generation_id)).toMatchObject({
      status: "succeeded",
      take: 2,
      preferred_take: 2,
      seed: 5,
      duration_ms: 600,
    });
    expect(await audioBytes(user, `/api/generations/${first.generation_id}/audio`)).toEqual(two.final);
  });

  it("answers 404 for someone else's generation, takes and take audio, and for a take that does not exist", async () => {
    const engine = installFakeEngine();
    const owner = await newUser("take-owner");
    const other = await newUser("take-other");
    const voice = await createVoice(owner.id);
    const g = await generated(owner, voice.id);
    await finish(engine, g.task_id, 400);
    const before = await balanceOf(other);
    expect((await newTake(other, g.generation_id)).status).toBe(404);
    expect((await newTake(other, g.generation_id, { seed: 3 })).status).toBe(404);
    expect((await call(`/api/generations/${g.generation_id}/takes`, { cookie: other.cookie })).status).toBe(404);
    expect(
      (await call(`/api/generations/${g.generation_id}/preferred`, { method: "PUT", cookie: other.cookie, json: { take: 1 } })).status,
    ).toBe(404);
    expect((await call(`/api/generations/${g.generation_id}/audio?take=1`, { cookie: other.cookie })).status).toBe(404);
    expect((await call(`/api/generations/${g.generation_id}?take=1`, { cookie: other.cookie })).status).toBe(404);
    expect(await balanceOf(other)).toBe(before);
    expect((await takes(owner, g.generation_id)).takes).toHaveLength(1);
    // The owner's own missing take.
    expect((await call(`/api/generations/${g.generation_id}?take=3`, { cookie: owner.cookie })).status).toBe(404);
    expect(
      (await call(`/api/generations/${g.generation_id}/preferred`, { method: "PUT", cookie: owner.cookie, json: { take: 3 } })).status,
    ).toBe(404);
    expect((await newTake(owner, "gen_nope")).status).toBe(404);
    expect((await call(`/api/generations/${g.generation_id}/takes`, { method: "POST", json: {} })).status).toBe(401);
  });

  it("refuses a take number already taken (two takes started at once) with a 409, reserving nothing", async () => {
    installFakeEngine();
    const user = await newUser("take-race");
    await setPlan(user.id, "studio"); // the first take is still running
    const voice = await createVoice(user.id);
    const g = await generated(user, voice.id);
    const before = await balanceOf(user);
    const ctx = createRequestContext(env, createExecutionContext(), "take-race");
    // What the second of two simultaneous requests does: it numbered its take before the first one's insert landed.
    const racing = createTask(
      ctx,
      { id: user.id, email: user.email, name: "race", plan: "studio" },
      {
        kind: "generate",
        input: { text: TEXT, language: "en", seed: 1 },
        cost: 1,
        voice: { id: voice.id },
        takeOf: { generationId: g.generation_id, take: 1 },
      },
    );
    await expect(racing).rejects.toMatchObject({ status: 409, code: "take_conflict" });
    expect(await balanceOf(user)).toBe(before);
    expect((await takes(user, g.generation_id)).takes).toHaveLength(1);
  });

  it("deletes every take's audio with its generation", async () => {
    const engine = installFakeEngine();
    const user = await newUser("take-delete");
    const voice = await createVoice(user.id);
    const first = await generated(user, voice.id);
    await finish(engine, first.task_id, 400);
    const second = await json<Created>(await newTake(user, first.generation_id), 202);
    expect((await call(`/api/generations/${first.generation_id}`, { method: "DELETE", cookie: user.cookie })).status).toBe(409);
    await finish(engine, second.task_id, 400);
    const keys = await env.DB.prepare(`SELECT r2_key FROM task_artifacts WHERE task_id IN (?1, ?2)`)
      .bind(first.task_id, second.task_id)
      .all<{ r2_key: string }>();
    expect(keys.results.length).toBeGreaterThanOrEqual(4);
    // The later take's files are its own, not over the first's.
    expect(new Set(keys.results.map((k) => k.r2_key)).size).toBe(keys.results.length);
    expect((await call(`/api/generations/${first.generation_id}`, { method: "DELETE", cookie: user.cookie })).status).toBe(204);
    for (const k of keys.results) expect(await env.AUDIO.head(k.r2_key), k.r2_key).toBeNull();
  });
});

describe("migration 0008: takes", () => {
  it("makes every existing generation its own single take 1, still playable", async () => {
    const db = env.MIGRATION_DB;
    for (const m of env.TEST_MIGRATIONS.filter((m) => m.name < "0008")) for (const q of m.queries) await db.prepare(q).run();
    const now = Date.UTC(2026, 10, 20);
    await db.batch([
      db
        .prepare(
          `INSERT INTO user (id, name, email, email_verified, created_at, updated_at) VALUES ('u1', 'U', 'u1@example.com', 0, ?1, ?1)`,
        )
        .bind(now),
      db
        .prepare(
          `INSERT INTO tasks (id, user_id, kind, status, generation_id, input, cost, created_at, updated_at) VALUES
           ('t1', 'u1', 'generate', 'succeeded', 'g1', '{"text":"hi","language":"en"}', 1, ?1, ?1),
           ('t2', 'u1', 'design_preview', 'succeeded', NULL, '{"text":"hi","language":"en"}', 5, ?1, ?1)`,
        )
        .bind(now),
    ]);
    for (const m of env.TEST_MIGRATIONS.filter((m) => m.name.startsWith("0008"))) for (const q of m.queries) await db.prepare(q).run();
    const rows = await db.prepare(`SELECT id, take FROM tasks ORDER BY id`).all();
    expect(rows.results).toEqual([
      { id: "t1", take: 1 },
      { id: "t2", take: null },
    ]);
    // A second take 1 of the same generation is refused.
    await expect(
      db
        .prepare(
          `INSERT INTO tasks (id, user_id, kind, status, generation_id, take, input, cost, created_at, updated_at) VALUES ('t3', 'u1', 'generate', 'queued', 'g1', 1, '{}', 1, ?1, ?1)`,
        )
        .bind(now)
        .run(),
    ).rejects.toThrow(/UNIQUE/);
  });
});
