import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import fixture from "../fixtures/engine-protocol/v2/alignment.json";
import { ApiErrorBody } from "../../worker/lib/errors";
import { installFakeEngine, type FakeEngine, type JobDriver } from "../support/fake-engine";
import { createVoice } from "../support/factories";
import { call, type TestUser } from "../support/http";
import { ledgerCheckedUsers } from "../support/ledger-users";
import { makeWav } from "../support/wav";

const newUser = ledgerCheckedUsers();

const TEXT =
  "Hello there. This is a test of subtitles that run on long enough to need two lines in one cue, and then some more words after that. Done!";
const SEGMENTS = 3;
const SEGMENT_MS = 400;
const DURATION_S = (SEGMENTS * SEGMENT_MS) / 1000;

async function startJob(engine: FakeEngine, user: TestUser) {
  const voice = await createVoice(user.id);
  const res = await call("/api/generations", {
    method: "POST",
    cookie: user.cookie,
    json: { voice_id: voice.id, text: TEXT, language: "en" },
  });
  if (res.status !== 202) throw new Error(`generation refused: ${res.status} ${await res.text()}`);
  const task = (await res.json()) as { task_id: string; generation_id: string };
  return { task, job: await engine.waitForJob(task.task_id) };
}

/**
 * What an engine measures: each word of the text with its char offsets, times spread over the
 * final file as the stitching placed them (words share the file evenly, a gap after each sentence).
 */
function engineAlignment(text: string, duration: number) {
  const matches = [...text.matchAll(/\S+/g)];
  const slot = duration / (matches.length + 2);
  let t = 0;
  const words = matches.map((m) => {
    const start = t;
    const end = start + slot * 0.8;
    t += /[.!?]$/.test(m[0]) ? slot * 1.3 : slot;
    return { text: m[0], start: round3(start), end: round3(end), char_start: m.index, char_end: m.index + m[0].length };
  });
  return { version: 1, duration, source: "fake-engine", words };
}
const round3 = (x: number) => Math.round(x * 1000) / 1000;
/** UTF-8 bodies read as bytes (workerd does not count application/x-subrip as text). */
const textOf = async (res: Response) => new TextDecoder().decode(await res.arrayBuffer());

function putAlignment(job: JobDriver, value: unknown, contentType = "application/json") {
  return job.artifact("alignment", { method: "PUT", body: typeof value === "string" ? value : JSON.stringify(value), contentType });
}

type ParsedCue = { start: number; end: number; lines: string[] };

/** A strict SubRip reader: numbered blocks from 1, `HH:MM:SS,mmm --> HH:MM:SS,mmm`, 1–2 non-empty lines, CRLF, blank line between. */
function parseSrt(body: string): ParsedCue[] {
  expect(body.endsWith("\r\n")).toBe(true);
  expect(body.replace(/\r\n/g, "")).not.toMatch(/[\r\n]/); // CRLF only
  const blocks = body.slice(0, -2).split("\r\n\r\n");
  return blocks.map((block, i) => {
    const [n, timing, ...lines] = block.split("\r\n");
    expect(n, `cue ${i + 1} number`).toBe(String(i + 1));
    const m = /^(\d\d):([0-5]\d):([0-5]\d),(\d{3}) --> (\d\d):([0-5]\d):([0-5]\d),(\d{3})$/.exec(timing ?? "");
    expect(m, `cue ${i + 1} timing "${timing}"`).not.toBeNull();
    const at = (k: number) => Number(m![k]) * 3600 + Number(m![k + 1]) * 60 + Number(m![k + 2]) + Number(m![k + 3]) / 1000;
    expect(lines.length, `cue ${i + 1} lines`).toBeGreaterThanOrEqual(1);
    expect(lines.length, `cue ${i + 1} lines`).toBeLessThanOrEqual(2);
    for (const line of lines) expect(line.trim().length, `cue ${i + 1} empty line`).toBeGreaterThan(0);
    return { start: at(1), end: at(5), lines };
  });
}

/** A strict WebVTT reader: the `WEBVTT` header, a blank line, then cues `HH:MM:SS.mmm --> HH:MM:SS.mmm` with 1–2 lines. */
function parseVtt(body: string): ParsedCue[] {
  expect(body.startsWith("WEBVTT\n\n")).toBe(true);
  expect(body).not.toContain("\r");
  const blocks = body.slice("WEBVTT\n\n".length).replace(/\n$/, "").split("\n\n");
  return blocks.map((block, i) => {
    const [timing, ...lines] = block.split("\n");
    const m = /^(\d\d):([0-5]\d):([0-5]\d)\.(\d{3}) --> (\d\d):([0-5]\d):([0-5]\d)\.(\d{3})$/.exec(timing ?? "");
    expect(m, `cue ${i + 1} timing "${timing}"`).not.toBeNull();
    const at = (k: number) => Number(m![k]) * 3600 + Number(m![k + 1]) * 60 + Number(m![k + 2]) + Number(m![k + 3]) / 1000;
    expect(lines.length).toBeGreaterThanOrEqual(1);
    expect(lines.length).toBeLessThanOrEqual(2);
    for (const line of lines) expect(line).not.toMatch(/<|-->/);
    return { start: at(1), end: at(5), lines };
  });
}

/** Cues in order, not overlapping, inside the audio, readable, and together the whole text. */
function expectReadableCues(cues: ParsedCue[], text: string, duration: number) {
  expect(cues.length).toBeGreaterThan(1);
  let prevEnd = 0;
  for (const c of cues) {
    expect(c.start).toBeGreaterThanOrEqual(prevEnd);
    expect(c.end).toBeGreaterThan(c.start);
    expect(c.end).toBeLessThanOrEqual(duration + 0.001);
    expect(c.end - c.start).toBeLessThanOrEqual(7);
    for (const line of c.lines) expect(line.length).toBeLessThanOrEqual(42);
    prevEnd = c.end;
  }
  expect(cues.map((c) => c.lines.join(" ")).join(" ")).toBe(text);
  // A sentence end closes its cue.
  expect(cues[0]!.lines.join(" ")).toBe("Hello there.");
}

describe("word timings (alignment artifact) and subtitles", () => {
  it("stores an alignment uploaded after completed, lists it, and serves valid SRT and WebVTT to the owner only", async () => {
    const fake = installFakeEngine();
    const user = await newUser("subs");
    const { task, job } = await startJob(fake, user);
    await job.succeed(SEGMENTS, SEGMENT_MS);
    const alignment = engineAlignment(TEXT, DURATION_S);
    const up = await putAlignment(job, alignment);
    expect(up.status, await up.clone().text()).toBe(201);
    expect(await up.json()).toMatchObject({ kind: "alignment", index: null });
    // Immutable once stored after the settle, and recorded in D1 by the tracker itself (the settle is over).
    expect((await putAlignment(job, alignment)).status).toBe(409);
    const row = await env.DB.prepare(
      `SELECT r2_key, content_type FROM task_artifacts WHERE task_id = ?1 AND kind = 'alignment' AND idx = -1`,
    )
      .bind(task.task_id)
      .first<{ r2_key: string; content_type: string }>();
    expect(row).toEqual({ r2_key: `users/${user.id}/tasks/${task.task_id}/artifacts/alignment`, content_type: "application/json" });

    const view = (await (await call(`/api/generations/${task.generation_id}`, { cookie: user.cookie })).json()) as {
      generation: { subtitles_url: string | null };
    };
    expect(view.generation.subtitles_url).toBe(`/api/generations/${task.generation_id}/subtitles.srt`);

    // The player reads the alignment itself through the artifact route.
    const raw = await call(`/api/tasks/${task.task_id}/artifacts/alignment`, { cookie: user.cookie });
    expect(raw.status).toBe(200);
    expect(raw.headers.get("content-type")).toContain("application/json");
    const served = (await raw.json()) as typeof alignment;
    expect(served).toEqual(alignment);
    let prev = 0;
    for (const w of served.words) {
      expect(w.start).toBeGreaterThanOrEqual(prev);
      expect(w.end).toBeGreaterThanOrEqual(w.start);
      expect(w.end).toBeLessThanOrEqual(DURATION_S);
      expect(TEXT.slice(w.char_start, w.char_end)).toBe(w.text);
      prev = w.start;
    }

    const srt = await call(`/api/generations/${task.generation_id}/subtitles.srt`, { cookie: user.cookie });
    expect(srt.status).toBe(200);
    expect(srt.headers.get("content-type")).toBe("application/x-subrip; charset=utf-8");
    expect(srt.headers.get("content-disposition")).toBe(`attachment; filename="utter-${task.generation_id}.srt"`);
    const srtCues = parseSrt(await textOf(srt));
    expectReadableCues(srtCues, TEXT, DURATION_S);

    const vtt = await call(`/api/generations/${task.generation_id}/subtitles.vtt`, { cookie: user.cookie });
    expect(vtt.status).toBe(200);
    expect(vtt.headers.get("content-type")).toBe("text/vtt; charset=utf-8");
    const vttCues = parseVtt(await vtt.text());
    expectReadableCues(vttCues, TEXT, DURATION_S);
    expect(vttCues).toEqual(srtCues);

    // Someone else: the generation does not exist for them, nor its artifact.
    const other = await newUser("subs-other");
    for (const path of [
      `/api/generations/${task.generation_id}/subtitles.srt`,
      `/api/generations/${task.generation_id}/subtitles.vtt`,
      `/api/tasks/${task.task_id}/artifacts/alignment`,
    ]) {
      const res = await call(path, { cookie: other.cookie });
      expect(res.status, path).toBe(404);
      expect(ApiErrorBody.parse(await res.json()).error.code).toBe("not_found");
    }
    expect((await call(`/api/generations/${task.generation_id}/subtitles.srt`)).status).toBe(401);
  });

  it("keeps an alignment uploaded before completed (as the development engine does) with the settle", async () => {
    const fake = installFakeEngine();
    const user = await newUser("subs-early");
    const { task, job } = await startJob(fake, user);
    await job.ack({ type: "started", segments_total: 1 });
    await job.segment(0, 900);
    const final = makeWav(900, { sampleRate: job.job.output.sample_rate });
    expect((await job.upload("final", final)).status).toBe(201);
    expect((await putAlignment(job, engineAlignment(TEXT, 0.9))).status).toBe(201);
    await job.ack({ type: "completed", duration_ms: 900, sample_rate: job.job.output.sample_rate, size_bytes: final.byteLength });
    const row = await env.DB.prepare(`SELECT content_type FROM task_artifacts WHERE task_id = ?1 AND kind = 'alignment' AND idx = -1`)
      .bind(task.task_id)
      .first<{ content_type: string }>();
    expect(row?.content_type).toBe("application/json");
    const srt = await call(`/api/generations/${task.generation_id}/subtitles.srt`, { cookie: user.cookie });
    expect(srt.status).toBe(200);
    expectReadableCues(parseSrt(await textOf(srt)), TEXT, 0.9);
  });

  it("refuses a malformed alignment with a 4xx naming what is wrong, and stores nothing", async () => {
    const fake = installFakeEngine();
    const user = await newUser("subs-bad");
    const { task, job } = await startJob(fake, user);
    await job.ack({ type: "started", segments_total: 1 });
    for (const c of fixture.invalid) {
      const res = await putAlignment(job, c.value);
      expect(res.status, c.description).toBe(400);
      const body = ApiErrorBody.parse(await res.json());
      expect(body.error.code, c.description).toBe("invalid_artifact_content");
      expect(body.error.message, c.description).toContain(c.path);
      expect((body.error.details as { issues: { path: string }[] }).issues[0]!.path).toBe(c.path);
    }
    const notJson = await putAlignment(job, "{not json");
    expect(notJson.status).toBe(400);
    expect(ApiErrorBody.parse(await notJson.json()).error).toMatchObject({
      code: "invalid_artifact_content",
      message: "This alignment artifact is not JSON.",
    });
    expect((await putAlignment(job, engineAlignment(TEXT, 1), "audio/wav")).status).toBe(415);
    const parts = await job.artifact("alignment/uploads", { method: "POST", contentType: "application/json" });
    expect(parts.status).toBe(400);
    expect(ApiErrorBody.parse(await parts.json()).error.code).toBe("single_body_required");
    const stored = await env.AUDIO.list({ prefix: `users/${user.id}/tasks/${task.task_id}/` });
    expect(stored.objects).toHaveLength(0);
    // The same body, well formed, is taken.
    expect((await putAlignment(job, engineAlignment(TEXT, 1))).status).toBe(201);
    expect((await env.AUDIO.list({ prefix: `users/${user.id}/tasks/${task.task_id}/artifacts/` })).objects.map((o) => o.key)).toEqual([
      `users/${user.id}/tasks/${task.task_id}/artifacts/alignment`,
    ]);
  });

  it("answers 409 for a generation without word timings, and for one not finished", async () => {
    const fake = installFakeEngine();
    const user = await newUser("subs-none");
    const { task, job } = await startJob(fake, user);
    const early = await call(`/api/generations/${task.generation_id}/subtitles.vtt`, { cookie: user.cookie });
    expect(early.status).toBe(409);
    expect(ApiErrorBody.parse(await early.json()).error.code).toBe("audio_not_ready");
    await job.succeed(1, 500);
    const res = await call(`/api/generations/${task.generation_id}/subtitles.srt`, { cookie: user.cookie });
    expect(res.status).toBe(409);
    expect(ApiErrorBody.parse(await res.json()).error).toMatchObject({ code: "subtitles_unavailable" });
    const view = (await (await call(`/api/generations/${task.generation_id}`, { cookie: user.cookie })).json()) as {
      generation: { subtitles_url: string | null };
    };
    expect(view.generation.subtitles_url).toBeNull();
    expect((await call(`/api/generations/gen_nope/subtitles.srt`, { cookie: user.cookie })).status).toBe(404);
  });
});
