// A fresh account and voice for a browser test: signed up through the page (so the page's context
// holds the session), and a voice cloned through the API from a 12 s speech-like reference.
import assert from "node:assert/strict";
import { encodeWav, speechLikeSamples } from "./wav.mjs";

export const PASSWORD = "correct horse battery";

/** Signs up as `name` through /sign-up and waits for the home page; returns the email used. */
export async function signUpInPage(page, url, name) {
  const email = `${name.toLowerCase().replace(/[^a-z0-9]+/g, "-")}-${Date.now()}@example.com`;
  await page.goto(`${url}/sign-up`);
  await page.getByLabel("Name").fill(name);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(PASSWORD);
  await Promise.all([page.waitForURL(`${url}/`), page.getByRole("button", { name: "Create account" }).click()]);
  return email;
}

/** Clones a voice named `name` for the signed-in page (with the consent statement, ADR 0016); returns the API's voice. */
export async function cloneVoice(page, url, name) {
  const res = await page.request.post(`${url}/api/voices`, {
    headers: { origin: url },
    multipart: {
      name,
      language: "en",
      consent: "voice-consent-2026-12",
      audio: { name: "reference.wav", mimeType: "audio/wav", buffer: encodeWav(speechLikeSamples({ seconds: 12 })) },
    },
  });
  assert.equal(res.status(), 201, await res.text());
  return (await res.json()).voice;
}

/** Polls `check` every 200 ms until it is true; fails after `timeoutMs`. */
export async function waitUntil(check, timeoutMs = 60_000) {
  const started = Date.now();
  while (!(await check())) {
    if (Date.now() - started > timeoutMs) assert.fail("timed out");
    await new Promise((r) => setTimeout(r, 200));
  }
}
