import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { ApiErrorBody } from "../../worker/lib/errors";
import { CONSENT_STATEMENT_VERSION } from "../../worker/services/voice-consent";
import cbrMp3 from "../fixtures/audio/speech-12s-cbr.mp3?bytes";
import { call, signUp, type TestUser } from "../support/http";
import { makeWav } from "../support/wav";

const wav = makeWav(12_000, { sampleRate: 8000, freq: 180 });

function upload(user: TestUser, bytes: Uint8Array, filename: string, fields: Record<string, string | null> = {}) {
  const form = new FormData();
  form.set("name", "Consented voice");
  form.set("language", "en");
  const all: Record<string, string | null> = { consent: CONSENT_STATEMENT_VERSION, ...fields };
  for (const [k, v] of Object.entries(all)) if (v !== null) form.set(k, v);
  form.set("audio", new Blob([bytes as Uint8Array<ArrayBuffer>]), filename);
  return call("/api/voices", { method: "POST", cookie: user.cookie, body: form, headers: { "cf-connecting-ip": "203.0.113.9" } });
}

async function state(userId: string) {
  const objects = (await env.AUDIO.list({ prefix: `users/${userId}/` })).objects.length;
  const voices = (await env.DB.prepare("SELECT count(*) AS n FROM voices WHERE user_id = ?1").bind(userId).first<{ n: number }>())?.n;
  const consents = (await env.DB.prepare("SELECT count(*) AS n FROM voice_consents WHERE user_id = ?1").bind(userId).first<{ n: number }>())?.n;
  return { objects, voices, consents };
}

async function sha256Hex(bytes: Uint8Array): Promise<string> {
  return [...new Uint8Array(await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>))].map((b) => b.toString(16).padStart(2, "0")).join("");
}

describe("consent for cloned voices", () => {
  it.each([
    ["no consent field", null],
    ["an empty one", ""],
    ["yes", "yes"],
    ["an old statement version", "voice-consent-2020-01"],
  ])("a clone with %s is a 400 and stores nothing", async (_what, consent) => {
    const user = await signUp("noconsent");
    const res = await upload(user, wav, "a.wav", { consent });
    expect(res.status).toBe(400);
    const body = ApiErrorBody.parse(await res.json());
    expect(body.error.code).toBe("consent_required");
    expect(body.error.message).toContain(CONSENT_STATEMENT_VERSION);
    expect(body.error.details).toMatchObject({ statement_version: CONSENT_STATEMENT_VERSION });
    expect(await state(user.id)).toEqual({ objects: 0, voices: 0, consents: 0 });
  });

  it("a wrong consent sent before the audio is refused before the audio is read", async () => {
    const user = await signUp("earlyconsent");
    const boundary = "utterconsent0123456789";
    const enc = new TextEncoder();
    let pulled = 0;
    const head = enc.encode(
      `--${boundary}\r\nContent-Disposition: form-data; name="name"\r\n\r\nX\r\n` +
        `--${boundary}\r\nContent-Disposition: form-data; name="consent"\r\n\r\nno\r\n` +
        `--${boundary}\r\nContent-Disposition: form-data; name="audio"; filename="a.wav"\r\nContent-Type: audio/wav\r\n\r\n`,
    );
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(head);
      },
      pull(controller) {
        // 64 KB of WAV at a time, for ever: the server must stop reading.
        pulled++;
        if (pulled > 400) return controller.close();
        controller.enqueue(wav.subarray(0, 64 * 1024));
      },
    });
    const res = await call("/api/voices", {
      method: "POST",
      cookie: user.cookie,
      body,
      headers: { "content-type": `multipart/form-data; boundary=${boundary}` },
      // @ts-expect-error -- workerd needs `duplex` for a streamed request body; the DOM RequestInit type lacks it
      duplex: "half",
    });
    expect(res.status).toBe(400);
    expect(ApiErrorBody.parse(await res.json()).error.code).toBe("consent_required");
    expect(pulled).toBeLessThan(10);
    expect(await state(user.id)).toEqual({ objects: 0, voices: 0, consents: 0 });
  });

  it("records who, when, from which IP, which statement and the audio's SHA-256 — and keeps it when the voice is deleted", async () => {
    const user = await signUp("consent");
    const res = await upload(user, wav, "a.wav", { source: "record" });
    expect(res.status).toBe(201);
    const { voice } = (await res.json()) as { voice: { id: string; consent: { statement_version: string; audio_sha256: string; given_at: string } } };
    expect(voice.consent.statement_version).toBe(CONSENT_STATEMENT_VERSION);
    expect(voice.consent.audio_sha256).toBe(await sha256Hex(wav));
    const row = await env.DB.prepare("SELECT * FROM voice_consents WHERE voice_id = ?1").bind(voice.id).first<Record<string, unknown>>();
    expect(row).toMatchObject({ user_id: user.id, client_ip: "203.0.113.9", statement_version: CONSENT_STATEMENT_VERSION, source: "record" });

    const got = (await (await call(`/api/voices/${voice.id}`, { cookie: user.cookie })).json()) as { voice: { consent: unknown } };
    expect(got.voice.consent).toEqual(voice.consent);
    const page = await (await call(`/voices/${voice.id}`, { cookie: user.cookie })).text();
    expect(page).toContain("You confirmed you have the right to use this voice");
    expect(page).toContain(voice.consent.audio_sha256);

    expect((await call(`/api/voices/${voice.id}`, { method: "DELETE", cookie: user.cookie })).status).toBe(204);
    expect(await state(user.id)).toEqual({ objects: 0, voices: 0, consents: 1 });
  });

  it("another user's voice page never shows the record", async () => {
    const owner = await signUp("consentowner");
    const other = await signUp("consentother");
    const { voice } = (await (await upload(owner, wav, "a.wav")).json()) as { voice: { id: string } };
    expect((await call(`/api/voices/${voice.id}`, { cookie: other.cookie })).status).toBe(404);
  });
});

describe("a truncated MP3 with a lying Xing/Info header", () => {
  it("is refused as truncated and nothing is stored", async () => {
    const user = await signUp("truncmp3");
    const cut = cbrMp3.subarray(0, Math.floor(cbrMp3.length / 3));
    const res = await upload(user, cut, "cut.mp3");
    expect(res.status).toBe(415);
    const body = ApiErrorBody.parse(await res.json());
    expect(body.error.code).toBe("unreadable_audio");
    expect(body.error.details).toMatchObject({ reason: "truncated" });
    expect(body.error.message).toMatch(/header announces/);
    expect(await state(user.id)).toEqual({ objects: 0, voices: 0, consents: 0 });
  });
});

describe("multipart limits hold without a Content-Length", () => {
  it("1,200 chunked 64 KB text fields are refused after a few, not buffered", async () => {
    const user = await signUp("manyfields");
    const boundary = "utterboundary0123456789";
    const enc = new TextEncoder();
    const field = "x".repeat(64 * 1024 - 1);
    let sent = 0;
    let i = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (i === 1200) {
          controller.enqueue(enc.encode(`--${boundary}--\r\n`));
          controller.close();
          return;
        }
        const part = enc.encode(`--${boundary}\r\nContent-Disposition: form-data; name="f${i}"\r\n\r\n${field}\r\n`);
        sent += part.length;
        i++;
        controller.enqueue(part);
      },
    });
    const res = await call("/api/voices", {
      method: "POST",
      cookie: user.cookie,
      body,
      headers: { "content-type": `multipart/form-data; boundary=${boundary}` },
      // @ts-expect-error -- workerd needs `duplex` for a streamed request body; the DOM RequestInit type lacks it
      duplex: "half",
    });
    expect(res.status).toBe(413);
    expect(ApiErrorBody.parse(await res.json()).error.code).toMatch(/payload_too_large|too_many_parts/);
    // Refused within the first few fields: well under 1 MB read of the 77 MB offered.
    expect(sent).toBeLessThan(1024 * 1024);
    expect(await state(user.id)).toEqual({ objects: 0, voices: 0, consents: 0 });
  });

  it("more parts than a clone has are refused", async () => {
    const user = await signUp("manyparts");
    const form = new FormData();
    for (let n = 0; n < 20; n++) form.set(`f${n}`, "x");
    const res = await call("/api/voices", { method: "POST", cookie: user.cookie, body: form });
    expect(res.status).toBe(413);
    expect(ApiErrorBody.parse(await res.json()).error.code).toBe("too_many_parts");
  });
});

