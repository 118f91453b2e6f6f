import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { CONSENT_STATEMENT_VERSION } from "../../worker/services/voice-consent";
import { ApiErrorBody } from "../../worker/lib/errors";
import flac from "../fixtures/audio/speech-12s.flac?bytes";
import m4a from "../fixtures/audio/speech-12s.m4a?bytes";
import mp3 from "../fixtures/audio/speech-12s-vbr.mp3?bytes";
import oggOpus from "../fixtures/audio/speech-12s-opus.ogg?bytes";
import recorded from "../fixtures/audio/speech-12s-mediarecorder.webm?bytes";
import wav from "../fixtures/audio/speech-12s.wav?bytes";
import nineSeconds from "../fixtures/audio/speech-9s.wav?bytes";
import { installFakeEngine } from "../support/fake-engine";
import { createVoice, expectLedgerInvariant, setPlan } from "../support/factories";
import { call, signUp, type TestUser } from "../support/http";
import { makeWav } from "../support/wav";

interface VoiceJson {
  id: string;
  name: string;
  language: string;
  source: string;
  duration_ms: number;
  size_bytes: number;
  format: string;
  favorite: boolean;
  transcript: string | null;
  audio_url: string;
}

function upload(user: TestUser, file: Blob | Uint8Array, filename: string, fields: Record<string, string> = {}) {
  const form = new FormData();
  form.set("name", fields.name ?? "My voice");
  form.set("language", fields.language ?? "en");
  form.set("consent", CONSENT_STATEMENT_VERSION);
  for (const [k, v] of Object.entries(fields)) form.set(k, v);
  form.set("audio", file instanceof Blob ? file : new Blob([file as Uint8Array<ArrayBuffer>]), filename);
  return call("/api/voices", { method: "POST", cookie: user.cookie, body: form });
}

async function storedObjects(userId: string) {
  return (await env.AUDIO.list({ prefix: `users/${userId}/voices/` })).objects.length;
}
async function voiceRows(userId: string) {
  return (await env.DB.prepare(`SELECT count(*) AS n FROM voices WHERE user_id = ?1`).bind(userId).first<{ n: number }>())!.n;
}

describe("cloning: POST /api/voices", () => {
  const accepted: [string, Uint8Array, string, string, number][] = [
    ["WAV", wav, "a.wav", "wav", 12_370],
    ["MP3 (VBR)", mp3, "a.mp3", "mp3", 12_456],
    ["M4A/AAC", m4a, "a.m4a", "m4a", 12_370],
    ["OGG/Opus", oggOpus, "a.ogg", "ogg", 12_376],
    ["FLAC", flac, "a.flac", "flac", 12_370],
    ["MediaRecorder WEBM (no duration field)", recorded, "recording.webm", "webm", 12_360],
  ];
  for (const [label, bytes, filename, format, durationMs] of accepted) {
    it(`stores ${label} with its measured duration`, async () => {
      const user = await signUp("clone");
      await setPlan(user.id, "studio");
      const res = await upload(user, bytes, filename, { name: `Voice ${label}`, transcript: "Hello there." });
      expect(res.status, await res.clone().text()).toBe(201);
      const { voice } = (await res.json()) as { voice: VoiceJson };
      expect(voice.format).toBe(format);
      expect(Math.abs(voice.duration_ms - durationMs)).toBeLessThanOrEqual(80);
      expect(voice.size_bytes).toBe(bytes.byteLength);
      expect(voice.transcript).toBe("Hello there.");
      const obj = await env.AUDIO.get(`users/${user.id}/voices/${voice.id}/reference`);
      expect(new Uint8Array(await obj!.arrayBuffer())).toEqual(bytes);
    });
  }

  it("checks the bytes, not the name: a WAV called .mp3 is a WAV", async () => {
    const user = await signUp("sniff");
    const res = await upload(user, wav, "misnamed.mp3");
    expect(res.status).toBe(201);
    expect(((await res.json()) as { voice: VoiceJson }).voice.format).toBe("wav");
  });

  const refused: [string, () => Blob | Uint8Array, string, number, RegExp][] = [
    ["9 s of audio", () => nineSeconds, "short.wav", 422, /at least 10 seconds/],
    ["5 min 1 s of audio", () => makeWav(301_000, { sampleRate: 8000 }), "long.wav", 422, /at most 5 minutes/],
    ["a 51 MB file", () => new Blob([wav as Uint8Array<ArrayBuffer>, new Uint8Array(51 * 1024 * 1024)]), "huge.wav", 413, /larger than 50 MB/],
    ["zero bytes", () => new Uint8Array(0), "empty.wav", 415, /./],
    ["an HTML file named .wav", () => new TextEncoder().encode("<!doctype html><html><body>not audio</body></html>"), "page.wav", 415, /not a supported audio format|supported/i],
    ["a truncated WAV header", () => wav.slice(0, 30), "cut.wav", 415, /./],
  ];
  for (const [label, bytes, filename, status, message] of refused) {
    it(`refuses ${label} with a clear message and stores nothing`, async () => {
      const user = await signUp("refuse");
      const res = await upload(user, bytes(), filename);
      expect(res.status).toBe(status);
      const body = ApiErrorBody.parse(await res.json());
      expect(body.error.message).toMatch(message);
      expect(await storedObjects(user.id)).toBe(0);
      expect(await voiceRows(user.id)).toBe(0);
    });
  }

  it("validates the form fields and stores nothing when they are bad", async () => {
    const user = await signUp("fields");
    const res = await upload(user, wav, "a.wav", { name: "", language: "xx" });
    expect(res.status).toBe(400);
    expect(ApiErrorBody.parse(await res.json()).error.message).toMatch(/name|language/);
    expect(await storedObjects(user.id)).toBe(0);
    const missing = await call("/api/voices", { method: "POST", cookie: user.cookie, body: (() => { const f = new FormData(); f.set("name", "x"); return f; })() });
    expect(missing.status).toBe(400);
    expect(ApiErrorBody.parse(await missing.json()).error.code).toBe("audio_missing");
    const notMultipart = await call("/api/voices", { method: "POST", cookie: user.cookie, json: { name: "x" } });
    expect(notMultipart.status).toBe(400);
    expect((await call("/api/voices", { method: "POST", body: new FormData() })).status).toBe(401);
  });

  it("enforces the plan's voice count with a clear 403", async () => {
    const user = await signUp("limit");
    for (let i = 0; i < 3; i++) expect((await upload(user, wav, "a.wav", { name: `v${i}` })).status).toBe(201);
    const res = await upload(user, wav, "a.wav", { name: "one too many" });
    expect(res.status).toBe(403);
    const body = ApiErrorBody.parse(await res.json());
    expect(body.error.code).toBe("voice_limit_reached");
    expect(body.error.message).toContain("Free plan holds 3 voices");
    expect(await voiceRows(user.id)).toBe(3);
  });
});

describe("voice limit under races", () => {
  it("parallel uploads at the limit store exactly one more voice", async () => {
    const user = await signUp("racelimit");
    for (let i = 0; i < 2; i++) expect((await upload(user, wav, "a.wav", { name: `v${i}` })).status).toBe(201);
    const results = await Promise.all([0, 1, 2, 3].map((i) => upload(user, wav, "a.wav", { name: `race${i}` })));
    const statuses = results.map((r) => r.status).sort();
    expect(statuses).toEqual([201, 403, 403, 403]);
    for (const r of results) await r.arrayBuffer();
    expect(await voiceRows(user.id)).toBe(3);
    expect(await storedObjects(user.id)).toBe(3);
  });
});

describe("voice library", () => {
  it("lists with search, filters, sort and pagination", async () => {
    const user = await signUp("library");
    await setPlan(user.id, "pro");
    for (const name of ["Charlie", "alpha", "Bravo"]) expect((await upload(user, wav, "a.wav", { name, transcript: `I am ${name}` })).status).toBe(201);
    const list = async (q: string) => ((await (await call(`/api/voices${q}`, { cookie: user.cookie })).json()) as { voices: VoiceJson[]; next_cursor: string | null });
    expect((await list("")).voices.map((v) => v.name)).toEqual(["Bravo", "alpha", "Charlie"]);
    expect((await list("?sort=name")).voices.map((v) => v.name)).toEqual(["Bravo", "Charlie", "alpha"].sort((a, b) => (a < b ? -1 : 1)));
    expect((await list("?search=am%20brav")).voices.map((v) => v.name)).toEqual(["Bravo"]);
    const first = (await list("")).voices[0]!;
    await call(`/api/voices/${first.id}`, { method: "PATCH", cookie: user.cookie, json: { favorite: true } });
    expect((await list("?favorite=true")).voices.map((v) => v.id)).toEqual([first.id]);
    expect((await list("?source=design")).voices).toEqual([]);
    const p1 = await list("?limit=2");
    expect(p1.voices).toHaveLength(2);
    const p2 = await list(`?limit=2&cursor=${p1.next_cursor}`);
    expect(p2.voices).toHaveLength(1);
    expect(p2.next_cursor).toBeNull();
  });

  it("renames, favourites and deletes; delete removes the reference audio and keeps history", async () => {
    const engine = installFakeEngine();
    const user = await signUp("manage");
    const { voice } = (await (await upload(user, wav, "a.wav", { name: "Old" })).json()) as { voice: VoiceJson };
    const renamed = await call(`/api/voices/${voice.id}`, { method: "PATCH", cookie: user.cookie, json: { name: "New", favorite: true } });
    expect(renamed.status).toBe(200);
    expect(((await renamed.json()) as { voice: VoiceJson }).voice).toMatchObject({ name: "New", favorite: true });
    const bad = await call(`/api/voices/${voice.id}`, { method: "PATCH", cookie: user.cookie, json: { name: "x".repeat(101) } });
    expect(bad.status).toBe(400);

    const gen = await call("/api/generations", { method: "POST", cookie: user.cookie, json: { voice_id: voice.id, text: "Keep me." } });
    const { task_id, generation_id } = (await gen.json()) as { task_id: string; generation_id: string };
    const job = await engine.waitForJob(task_id);
    expect((await job.fetchReference()).status).toBe(200);
    await job.succeed(1);

    const del = await call(`/api/voices/${voice.id}`, { method: "DELETE", cookie: user.cookie });
    expect(del.status).toBe(204);
    expect(await env.AUDIO.head(`users/${user.id}/voices/${voice.id}/reference`)).toBeNull();
    expect((await call(`/api/voices/${voice.id}`, { cookie: user.cookie })).status).toBe(404);
    const kept = (await (await call(`/api/generations/${generation_id}`, { cookie: user.cookie })).json()) as {
      generation: { voice_id: string | null; voice_name: string; voice_deleted: boolean; status: string };
    };
    expect(kept.generation).toMatchObject({ voice_id: null, voice_name: "New", voice_deleted: true, status: "succeeded" });
    await expectLedgerInvariant(user.id);
  });

  it("serves reference audio with Range, the right type and nosniff", async () => {
    const user = await signUp("refaudio");
    const { voice } = (await (await upload(user, mp3, "a.mp3")).json()) as { voice: VoiceJson };
    const res = await call(voice.audio_url, { cookie: user.cookie, headers: { range: "bytes=0-99" } });
    expect(res.status).toBe(206);
    expect(res.headers.get("content-type")).toBe("audio/mpeg");
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    expect(res.headers.get("content-range")).toBe(`bytes 0-99/${mp3.byteLength}`);
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(mp3.slice(0, 100));
  });

  it("refuses every voice route for another user's voice with 404", async () => {
    const owner = await signUp("vowner");
    const other = await signUp("vother");
    const voice = await createVoice(owner.id);
    for (const [method, path, json] of [
      ["GET", `/api/voices/${voice.id}`, undefined],
      ["PATCH", `/api/voices/${voice.id}`, { name: "mine now" }],
      ["DELETE", `/api/voices/${voice.id}`, undefined],
      ["GET", `/api/voices/${voice.id}/audio`, undefined],
    ] as const) {
      const res = await call(path, { method, cookie: other.cookie, json });
      expect(res.status, `${method} ${path}`).toBe(404);
      expect(ApiErrorBody.parse(await res.json()).error.code).toBe("not_found");
    }
    expect(((await (await call("/api/voices", { cookie: other.cookie })).json()) as { voices: unknown[] }).voices).toEqual([]);
    const still = (await (await call(`/api/voices/${voice.id}`, { cookie: owner.cookie })).json()) as { voice: VoiceJson };
    expect(still.voice.name).toBe("Test voice");
  });
});

describe("voice design", () => {
  it("a preview goes through the pipeline and can be saved exactly once", async () => {
    const engine = installFakeEngine();
    const user = await signUp("design");
    const before = ((await (await call("/api/me", { cookie: user.cookie })).json()) as { credits: { balance: number } }).credits.balance;
    const res = await call("/api/voices/design/preview", {
      method: "POST",
      cookie: user.cookie,
      json: { description: "A calm, deep male narrator", text: "Welcome to the show.", language: "en" },
    });
    expect(res.status).toBe(202);
    const task = (await res.json()) as { task_id: string; generation_id: null; cost: number };
    expect(task.cost).toBe(5);
    expect(task.generation_id).toBeNull();
    const job = await engine.waitForJob(task.task_id);
    expect(job.job.kind).toBe("design_preview");
    expect(job.job.instruct).toBe("A calm, deep male narrator");
    expect(job.job.voice).toBeUndefined();

    const early = await call("/api/voices/design", { method: "POST", cookie: user.cookie, json: { task_id: task.task_id, name: "Narrator" } });
    expect(early.status).toBe(409);

    await job.succeed(1, 1500);
    const preview = await call(`/api/tasks/${task.task_id}/audio`, { cookie: user.cookie });
    expect(preview.status).toBe(200);
    await preview.arrayBuffer();

    const other = await signUp("thief");
    const stolen = await call("/api/voices/design", { method: "POST", cookie: other.cookie, json: { task_id: task.task_id, name: "Mine" } });
    expect(stolen.status).toBe(404);

    const [a, b] = await Promise.all([
      call("/api/voices/design", { method: "POST", cookie: user.cookie, json: { task_id: task.task_id, name: "Narrator" } }),
      call("/api/voices/design", { method: "POST", cookie: user.cookie, json: { task_id: task.task_id, name: "Narrator" } }),
    ]);
    expect([a.status, b.status].sort()).toEqual([200, 201]);
    const va = ((await a.json()) as { voice: VoiceJson }).voice;
    const vb = ((await b.json()) as { voice: VoiceJson }).voice;
    expect(va.id).toBe(vb.id);
    expect(va.source).toBe("design");
    expect(await voiceRows(user.id)).toBe(1);
    expect(await storedObjects(user.id)).toBe(1);
    const after = ((await (await call("/api/me", { cookie: user.cookie })).json()) as { credits: { balance: number } }).credits.balance;
    expect(after).toBe(before - 5);
    await expectLedgerInvariant(user.id);
  });

  it("validates design requests", async () => {
    const user = await signUp("designval");
    for (const json of [
      { description: "", text: "Hi", language: "en" },
      { description: "x".repeat(501), text: "Hi", language: "en" },
      { description: "Warm", text: "y".repeat(501), language: "en" },
    ]) {
      const res = await call("/api/voices/design/preview", { method: "POST", cookie: user.cookie, json });
      expect(res.status).toBe(400);
    }
  });
});

describe("languages", () => {
  it("GET /api/languages needs no account", async () => {
    expect((await call("/api/languages")).status).toBe(200);
  });
});
