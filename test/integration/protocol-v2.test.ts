import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { frameSamples } from "../../worker/engine/frames";
import { ApiErrorBody } from "../../worker/lib/errors";
import { TaskSnapshot, type ServerMessage } from "../../worker/tasks/messages";
import { headerOf, openEngineSocket, toneSamples, type EngineSocket } from "../support/engine-socket";
import { installFakeEngine, type FakeEngine, type JobDriver } from "../support/fake-engine";
import { createVoice, setPlan } from "../support/factories";
import { call, ORIGIN, type TestUser } from "../support/http";
import { ledgerCheckedUsers } from "../support/ledger-users";
import { openTaskSocket } from "../support/socket";
import { makeWav } from "../support/wav";

const newUser = ledgerCheckedUsers();

function tracker(taskId: string) {
  return env.TASK_TRACKER.get(env.TASK_TRACKER.idFromName(taskId));
}

async function balanceOf(user: TestUser): Promise<number> {
  const me = (await (await call("/api/me", { cookie: user.cookie })).json()) as { credits: { balance: number } };
  return me.credits.balance;
}

async function startJob(engine: FakeEngine, user: TestUser, text = "Hello there. This is a test.") {
  const voice = await createVoice(user.id);
  const res = await call("/api/generations", { method: "POST", cookie: user.cookie, json: { voice_id: voice.id, text, language: "en" } });
  if (res.status !== 202) throw new Error(`generation refused: ${res.status} ${await res.text()}`);
  const task = (await res.json()) as { task_id: string; generation_id: string; cost: number };
  const job = await engine.waitForJob(task.task_id);
  return { task, job };
}

async function engineFor(job: JobDriver): Promise<EngineSocket> {
  const opened = await openEngineSocket(job.job);
  if (!opened.ok) throw new Error(`engine socket refused: ${opened.status}`);
  return opened.engine;
}

/** Streams segment `index` as `n` frames (the last flagged), returning the frames' bytes. */
function streamSegment(engine: EngineSocket, index: number, n: number, samplesPerFrame = 480): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < n; i++) out.push(engine.sendFrame(index, i * samplesPerFrame, toneSamples(engine.frame, samplesPerFrame), i === n - 1));
  return out;
}

/** A WAV whose PCM is exactly these frames' samples (what an engine uploads after streaming a segment). */
function wavOfFrames(frames: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const pcm = frames.flatMap((f) => [...frameSamples(f)]);
  const wav = makeWav(0, { sampleRate: 24_000 });
  const out = new Uint8Array(44 + pcm.length * 2);
  out.set(wav.subarray(0, 44));
  const v = new DataView(out.buffer);
  v.setUint32(4, 36 + pcm.length * 2, true);
  v.setUint32(40, pcm.length * 2, true);
  pcm.forEach((x, i) => v.setInt16(44 + i * 2, x, true));
  return out;
}

const frameNumbers = (frames: Uint8Array[]) => frames.map((f) => headerOf(f).frame);

describe("engine protocol v2: the engine socket, live frames and typed artifacts", () => {
  it("runs a v2 job end to end: hello, acked events, frames relayed byte for byte, artifacts, settle", async () => {
    const fake = installFakeEngine();
    const user = await newUser("v2");
    const before = await balanceOf(user);
    const { task, job } = await startJob(fake, user);
    expect(job.job.protocol).toBe(2);
    expect(job.job.callbacks.stream_url).toBe(`${job.job.callbacks.upload_url.replace(/^http/, "ws")}/stream`);
    const ws = await openTaskSocket(task.task_id, user.cookie);

    const engine = await engineFor(job);
    expect(await engine.hello()).toMatchObject({ type: "hello", acked_seq: -1, last_frame: -1, artifacts: [], sample_rate: 24000 });
    expect(await engine.event({ type: "started", segments_total: 2, segment_chars: [12, 16] })).toEqual({ type: "ack", seq: 0, accepted: true, state: "running" });

    const sent0 = streamSegment(engine, 0, 3);
    const up0 = await job.artifact("segment/0", { method: "PUT", body: wavOfFrames(sent0) });
    expect(up0.status).toBe(201);
    expect(await up0.json()).toMatchObject({ kind: "segment", index: 0 });
    expect((await engine.event({ type: "segment", index: 0, duration_ms: 60, chars: 12 })).accepted).toBe(true);
    const sent1 = streamSegment(engine, 1, 2);
    expect((await job.artifact("segment/1", { method: "PUT", body: wavOfFrames(sent1) })).status).toBe(201);
    expect((await engine.event({ type: "segment", index: 1, duration_ms: 40, chars: 16 })).accepted).toBe(true);
    const final = wavOfFrames([...sent0, ...sent1]);
    expect((await job.artifact("final", { method: "PUT", body: final })).status).toBe(201);
    expect(await engine.event({ type: "completed", duration_ms: 100, sample_rate: 24000, size_bytes: final.byteLength })).toEqual({
      type: "ack",
      seq: 3,
      accepted: true,
      state: "succeeded",
    });

    await ws.waitFor((m) => m.type === "completed");
    // Every frame reached the listener once, in order, byte for byte.
    expect(ws.frames).toEqual([...sent0, ...sent1]);
    expect(ws.received[0]).toMatchObject({ kind: "json", message: { type: "snapshot" } });
    const segs = ws.messages.flatMap((m) => (m.type === "segment" ? [m.index] : []));
    expect(segs).toEqual([0, 1]);

    // The settle wrote the artifacts; each is served to its owner, with Range.
    const rows = await env.DB.prepare(`SELECT kind, idx, size_bytes FROM task_artifacts WHERE task_id = ?1 ORDER BY kind, idx`).bind(task.task_id).all();
    expect(rows.results).toEqual([
      { kind: "final", idx: -1, size_bytes: final.byteLength },
      { kind: "segment", idx: 0, size_bytes: wavOfFrames(sent0).byteLength },
      { kind: "segment", idx: 1, size_bytes: wavOfFrames(sent1).byteLength },
    ]);
    const whole = await call(`/api/tasks/${task.task_id}/artifacts/final`, { cookie: user.cookie });
    expect(whole.status).toBe(200);
    expect(new Uint8Array(await whole.arrayBuffer())).toEqual(final);
    const part = await call(`/api/tasks/${task.task_id}/artifacts/segment/1`, { cookie: user.cookie, headers: { range: "bytes=44-47" } });
    expect(part.status).toBe(206);
    expect(new Uint8Array(await part.arrayBuffer())).toEqual(wavOfFrames(sent1).subarray(44, 48));
    expect((await call(`/api/generations/${task.generation_id}/audio`, { cookie: user.cookie })).status).toBe(200);
    // Charged in full, once.
    expect(await balanceOf(user)).toBe(before - task.cost);
    // A task that ended takes no more frames.
    engine.sendFrame(2, 0, toneSamples(9));
    expect((await engine.waitClosed()).code).toBe(4409);
    ws.close();
  });

  it("accepts the job token as ?token= on the socket only, and refuses other jobs' tokens", async () => {
    const fake = installFakeEngine();
    const user = await newUser("v2tokens");
    await setPlan(user.id, "pro");
    const a = await startJob(fake, user);
    const b = await startJob(fake, user);
    const viaQuery = await openEngineSocket(a.job.job, { viaQuery: true });
    expect(viaQuery.status).toBe(101);
    if (viaQuery.ok) viaQuery.engine.close();
    expect((await openEngineSocket(a.job.job, { token: b.job.job.callbacks.token })).status).toBe(403);
    expect((await openEngineSocket(a.job.job, { token: a.job.job.callbacks.token.slice(0, -3) + "AAA" })).status).toBe(401);
    // An event for another job on a valid socket closes it with 4403 and changes nothing.
    const engine = await engineFor(a.job);
    await engine.hello();
    engine.sendEvent({ type: "started" }, { jobId: b.task.task_id });
    expect((await engine.waitClosed()).code).toBe(4403);
    expect((await tracker(a.task.task_id).stats()).engineSeq).toBe(-1);
    expect((await tracker(b.task.task_id).stats()).engineSeq).toBe(-1);
  });

  it("a reconnecting engine hears what was acknowledged and resends only the rest", async () => {
    const fake = installFakeEngine();
    const user = await newUser("v2reconnect");
    const { task, job } = await startJob(fake, user);
    const first = await engineFor(job);
    await first.hello();
    await first.event({ type: "started", segments_total: 2 });
    await first.event({ type: "progress", progress: 0.2, stage: "generating" });
    streamSegment(first, 0, 2);
    await tracker(task.task_id).stats(); // the frames are in
    // The engine sent seq 2 but the socket dropped before its ack arrived.
    first.sendEvent({ type: "progress", progress: 0.4, stage: "generating" });
    first.close();
    await evictDurableObject(tracker(task.task_id));

    const second = await engineFor(job);
    const hello = await second.hello();
    expect(hello.state).toBe("running");
    const acked = hello.acked_seq;
    expect(acked === 1 || acked === 2).toBe(true);
    expect(hello.last_frame).toBe(1);
    // Resend only what is above acked_seq, continuing the frame numbers after last_frame.
    second.seq = acked + 1;
    if (acked === 1) expect((await second.event({ type: "progress", progress: 0.4, stage: "generating" })).accepted).toBe(true);
    second.frame = 2;
    streamSegment(second, 1, 1);
    expect((await second.event({ type: "heartbeat" })).accepted).toBe(true);
    const stats = await tracker(task.task_id).stats();
    expect(stats.ignoredEvents).toBe(0);
    expect(stats.lastFrame).toBe(2);
    // A stale resend is acknowledged and ignored.
    expect((await second.event({ type: "progress", progress: 0.1, stage: "generating" }, { seq: 0 })).accepted).toBe(false);
    // The older socket, had it stayed open, is superseded: one engine socket per task.
    const third = await engineFor(job);
    await third.hello();
    expect((await second.waitClosed()).code).toBe(4000);
    third.close();
  });

  it("writes a frame's position with the next write or when the engine's socket closes, not once per frame (ADR 0030)", async () => {
    const fake = installFakeEngine();
    const user = await newUser("v2framepos");
    const { task, job } = await startJob(fake, user);
    const stub = tracker(task.task_id);
    // Frames travel on the socket, stats on RPC: ask until the frames are in.
    const relayedThrough = async (frame: number) => {
      let last = (await stub.stats()).lastFrame;
      for (let i = 0; i < 50 && last < frame; i++) last = (await stub.stats()).lastFrame;
      return last;
    };
    const storedFrame = () => runInDurableObject(stub, async (_o, state) => (await state.storage.get<{ last: number }>("frame"))?.last ?? null);
    const first = await engineFor(job);
    await first.hello();
    await first.event({ type: "started", segments_total: 2 });
    for (let i = 0; i < 3; i++) first.sendFrame(0, i * 480, toneSamples(i));
    expect(await relayedThrough(2)).toBe(2);
    // Relayed, but not yet written: a frame that only moves the position writes nothing by itself.
    expect(await storedFrame()).toBe(-1);
    // An event's write carries it.
    await first.event({ type: "progress", progress: 0.3, stage: "generating" });
    expect(await storedFrame()).toBe(2);
    first.sendFrame(0, 3 * 480, toneSamples(3));
    expect(await relayedThrough(3)).toBe(3);
    expect(await storedFrame()).toBe(2);
    // The socket drops: the position is written before the object can be evicted.
    first.close();
    let stored = await storedFrame();
    for (let i = 0; i < 50 && stored !== 3; i++) stored = await storedFrame();
    expect(stored).toBe(3);
    await evictDurableObject(stub);
    const second = await engineFor(job);
    expect((await second.hello()).last_frame).toBe(3);
    second.close();
  });

  it("a late listener hears everything exactly once: earlier segments as artifacts, the open one replayed, then live", async () => {
    const fake = installFakeEngine();
    const user = await newUser("v2late");
    const { task, job } = await startJob(fake, user);
    const early = await openTaskSocket(task.task_id, user.cookie);
    const engine = await engineFor(job);
    await engine.hello();
    await engine.event({ type: "started", segments_total: 3 });
    const s0 = streamSegment(engine, 0, 3);
    expect((await job.artifact("segment/0", { method: "PUT", body: wavOfFrames(s0) })).status).toBe(201);
    await engine.event({ type: "segment", index: 0, duration_ms: 60 });
    // Segment 1 is half streamed when the late listener joins.
    const s1a = [engine.sendFrame(1, 0, toneSamples(100)), engine.sendFrame(1, 480, toneSamples(101))];
    await tracker(task.task_id).stats();
    const late = await openTaskSocket(task.task_id, user.cookie);
    const snap = await late.waitFor((m) => m.type === "snapshot");
    if (snap.type !== "snapshot") throw new Error("unreachable");
    expect(snap.artifacts.map((a) => `${a.kind}/${a.index}`)).toEqual(["segment/0"]);
    expect(snap.live.last_frame).toBe(4);
    expect(snap.live.replay).toEqual({ first_frame: 3, frames: 2 });
    await late.waitForFrames(2);
    // Then the rest, live.
    const s1b = [engine.sendFrame(1, 960, toneSamples(102), true)];
    const s2 = streamSegment(engine, 2, 2);
    await late.waitForFrames(5);
    await early.waitForFrames(8);
    // The late listener: segment 0 from its artifact, every frame of 1 and 2 exactly once, in order, right after the snapshot.
    expect(late.received[0]?.kind).toBe("json");
    expect(late.received.slice(1, 3).map((r) => r.kind)).toEqual(["frame", "frame"]);
    expect(late.frames).toEqual([...s1a, ...s1b, ...s2]);
    expect(frameNumbers(late.frames)).toEqual([3, 4, 5, 6, 7]);
    const seg0 = await call(snap.artifacts[0]!.url, { cookie: user.cookie });
    expect(new Uint8Array(await seg0.arrayBuffer())).toEqual(wavOfFrames(s0));
    // The early listener heard every frame live.
    expect(early.frames).toEqual([...s0, ...s1a, ...s1b, ...s2]);
    // A listener that asks for a snapshot again gets the replay again, nothing else repeated live.
    late.requestSnapshot();
    await late.waitForFrames(10);
    expect(frameNumbers(late.frames.slice(5))).toEqual([3, 4, 5, 6, 7]);
    early.close();
    late.close();
    engine.close();
  });

  it("refuses out-of-order, malformed and oversized frames with their close codes, losing nothing delivered", async () => {
    const fake = installFakeEngine();
    const user = await newUser("v2frames");
    const { task, job } = await startJob(fake, user);
    const ws = await openTaskSocket(task.task_id, user.cookie);
    let engine = await engineFor(job);
    await engine.hello();
    await engine.event({ type: "started" });
    const good = streamSegment(engine, 0, 2);
    engine.frame = 5; // a gap
    engine.sendFrame(0, 960, toneSamples(5));
    expect((await engine.waitClosed()).code).toBe(4409);

    engine = await engineFor(job);
    const hello = await engine.hello();
    expect(hello.last_frame).toBe(1);
    engine.sendRaw(new Uint8Array([2, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]));
    expect((await engine.waitClosed()).code).toBe(4400);

    engine = await engineFor(job);
    await engine.hello();
    engine.frame = 2;
    engine.sendFrame(0, 960, new Int16Array(96_001));
    expect((await engine.waitClosed()).code).toBe(4413);

    engine = await engineFor(job);
    await engine.hello();
    engine.socket.send("x".repeat(17_000));
    expect((await engine.waitClosed()).code).toBe(4413);

    engine = await engineFor(job);
    await engine.hello();
    engine.socket.send("{not json");
    expect((await engine.waitClosed()).code).toBe(4400);

    // What was delivered stays delivered, and the stream resumes where it stood.
    engine = await engineFor(job);
    await engine.hello();
    engine.frame = 2;
    const more = streamSegment(engine, 0, 1);
    await ws.waitForFrames(3);
    expect(ws.frames).toEqual([...good, ...more]);
    expect((await tracker(task.task_id).stats()).lastFrame).toBe(2);
    ws.close();
    engine.close();
  });

  it("a cancel tells the engine socket to stop, refuses its frames after, and charges the delivered parts", async () => {
    const fake = installFakeEngine();
    const user = await newUser("v2cancel");
    await setPlan(user.id, "pro");
    const before = await balanceOf(user);
    const text = "x".repeat(1500); // 15 credits
    const { task, job } = await startJob(fake, user, text);
    expect(task.cost).toBe(15);
    const engine = await engineFor(job);
    await engine.hello();
    await engine.event({ type: "started", segments_total: 15, segment_chars: Array.from({ length: 15 }, () => 100) });
    // Parts 0-1 reach the listener live (their last frames relayed); part 2 only half.
    streamSegment(engine, 0, 2);
    streamSegment(engine, 1, 2);
    engine.sendFrame(2, 0, toneSamples(50));
    await tracker(task.task_id).stats();
    const res = await call(`/api/tasks/${task.task_id}`, { method: "DELETE", cookie: user.cookie });
    expect(res.status).toBe(200);
    const snap = TaskSnapshot.parse(await res.json());
    expect(snap.task.charge).toEqual({ credits: 2, of: 15, parts_delivered: 2, parts_total: 15 });
    await engine.until(() => engine.messages.find((m) => m.type === "cancel"), "cancel");
    expect(engine.messages.at(-1)).toEqual({ type: "cancel", state: "cancelled" });
    expect((await engine.waitClosed()).code).toBe(4009);
    expect(await balanceOf(user)).toBe(before - 2);
    // A reconnect hears the task ended and is closed; frames are refused.
    const again = await engineFor(job);
    expect(await again.hello()).toMatchObject({ state: "cancelled" });
    expect((await again.waitClosed()).code).toBe(4009);
    // Nothing the engine uploads now is kept or served.
    expect((await job.artifact("segment/2", { method: "PUT", body: makeWav(100) })).status).toBe(409);
    expect((await call(`/api/tasks/${task.task_id}/artifacts/segment/2`, { cookie: user.cookie })).status).toBe(404);
    expect((await env.AUDIO.list({ prefix: `users/${user.id}/tasks/${task.task_id}/` })).objects).toHaveLength(0);
  });

  it("accepts and refuses artifact uploads per the registry, naming what is wrong and storing nothing", async () => {
    const fake = installFakeEngine();
    const user = await newUser("v2registry");
    const { task, job } = await startJob(fake, user);
    await job.ack({ type: "started" });
    const wav = makeWav(100);
    const cases: [string, Parameters<JobDriver["artifact"]>[1], number, string][] = [
      ["no_such_kind", { method: "PUT", body: wav, contentType: "application/json" }, 404, "invalid_artifact_kind"],
      ["alignment", { method: "PUT", body: wav, contentType: "application/json" }, 400, "invalid_artifact_content"],
      ["segment", { method: "PUT", body: wav }, 400, "invalid_artifact_index"],
      ["final/0", { method: "PUT", body: wav }, 400, "invalid_artifact_index"],
      ["segment/abc", { method: "PUT", body: wav }, 400, "invalid_artifact_index"],
      ["segment/10000", { method: "PUT", body: wav }, 400, "invalid_artifact_index"],
      ["segment/0", { method: "PUT", body: wav, contentType: "audio/mpeg" }, 415, "unsupported_content_type"],
      ["final_mp3", { method: "PUT", body: wav, contentType: "audio/wav" }, 415, "unsupported_content_type"],
      ["final", { method: "PUT", body: wav, length: 8 * 1024 * 1024 + 1 }, 413, "payload_too_large"],
      ["segment/0", { method: "PUT", body: new Uint8Array(0) }, 400, "invalid_request"],
    ];
    for (const [path, init, status, code] of cases) {
      const res = await job.artifact(path, init);
      expect(res.status, path).toBe(status);
      const body = ApiErrorBody.parse(await res.json());
      expect(body.error.code, path).toBe(code);
    }
    const big = await job.artifact("final", { method: "PUT", body: wav, length: 9 * 1024 * 1024 });
    expect(ApiErrorBody.parse(await big.json()).error).toMatchObject({ details: { kind: "final", size_bytes: 9 * 1024 * 1024, limit: 8 * 1024 * 1024 } });
    expect((await env.AUDIO.list({ prefix: `users/${user.id}/` })).objects.filter((o) => !o.key.includes("/voices/"))).toHaveLength(0);
    // Accepted: the v2 path and the v1 alias for the same kind.
    expect((await job.artifact("segment/0", { method: "PUT", body: wav, contentType: "audio/wav; codecs=1" })).status).toBe(201);
    expect((await job.upload("segments/1", wav)).status).toBe(201);
    const mp3 = new Uint8Array(500).fill(0xff);
    expect((await job.artifact("final_mp3", { method: "PUT", body: mp3, contentType: "audio/mpeg" })).status).toBe(201);
    expect((await job.artifact("final", { method: "PUT", body: wav, contentType: "audio/wav", token: "forged-token-0123456789" })).status).toBe(401);
    const rows = await env.DB.prepare(`SELECT count(*) AS n FROM task_artifacts WHERE task_id = ?1`).bind(task.task_id).first<{ n: number }>();
    expect(rows?.n).toBe(0); // rows come with the settle
    // A design preview makes no MP3: refused by its job kind.
    await setPlan(user.id, "pro");
    const preview = await call("/api/voices/design/preview", { method: "POST", cookie: user.cookie, json: { description: "Bright", text: "Hi there." } });
    expect(preview.status).toBe(202);
    const previewJob = await fake.waitForJob(((await preview.json()) as { task_id: string }).task_id);
    await previewJob.ack({ type: "started" });
    const mp3ForPreview = await previewJob.artifact("final_mp3", { method: "PUT", body: mp3, contentType: "audio/mpeg" });
    expect(mp3ForPreview.status).toBe(404);
    expect(ApiErrorBody.parse(await mp3ForPreview.json()).error.code).toBe("invalid_artifact_job_kind");
  });

  it("stores a 150 MB final uploaded in parts and serves it back byte-identical, with Range", { timeout: 240_000 }, async () => {
    const fake = installFakeEngine();
    const user = await newUser("v2big");
    const { task, job } = await startJob(fake, user);
    await job.ack({ type: "started" });
    const PART = 8 * 1024 * 1024;
    const TOTAL = 150 * 1024 * 1024;
    const parts = Math.ceil(TOTAL / PART);
    // Deterministic bytes from their offset, made one part at a time: memory stays at one part.
    const byteAt = (i: number) => (Math.imul(i ^ (i >>> 13), 0x9e3779b1) >>> 24) & 0xff;
    const part = (n: number) => {
      const start = (n - 1) * PART;
      const len = Math.min(PART, TOTAL - start);
      const out = new Uint8Array(len);
      for (let i = 0; i < len; i++) out[i] = byteAt(start + i);
      return out;
    };
    // A part larger than part_size is refused before anything is stored.
    const start = await job.artifact("final/uploads", { method: "POST" });
    const { upload_id } = (await start.json()) as { upload_id: string };
    const tooBig = await job.artifact(`final/uploads/${upload_id}/parts/1`, { method: "PUT", body: new Uint8Array(1), length: PART + 1 });
    expect(tooBig.status).toBe(413);

    const { response } = await job.multipart("final", parts, part);
    expect(response.status).toBe(201);
    expect(await response.json()).toEqual({ kind: "final", index: null, size_bytes: TOTAL });
    expect((await job.ack({ type: "completed", duration_ms: 1000, sample_rate: 24000, size_bytes: TOTAL })).state).toBe("succeeded");

    const ranged = await call(`/api/tasks/${task.task_id}/artifacts/final`, { cookie: user.cookie, headers: { range: "bytes=100000000-100000999" } });
    expect(ranged.status).toBe(206);
    expect(ranged.headers.get("content-range")).toBe(`bytes 100000000-100000999/${TOTAL}`);
    const got = new Uint8Array(await ranged.arrayBuffer());
    expect(got.every((b, i) => b === byteAt(100_000_000 + i))).toBe(true);
    const tail = await call(`/api/generations/${task.generation_id}/audio`, { cookie: user.cookie, headers: { range: `bytes=${TOTAL - 10}-` } });
    expect(tail.status).toBe(206);
    expect([...new Uint8Array(await tail.arrayBuffer())]).toEqual(Array.from({ length: 10 }, (_, i) => byteAt(TOTAL - 10 + i)));
    // The whole body, compared as it streams.
    const whole = await call(`/api/tasks/${task.task_id}/artifacts/final`, { cookie: user.cookie });
    expect(whole.headers.get("content-length")).toBe(String(TOTAL));
    const reader = whole.body!.getReader();
    let offset = 0;
    let mismatches = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      for (let i = 0; i < value.length; i++) if (value[i] !== byteAt(offset + i)) mismatches++;
      offset += value.length;
    }
    expect(offset).toBe(TOTAL);
    expect(mismatches).toBe(0);
  });

  it("loses no segment when events and uploads arrive shuffled", async () => {
    const fake = installFakeEngine();
    const user = await newUser("v2shuffle");
    const { task, job } = await startJob(fake, user);
    const ws = await openTaskSocket(task.task_id, user.cookie);
    const N = 40;
    await job.ack({ type: "started", segments_total: N });
    // A seeded shuffle of 2N steps: each segment's upload and event, in any order relative to each other.
    let seed = 7;
    const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
    const steps = Array.from({ length: N }, (_, i) => [{ op: "upload" as const, i }, { op: "event" as const, i }]).flat();
    for (let i = steps.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [steps[i], steps[j]] = [steps[j]!, steps[i]!];
    }
    let eventsFirst = 0;
    const uploaded = new Set<number>();
    for (const step of steps) {
      if (step.op === "upload") {
        expect((await job.upload(`segments/${step.i}`, makeWav(50, { freq: 200 + step.i }))).status).toBe(201);
        uploaded.add(step.i);
      } else {
        if (!uploaded.has(step.i)) eventsFirst++;
        expect((await job.ack({ type: "segment", index: step.i, duration_ms: 50 })).accepted).toBe(true);
      }
    }
    expect(eventsFirst).toBeGreaterThan(5);
    // Duplicates change nothing.
    expect((await job.ack({ type: "segment", index: 3, duration_ms: 50 })).accepted).toBe(true);
    expect((await job.upload("segments/3", makeWav(50, { freq: 203 }))).status).toBe(201);
    const snap = TaskSnapshot.parse(await (await call(`/api/tasks/${task.task_id}`, { cookie: user.cookie })).json());
    expect(snap.segments.map((s) => s.index)).toEqual(Array.from({ length: N }, (_, i) => i));
    const started = Date.now();
    const segMessages = () => ws.messages.filter((m): m is Extract<ServerMessage, { type: "segment" }> => m.type === "segment");
    while (segMessages().length < N && Date.now() - started < 5000) await new Promise((r) => setTimeout(r, 20));
    expect(segMessages().map((m) => m.index).sort((a, b) => a - b)).toEqual(Array.from({ length: N }, (_, i) => i));
    ws.close();
  });

  it("acknowledges an engine event before fanning it out to many listeners", async () => {
    const fake = installFakeEngine();
    const user = await newUser("v2ackfirst");
    const { task, job } = await startJob(fake, user);
    const order: string[] = [];
    const listeners = await Promise.all(
      Array.from({ length: 60 }, () =>
        openTaskSocket(task.task_id, user.cookie, {
          onReceive: (r) => {
            if (r.kind === "json" && r.message.type === "progress") order.push("listener");
          },
        }),
      ),
    );
    const engine = await engineFor(job);
    await engine.hello();
    engine.socket.addEventListener("message", (e) => {
      if (String(e.data).includes('"ack"')) order.push("ack");
    });
    await engine.event({ type: "started" });
    const started = Date.now();
    while (order.filter((o) => o === "listener").length < 60 && Date.now() - started < 5000) await new Promise((r) => setTimeout(r, 10));
    expect(order.filter((o) => o === "listener")).toHaveLength(60);
    expect(order[0]).toBe("ack");
    for (const l of listeners) l.close();
    engine.close();
  });

  it("frames that queue behind a large fan-out reach every listener once, in order, batched or not", async () => {
    const fake = installFakeEngine();
    const user = await newUser("v2batch");
    const { task, job } = await startJob(fake, user);
    // More listeners than one fan-out chunk (64), so frames arrive while a pass is under way.
    const listeners = await Promise.all(Array.from({ length: 130 }, () => openTaskSocket(task.task_id, user.cookie)));
    const engine = await engineFor(job);
    await engine.hello();
    await engine.event({ type: "started" });
    const sent: Uint8Array[] = [];
    for (let n = 0; n < 40; n++) sent.push(engine.sendFrame(0, n * 480, toneSamples(n), n === 39));
    await engine.event({ type: "progress", progress: 0.5, stage: "rendering" });
    for (const l of listeners) {
      await l.waitForFrames(40);
      await l.waitFor((m) => m.type === "progress" && m.stage === "rendering");
    }
    for (const l of listeners) {
      expect(frameNumbers(l.frames)).toEqual(Array.from({ length: 40 }, (_, i) => i));
      expect(l.frames.map((f) => [...f])).toEqual(sent.map((f) => [...f]));
      // The JSON message sent after the frames comes after all of them.
      const last = l.received.findIndex((r) => r.kind === "json" && r.message.type === "progress" && r.message.stage === "rendering");
      expect(last).toBeGreaterThan(0);
      expect(l.received.slice(0, last).filter((r) => r.kind === "frame")).toHaveLength(40);
    }
    // The frames sent in one burst queued behind the first pass and went out batched (ADR 0027).
    expect(listeners.reduce((n, l) => n + l.binaryMessages.batches, 0)).toBeGreaterThan(0);
    expect(Math.max(...listeners.map((l) => l.binaryMessages.count))).toBeLessThan(40);
    for (const l of listeners) l.close();
    engine.close();
  });

  it("agrees to no WebSocket compression on the listener or the engine socket, though both offer it (ADR 0027)", async () => {
    const fake = installFakeEngine();
    const user = await newUser("v2deflate");
    const { task, job } = await startJob(fake, user);
    const offer = "permessage-deflate; client_max_window_bits";
    const listener = await exports.default.fetch(
      new Request(`${ORIGIN}/api/tasks/${task.task_id}/ws`, {
        headers: { upgrade: "websocket", cookie: user.cookie, origin: ORIGIN, "sec-websocket-extensions": offer },
      }),
    );
    const engine = await exports.default.fetch(
      new Request(job.job.callbacks.stream_url!.replace(/^ws/, "http"), {
        headers: { upgrade: "websocket", authorization: `Bearer ${job.job.callbacks.token}`, "sec-websocket-extensions": offer },
      }),
    );
    for (const res of [listener, engine]) {
      expect(res.status).toBe(101);
      // Audio barely compresses, and the object would deflate every frame once per listener.
      expect(res.headers.get("sec-websocket-extensions")).toBeNull();
      res.webSocket!.accept();
      res.webSocket!.close(1000, "done");
    }
  });

  it("serves the task's audio live over HTTP: existing segments, then the frames, ending with the task", async () => {
    const fake = installFakeEngine();
    const user = await newUser("v2live");
    const { task, job } = await startJob(fake, user);
    const engine = await engineFor(job);
    await engine.hello();
    await engine.event({ type: "started", segments_total: 2 });
    const s0 = streamSegment(engine, 0, 2);
    expect((await job.artifact("segment/0", { method: "PUT", body: wavOfFrames(s0) })).status).toBe(201);
    await engine.event({ type: "segment", index: 0, duration_ms: 40 });
    const s1a = [engine.sendFrame(1, 0, toneSamples(70))];
    await tracker(task.task_id).stats();
    const res = await call(`/api/tasks/${task.task_id}/live?format=pcm`, { cookie: user.cookie });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("audio/L16");
    const s1b = [engine.sendFrame(1, 480, toneSamples(71), true)];
    const final = wavOfFrames([...s0, ...s1a, ...s1b]);
    expect((await job.artifact("final", { method: "PUT", body: final })).status).toBe(201);
    await engine.event({ type: "completed", duration_ms: 80, sample_rate: 24000, size_bytes: final.byteLength });
    const body = new Uint8Array(await res.arrayBuffer());
    // Exactly the PCM of the whole job, once: segment 0 from R2, segment 1 from its frames.
    expect(body).toEqual(final.subarray(44));
    // Owner only.
    const other = await newUser("v2liveother");
    expect((await call(`/api/tasks/${task.task_id}/live`, { cookie: other.cookie })).status).toBe(404);
    const wav = await call(`/api/tasks/${task.task_id}/live?format=wav`, { cookie: user.cookie });
    const wavBytes = new Uint8Array(await wav.arrayBuffer());
    expect(new TextDecoder().decode(wavBytes.subarray(0, 4))).toBe("RIFF");
    expect(wavBytes.subarray(44)).toEqual(final.subarray(44));
    engine.close();
  });
});

describe("engine event bounds (issue 15)", () => {
  it("refuses an event body over 16 KiB and a seq far ahead, and keeps taking the engine's real events", async () => {
    const fake = installFakeEngine();
    const user = await newUser("v2bounds");
    const { task, job } = await startJob(fake, user);
    expect((await job.ack({ type: "started" })).accepted).toBe(true);
    const big = await job.event({ type: "progress", progress: 0.1, stage: "x".repeat(17_000) });
    expect(big.status).toBe(413);
    expect(ApiErrorBody.parse(await big.json()).error.code).toBe("payload_too_large");
    // One huge seq is ignored, not adopted: the next real event still counts.
    expect(await job.ack({ type: "heartbeat" }, { seq: 2 ** 40 })).toEqual({ accepted: false, state: "running" });
    expect((await job.ack({ type: "progress", progress: 0.5, stage: "generating" })).accepted).toBe(true);
    const snap = TaskSnapshot.parse(await (await call(`/api/tasks/${task.task_id}`, { cookie: user.cookie })).json());
    expect(snap.task.progress).toBe(0.5);
  });
});

describe("listener flow control (ADR 0009)", () => {
  it("tells a listener that stopped acking to resync, and never holds back the engine or the others", async () => {
    const fake = installFakeEngine();
    const user = await newUser("v2slow");
    const { task, job } = await startJob(fake, user);
    const slow = await openTaskSocket(task.task_id, user.cookie);
    const steady = await openTaskSocket(task.task_id, user.cookie);
    const silent = await openTaskSocket(task.task_id, user.cookie); // never acks: not flow-controlled
    const engine = await engineFor(job);
    await engine.hello();
    await engine.event({ type: "started" });
    slow.socket.send(JSON.stringify({ type: "ack", frame: 0 }));
    steady.socket.send(JSON.stringify({ type: "ack", frame: 0 }));
    for (let i = 0; i < 260; i++) {
      engine.sendFrame(0, i * 48, toneSamples(i, 48), i === 259);
      if (i % 20 === 19) {
        await steady.waitForFrames(i + 1);
        steady.socket.send(JSON.stringify({ type: "ack", frame: i }));
      }
    }
    expect((await engine.event({ type: "heartbeat" })).accepted).toBe(true);
    await steady.waitForFrames(260);
    await silent.waitForFrames(260);
    const started = Date.now();
    while (slow.closed.code === null && Date.now() - started < 5000) await new Promise((r) => setTimeout(r, 20));
    expect(slow.closed.code).toBe(4408);
    expect(slow.messages.at(-1)).toMatchObject({ type: "resync", reason: "behind" });
    // It heard frames 0…200 (the last one within 200 of its ack), then nothing more.
    expect(frameNumbers(slow.frames)).toEqual(Array.from({ length: 201 }, (_, i) => i));
    expect(steady.closed.code).toBeNull();
    // Reconnecting, it gets the snapshot and the whole open segment replayed: nothing lost.
    const back = await openTaskSocket(task.task_id, user.cookie);
    await back.waitForFrames(260);
    expect(frameNumbers(back.frames)).toEqual(Array.from({ length: 260 }, (_, i) => i));
    for (const l of [steady, silent, back]) l.close();
    engine.close();
  });
});
