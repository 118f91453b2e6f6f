import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createVoice } from "../support/factories";
import { call, signUp } from "../support/http";

const row = (id: string) => env.DB.prepare(`SELECT name, language, transcript, description FROM voices WHERE id = ?1`).bind(id).first();

describe("editing a voice's details", () => {
  it("PATCH /api/voices/:id changes the language, transcript and description too", async () => {
    const user = await signUp("voice-edit-api");
    const voice = await createVoice(user.id, { name: "Before" });
    const res = await call(`/api/voices/${voice.id}`, { method: "PATCH", cookie: user.cookie, json: { name: "After", language: "de", transcript: "Guten Tag.", description: "Warm, slow." } });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { voice: Record<string, unknown> }).voice).toMatchObject({ name: "After", language: "de", transcript: "Guten Tag.", description: "Warm, slow." });
    expect(await row(voice.id)).toEqual({ name: "After", language: "de", transcript: "Guten Tag.", description: "Warm, slow." });

    // clearing: empty strings become null
    await call(`/api/voices/${voice.id}`, { method: "PATCH", cookie: user.cookie, json: { transcript: "", description: "" } });
    expect(await row(voice.id)).toMatchObject({ transcript: null, description: null });
  });

  it("refuses an unknown language, an over-long description and another user's voice, changing nothing", async () => {
    const user = await signUp("voice-edit-bad");
    const other = await signUp("voice-edit-other");
    const voice = await createVoice(user.id, { name: "Kept" });
    const before = await row(voice.id);
    for (const json of [{ language: "xx" }, { description: "d".repeat(501) }, {}]) {
      const res = await call(`/api/voices/${voice.id}`, { method: "PATCH", cookie: user.cookie, json });
      expect(res.status, JSON.stringify(json)).toBe(400);
    }
    expect((await call(`/api/voices/${voice.id}`, { method: "PATCH", cookie: other.cookie, json: { name: "Stolen" } })).status).toBe(404);
    expect(await row(voice.id)).toEqual(before);
  });

  it("the voice page saves its edit form, and names the bad field", async () => {
    const user = await signUp("voice-edit-page");
    const voice = await createVoice(user.id, { name: "Page voice" });
    const page = await (await call(`/voices/${voice.id}`, { cookie: user.cookie })).text();
    expect(page).toContain("Edit details");

    const form = new FormData();
    form.set("name", "Renamed on the page");
    form.set("language", "fr");
    form.set("transcript", "Bonjour à tous.");
    form.set("description", "Bright.");
    const saved = await call(`/voices/${voice.id}`, { method: "POST", cookie: user.cookie, body: form });
    expect(saved.status).toBe(200);
    expect(await row(voice.id)).toEqual({ name: "Renamed on the page", language: "fr", transcript: "Bonjour à tous.", description: "Bright." });

    form.set("name", "");
    const bad = await call(`/voices/${voice.id}`, { method: "POST", cookie: user.cookie, body: form });
    expect(bad.status).toBe(400);
    expect(await row(voice.id)).toMatchObject({ name: "Renamed on the page" });

    const other = await signUp("voice-edit-page-other");
    form.set("name", "Stolen");
    expect((await call(`/voices/${voice.id}`, { method: "POST", cookie: other.cookie, body: form })).status).toBe(404);
  });
});
