import { env, exports } from "cloudflare:workers";
import OpenAI from "openai";
import { describe, expect, it } from "vitest";
import { wavPcm } from "../../durable-objects/live-stream";
import { installFakeEngine, type FakeEngine } from "../support/fake-engine";
import { createVoice, expectLedgerInvariant } from "../support/factories";
import { call, ORIGIN, signUp } from "../support/http";

async function userWithKey(tag: string) {
  const user = await signUp(tag);
  const made = await call("/api/keys", { method: "POST", cookie: user.cookie, json: { name: "openai client" } });
  const { key } = (await made.json()) as { key: { key: string } };
  return { user, key: key.key };
}

/** The official `openai` package, pointed at Utter by base URL and key only. */
function openai(key: string) {
  return new OpenAI({ apiKey: key, baseURL: `${ORIGIN}/v1`, maxRetries: 0, fetch: (url, init) => exports.default.fetch(new Request(url, init)) });
}

async function nextJob(engine: FakeEngine) {
  for (let i = 0; i < 500 && engine.jobs.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
  const job = engine.jobs.at(-1);
  if (!job) throw new Error("no job reached the engine");
  return engine.waitForJob(job.job_id);
}

async function readAll(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value);
  }
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

describe("OpenAI-compatible speech at /v1", () => {
  it("streams WAV as segments render: the first audio arrives before the task completes", async () => {
    const engine = installFakeEngine();
    const { user, key } = await userWithKey("oai-wav");
    await createVoice(user.id, { name: "Anna" });
    const pending = openai(key).audio.speech.create({ model: "tts-1", voice: "anna", input: "One. Two. Three.", response_format: "wav" });
    const job = await nextJob(engine);
    await job.ack({ type: "started", segments_total: 3 });
    await job.segment(0, 300);
    const response = await pending;
    expect(response.headers.get("content-type")).toBe("audio/wav");
    const reader = response.body!.getReader();
    const head = await reader.read();
    // header + segment 0's PCM, while the task is still running
    expect(new TextDecoder().decode(head.value!.subarray(0, 4))).toBe("RIFF");
    await job.segment(1, 300);
    await job.segment(2, 300);
    const final = await job.ack({ type: "progress", progress: 0.9, stage: "stitching" });
    expect(final.state).toBe("running");
    await job.upload("final", job.segments[0]!);
    await job.ack({ type: "completed", duration_ms: 900, sample_rate: 24000, size_bytes: job.segments[0]!.byteLength });
    const rest = await readAll(reader);
    const body = new Uint8Array(head.value!.length + rest.length);
    body.set(head.value!);
    body.set(rest, head.value!.length);
    const expectedPcm = job.segments.map((s) => wavPcm(s));
    expect(body.length).toBe(44 + expectedPcm.reduce((n, p) => n + p.length, 0));
    expect(body.subarray(44, 44 + expectedPcm[0]!.length)).toEqual(expectedPcm[0]);
    expect(body.subarray(body.length - expectedPcm[2]!.length)).toEqual(expectedPcm[2]);
    expect(response.headers.get("x-utter-generation-id")).toMatch(/^gen_/);
    await expectLedgerInvariant(user.id);
  });

  it("sends OpenAI's audio delta events with stream_format sse, in segment order whatever order they were announced in", async () => {
    const engine = installFakeEngine();
    const { user, key } = await userWithKey("oai-sse");
    const voice = await createVoice(user.id, { name: "Ben" });
    const pending = openai(key).audio.speech.create({ model: "gpt-4o-mini-tts", voice: { id: voice.id }, input: "Alpha. Beta.", response_format: "pcm", stream_format: "sse" });
    const job = await nextJob(engine);
    await job.ack({ type: "started", segments_total: 2 });
    // upload segment 1 first, then 0: the stream must still start with 0
    await job.segment(1, 200);
    await job.segment(0, 200);
    await job.upload("final", job.segments[0]!);
    await job.ack({ type: "completed", duration_ms: 400, sample_rate: 24000, size_bytes: job.segments[0]!.byteLength });
    const response = await pending;
    expect(response.headers.get("content-type")).toBe("text/event-stream");
    const events = (await response.text())
      .split("\n\n")
      .filter(Boolean)
      .map((e) => JSON.parse(e.replace(/^data: /, "")) as { type: string; audio?: string });
    expect(events.at(-1)!.type).toBe("speech.audio.done");
    const deltas = events.slice(0, -1);
    expect(deltas.length).toBeGreaterThan(0);
    expect(new Set(deltas.map((e) => e.type))).toEqual(new Set(["speech.audio.delta"]));
    const decoded = deltas.map((e) => Uint8Array.from(atob(e.audio!), (ch) => ch.charCodeAt(0)));
    const heard = new Uint8Array(decoded.reduce((n, d) => n + d.length, 0));
    let at = 0;
    for (const d of decoded) {
      heard.set(d, at);
      at += d.length;
    }
    const [p0, p1] = [wavPcm(job.segments[0]!), wavPcm(job.segments[1]!)];
    expect(heard.length).toBe(p0.length + p1.length);
    expect(heard.subarray(0, p0.length)).toEqual(p0);
    expect(heard.subarray(p0.length)).toEqual(p1);
  });

  it("answers MP3 (OpenAI's default format) with the engine's MP3 once the task completes", async () => {
    const engine = installFakeEngine();
    const { user, key } = await userWithKey("oai-mp3");
    await createVoice(user.id, { name: "Cleo" });
    const mp3 = new Uint8Array(2048).map((_, i) => (i < 2 ? [0xff, 0xfb][i]! : i % 251));
    const pending = openai(key).audio.speech.create({ model: "tts-1-hd", voice: "Cleo", input: "Default format." });
    const job = await nextJob(engine);
    await job.succeed(2, 200, { mp3 });
    const response = await pending;
    expect(response.headers.get("content-type")).toBe("audio/mpeg");
    expect(new Uint8Array(await response.arrayBuffer())).toEqual(mp3);
  });

  it("refuses bad requests in OpenAI's error shape, naming what is wrong", async () => {
    installFakeEngine();
    const { user, key } = await userWithKey("oai-bad");
    const other = await userWithKey("oai-other");
    await createVoice(user.id, { name: "Mine" });
    const theirs = await createVoice(other.user.id, { name: "Theirs" });
    const client = openai(key);
    const cases: { args: Parameters<typeof client.audio.speech.create>[0]; status: number; param: string | null; mentions: string }[] = [
      { args: { model: "tts-1", voice: "alloy", input: "Hi." }, status: 404, param: "voice", mentions: "alloy" },
      { args: { model: "tts-1", voice: theirs.id, input: "Hi." }, status: 404, param: "voice", mentions: theirs.id },
      { args: { model: "whisper-1", voice: "Mine", input: "Hi." }, status: 400, param: "model", mentions: "tts-1" },
      { args: { model: "tts-1", voice: "Mine", input: "Hi.", response_format: "opus" }, status: 400, param: "response_format", mentions: "wav" },
      { args: { model: "tts-1", voice: "Mine", input: "x".repeat(50_001) }, status: 400, param: "input", mentions: "50000" },
      { args: { model: "tts-1", voice: "Mine", input: "   " }, status: 400, param: "input", mentions: "50000" },
    ];
    for (const c of cases) {
      const err = await client.audio.speech.create(c.args).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err, JSON.stringify(c.args).slice(0, 80)).toBeInstanceOf(OpenAI.APIError);
      const apiErr = err as InstanceType<typeof OpenAI.APIError>;
      expect(apiErr.status).toBe(c.status);
      expect(apiErr.param ?? null).toBe(c.param);
      expect(apiErr.message).toContain(c.mentions);
    }
    const noKey = await exports.default.fetch(new Request(`${ORIGIN}/v1/audio/speech`, { method: "POST", body: "{}" }));
    expect(noKey.status).toBe(401);
    expect(((await noKey.json()) as { error: { code: string } }).error.code).toBe("missing_api_key");
    const tasks = await env.DB.prepare(`SELECT count(*) AS n FROM tasks WHERE user_id = ?1`).bind(user.id).first<{ n: number }>();
    expect(tasks?.n).toBe(0);
  });

  it("a key without the speech scope gets OpenAI's permission error and starts nothing", async () => {
    installFakeEngine();
    const user = await signUp("oai-scope");
    await createVoice(user.id, { name: "Quiet" });
    const made = await call("/api/keys", { method: "POST", cookie: user.cookie, json: { name: "history only", scopes: ["history"] } });
    const key = ((await made.json()) as { key: { key: string } }).key.key;
    const err = await openai(key)
      .audio.speech.create({ model: "tts-1", voice: "Quiet", input: "Hi." })
      .then(
        () => null,
        (e: unknown) => e,
      );
    expect(err).toBeInstanceOf(OpenAI.PermissionDeniedError);
    expect((err as InstanceType<typeof OpenAI.APIError>).code).toBe("insufficient_scope");
    const tasks = await env.DB.prepare(`SELECT count(*) AS n FROM tasks WHERE user_id = ?1`).bind(user.id).first<{ n: number }>();
    expect(tasks?.n).toBe(0);
  });

  it("lists models and the caller's voices", async () => {
    const { user, key } = await userWithKey("oai-list");
    await createVoice(user.id, { name: "Dora" });
    const models = await openai(key).models.list();
    expect(models.data.map((m) => m.id)).toEqual(expect.arrayContaining(["tts-1", "tts-1-hd", "gpt-4o-mini-tts", "utter-tts"]));
    const voices = (await (await exports.default.fetch(new Request(`${ORIGIN}/v1/audio/voices`, { headers: { authorization: `Bearer ${key}` } }))).json()) as { voices: { name: string }[] };
    expect(voices.voices.map((v) => v.name)).toEqual(["Dora"]);
  });

  it("a client that hangs up mid-stream cancels the task", async () => {
    const engine = installFakeEngine();
    const { user, key } = await userWithKey("oai-hangup");
    await createVoice(user.id, { name: "Eve" });
    const pending = openai(key).audio.speech.create({ model: "tts-1", voice: "Eve", input: "A long story. ".repeat(20), response_format: "pcm" });
    const job = await nextJob(engine);
    await job.ack({ type: "started", segments_total: 4 });
    await job.segment(0, 200);
    const response = await pending;
    const reader = response.body!.getReader();
    await reader.read();
    await reader.cancel();
    let state = "running";
    for (let i = 0; i < 200 && state === "running"; i++) {
      state = (await job.ack({ type: "heartbeat" })).state;
      if (state === "running") await new Promise((r) => setTimeout(r, 10));
    }
    expect(state).toBe("cancelled");
    expect(engine.cancels).toEqual([`call_${job.job.job_id}`]);
    await expectLedgerInvariant(user.id);
  });
});
