import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { SubmitRequest } from "../../worker/engine/protocol";
import { ApiErrorBody } from "../../worker/lib/errors";
import { installFakeEngine, type FakeEngine, type JobDriver } from "../support/fake-engine";
import { createVoice, grantCredits } from "../support/factories";
import { call, type TestUser } from "../support/http";
import { ledgerCheckedUsers } from "../support/ledger-users";
import { makeWav } from "../support/wav";

// Regenerating one part of a finished take (issue 11 item 3, ADR 0026).
const newUser = ledgerCheckedUsers();

/** Three ~100-character sentences: the fake engine below splits them into three parts of 100 characters. */
const TEXT = [
  "The first part of this text is long enough to be a sentence of its own, spoken calmly and clearly.",
  "The second part is the one that came out wrong, so it is the one the person wants to hear again now.",
  "The third part closes the text, and it must stay exactly as it was when the second part is redone.",
].join(" ");

async function json<T>(res: Response, status: number): Promise<T> {
  if (res.status !== status) throw new Error(`wanted ${status}, got ${res.status}: ${await res.text()}`);
  return (await res.json()) as T;
}

async function balanceOf(user: TestUser): Promise<number> {
  return (await json<{ credits: { balance: number } }>(await call("/api/me", { cookie: user.cookie }), 200)).credits.balance;
}

async function ledgerOf(taskId: string) {
  const rows = await env.DB.prepare(`SELECT kind, delta FROM credit_ledger WHERE task_id = ?1 ORDER BY id`)
    .bind(taskId)
    .all<{ kind: string; delta: number }>();
  return rows.results;
}

/** PCM (s16le) of a WAV made by makeWav (44-byte header). */
const pcmOf = (wav: Uint8Array) => wav.subarray(44);

/** A WAV of these PCM bodies back to back: what an engine stitches from parts that carry their own pauses. */
function stitched(parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const pcm = parts.map(pcmOf);
  const n = pcm.reduce((s, p) => s + p.length, 0);
  const out = new Uint8Array(44 + n);
  out.set(makeWav(0).subarray(0, 44));
  const v = new DataView(out.buffer);
  v.setUint32(4, 36 + n, true);
  v.setUint32(40, n, true);
  let at = 44;
  for (const p of pcm) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

async function nthJob(fake: FakeEngine, taskId: string): Promise<JobDriver> {
  return fake.waitForJob(taskId);
}

async function readBack(job: JobDriver, index: number) {
  return exports.default.fetch(
    new Request(`${job.job.callbacks.upload_url}/artifacts/segment/${index}`, {
      headers: { authorization: `Bearer ${job.job.callbacks.token}` },
    }),
  );
}

/** A finished three-part generation made by the fake engine; its parts' WAVs and final. */
async function finishedGeneration(fake: FakeEngine, user: TestUser) {
  const voice = await createVoice(user.id);
  const created = await json<{ task_id: string; generation_id: string; cost: number }>(
    await call("/api/generations", { method: "POST", cookie: user.cookie, json: { voice_id: voice.id, text: TEXT, language: "en" } }),
    202,
  );
  const job = await nthJob(fake, created.task_id);
  await job.ack({ type: "started", segments_total: 3, segment_chars: [100, 100, 100] });
  for (let i = 0; i < 3; i++) await job.segment(i, 300);
  const final = stitched(job.segments);
  expect((await job.upload("final", final)).status).toBe(201);
  expect((await job.ack({ type: "completed", duration_ms: 900, sample_rate: 24000, size_bytes: final.byteLength })).state).toBe(
    "succeeded",
  );
  return { ...created, voiceId: voice.id, parts: [...job.segments], final };
}

function regenerate(user: TestUser, generationId: string, index: number | string, body: unknown = {}) {
  return call(`/api/generations/${generationId}/parts/${index}/regenerate`, { method: "POST", cookie: user.cookie, json: body });
}

describe("regenerating one part (ADR 0026)", () => {
  it("renders only that part, reads the others back, restitches the final, and charges that part once", async () => {
    const fake = installFakeEngine();
    const user = await newUser("partok");
    await grantCredits(user.id, 100);
    const source = await finishedGeneration(fake, user);

    const list = await json<{
      take: number;
      task_id: string;
      parts: { index: number; start_ms: number; end_ms: number; audio_url: string }[];
    }>(await call(`/api/generations/${source.generation_id}/parts`, { cookie: user.cookie }), 200);
    expect(list.take).toBe(1);
    expect(list.parts.map((p) => [p.index, p.start_ms, p.end_ms])).toEqual([
      [0, 0, 300],
      [1, 300, 600],
      [2, 600, 900],
    ]);
    const before = await balanceOf(user);

    const created = await json<{ task_id: string; take: number; cost: number; part: { index: number; source_take: number } }>(
      await regenerate(user, source.generation_id, 1, { seed: 7 }),
      202,
    );
    expect(created).toMatchObject({ take: 2, cost: 1, part: { index: 1, source_take: 1 } });

    // The engine is asked to render part 1 of 3 only, with the source's text and settings and the new seed.
    const job = await nthJob(fake, created.task_id);
    expect(SubmitRequest.safeParse(job.job).success).toBe(true);
    expect(job.job.render_parts).toEqual({ indices: [1], segments_total: 3 });
    expect(job.job.text).toBe(TEXT);
    expect(job.job.seed).toBe(7);
    expect(job.job.resume_from).toBeUndefined();

    // Through its own job's token it reads the other parts back: the source's bytes; part 1 is not there.
    for (const i of [0, 2]) {
      const back = await readBack(job, i);
      expect(back.status).toBe(200);
      expect(new Uint8Array(await back.arrayBuffer())).toEqual(source.parts[i]);
    }
    expect((await readBack(job, 1)).status).toBe(404);

    await job.ack({ type: "started", segments_total: 3, segment_chars: [100, 100, 100] });
    const fresh = makeWav(450, { freq: 555 });
    expect((await job.upload("segments/1", fresh)).status).toBe(201);
    for (const i of [0, 1, 2]) expect((await job.ack({ type: "segment", index: i, duration_ms: i === 1 ? 450 : 300 })).accepted).toBe(true);
    const final = stitched([source.parts[0]!, fresh, source.parts[2]!]);
    expect((await job.upload("final", final)).status).toBe(201);
    expect((await job.ack({ type: "completed", duration_ms: 1050, sample_rate: 24000, size_bytes: final.byteLength })).state).toBe(
      "succeeded",
    );
    expect(fake.jobsFor(created.task_id)).toBe(1);

    // Charged once, for that part only.
    expect(await ledgerOf(created.task_id)).toEqual([
      { kind: "reserve", delta: -1 },
      { kind: "capture", delta: 0 },
    ]);
    expect(await balanceOf(user)).toBe(before - 1);

    // The take keeps every part: the inherited ones share the source's objects.
    const rows = await env.DB.prepare(`SELECT idx, r2_key FROM task_artifacts WHERE task_id = ?1 AND kind = 'segment' ORDER BY idx`)
      .bind(created.task_id)
      .all<{ idx: number; r2_key: string }>();
    expect(rows.results.map((r) => r.idx)).toEqual([0, 1, 2]);
    expect(rows.results[0]!.r2_key).toContain(`/tasks/${source.task_id}/`);
    expect(rows.results[1]!.r2_key).toContain(`/tasks/${created.task_id}/`);
    expect(rows.results[2]!.r2_key).toContain(`/tasks/${source.task_id}/`);
    const inheritedServed = await call(`/api/tasks/${created.task_id}/artifacts/segment/2`, { cookie: user.cookie });
    expect(new Uint8Array(await inheritedServed.arrayBuffer())).toEqual(source.parts[2]);

    // The takes list labels it and plays its part alone.
    const takes = await json<{
      takes: { take: number; part: { index: number; source_task_id: string; audio_url: string | null } | null }[];
    }>(await call(`/api/generations/${source.generation_id}/takes`, { cookie: user.cookie }), 200);
    expect(takes.takes.map((t) => t.part)).toEqual([
      null,
      { index: 1, source_task_id: source.task_id, audio_url: `/api/tasks/${created.task_id}/artifacts/segment/1` },
    ]);
    const partAudio = await call(takes.takes[1]!.part!.audio_url!, { cookie: user.cookie });
    expect(new Uint8Array(await partAudio.arrayBuffer())).toEqual(fresh);

    // Accepted, the generation's final is the restitched one: the same before and after the part, new inside it.
    await json(
      await call(`/api/generations/${source.generation_id}/preferred`, { method: "PUT", cookie: user.cookie, json: { take: 2 } }),
      200,
    );
    const served = new Uint8Array(
      await (await call(`/api/generations/${source.generation_id}/audio`, { cookie: user.cookie })).arrayBuffer(),
    );
    const [oldPcm, newPcm] = [pcmOf(source.final), pcmOf(served)];
    const head = pcmOf(source.parts[0]!).length;
    const tail = pcmOf(source.parts[2]!).length;
    expect(newPcm.subarray(0, head)).toEqual(oldPcm.subarray(0, head));
    expect(newPcm.subarray(newPcm.length - tail)).toEqual(oldPcm.subarray(oldPcm.length - tail));
    expect(newPcm.subarray(head, newPcm.length - tail)).toEqual(pcmOf(fresh));

    // Deleting the generation removes the shared objects once, with nothing left behind.
    const sharedKey = rows.results[0]!.r2_key;
    expect(await env.AUDIO.head(sharedKey)).not.toBeNull();
    expect((await call(`/api/generations/${source.generation_id}`, { method: "DELETE", cookie: user.cookie })).status).toBe(204);
    expect(await env.AUDIO.head(sharedKey)).toBeNull();
    expect(await env.AUDIO.head(rows.results[1]!.r2_key)).toBeNull();
  });

  it("a failed part take releases everything: the inherited parts it re-announced are never charged", async () => {
    const fake = installFakeEngine();
    const user = await newUser("partfail");
    await grantCredits(user.id, 100);
    const source = await finishedGeneration(fake, user);
    const before = await balanceOf(user);
    const created = await json<{ task_id: string; cost: number }>(await regenerate(user, source.generation_id, 0), 202);
    expect(created.cost).toBe(1);
    const job = await nthJob(fake, created.task_id);
    expect(job.job.render_parts).toEqual({ indices: [0], segments_total: 3 });
    await job.ack({ type: "started", segments_total: 3, segment_chars: [100, 100, 100] });
    for (const i of [1, 2]) expect((await job.ack({ type: "segment", index: i, duration_ms: 300 })).accepted).toBe(true);
    const failed = await job.ack({
      type: "failed",
      error: { code: "invalid_input", message: "the text splits into 4 parts, not 3", retryable: false },
    });
    expect(failed.state).toBe("failed");
    expect(await ledgerOf(created.task_id)).toEqual([
      { kind: "reserve", delta: -1 },
      { kind: "release", delta: 1 },
    ]);
    expect(await balanceOf(user)).toBe(before);
    // The source take is untouched and still preferred.
    const g = await json<{ generation: { take: number; status: string } }>(
      await call(`/api/generations/${source.generation_id}`, { cookie: user.cookie }),
      200,
    );
    expect(g.generation).toMatchObject({ take: 1, status: "succeeded" });
  });

  it("someone else's generation or take is a 404; a bad index, seed or take a 4xx with the stable shape; nothing is reserved", async () => {
    const fake = installFakeEngine();
    const owner = await newUser("partowner");
    await grantCredits(owner.id, 100);
    const source = await finishedGeneration(fake, owner);
    const other = await newUser("partother");
    await grantCredits(other.id, 100);
    const otherBefore = await balanceOf(other);

    for (const res of [
      await regenerate(other, source.generation_id, 1),
      await regenerate(other, source.generation_id, 1, { take: 1 }),
      await call(`/api/generations/${source.generation_id}/parts`, { cookie: other.cookie }),
    ]) {
      expect(res.status).toBe(404);
      expect(ApiErrorBody.parse(await res.json()).error.code).toBe("not_found");
    }
    // A design preview's task is no generation.
    expect((await regenerate(owner, source.task_id, 0)).status).toBe(404);
    expect((await regenerate(owner, source.generation_id, 0, { take: 9 })).status).toBe(404);
    expect(await balanceOf(other)).toBe(otherBefore);

    const ownerBefore = await balanceOf(owner);
    const outOfRange = await regenerate(owner, source.generation_id, 3);
    expect(outOfRange.status).toBe(400);
    const body = ApiErrorBody.parse(await outOfRange.json());
    expect(body.error).toMatchObject({ code: "part_out_of_range", details: { index: 3, parts: 3 } });
    for (const bad of [await regenerate(owner, source.generation_id, "one"), await regenerate(owner, source.generation_id, -1)]) {
      expect(bad.status).toBe(400);
      ApiErrorBody.parse(await bad.json());
    }
    const badSeed = await regenerate(owner, source.generation_id, 1, { seed: 2 ** 31 });
    expect(badSeed.status).toBe(400);
    expect(JSON.stringify(ApiErrorBody.parse(await badSeed.json()).error)).toContain("2147483647");
    expect((await regenerate(owner, source.generation_id, 1, { extra: true })).status).toBe(400);

    // A take that is still being made has no parts to take from.
    const running = await json<{ take: number; task_id: string }>(
      await call(`/api/generations/${source.generation_id}/takes`, { method: "POST", cookie: owner.cookie, json: {} }),
      202,
    );
    const notReady = await regenerate(owner, source.generation_id, 1, { take: running.take });
    expect(notReady.status).toBe(409);
    expect(ApiErrorBody.parse(await notReady.json()).error.code).toBe("take_not_ready");
    await call(`/api/tasks/${running.task_id}`, { method: "DELETE", cookie: owner.cookie });
    expect(await balanceOf(owner)).toBe(ownerBefore);
    const tasks = await env.DB.prepare(`SELECT count(*) AS n FROM tasks WHERE generation_id = ?1`)
      .bind(source.generation_id)
      .first<{ n: number }>();
    expect(tasks?.n).toBe(2);
  });
});
