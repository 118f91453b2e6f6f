// Issue 13 in a real browser against `node dev/run.mjs`: the 404 page and favicon; focus after
// Generate; the MP3 button once the (late) MP3 exists; one job at a time on the free plan; the
// engine killed mid-job → the page says so within 5 s, Cancel works and the credit badge comes
// back; the stack answers afterwards (dev/run.mjs restarted the engine).
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { after, before, describe, test } from "node:test";
import { launchBrowser } from "./support/browser.mjs";
import { startStack } from "./support/stack.mjs";
import { encodeWav, speechLikeSamples } from "./support/wav.mjs";

const PASSWORD = "correct horse battery";
const SHORT = "A short line to hear. And a second sentence, so that it has two parts.";
const LONG = "This sentence keeps the engine busy for a while, one part after another. ".repeat(40).trim();

function enginePid(runPid) {
  const out = execFileSync("ps", ["-o", "pid=,args=", "--ppid", String(runPid)], { encoding: "utf8" });
  const line = out.split("\n").find((l) => l.includes("dev/engine/server.ts"));
  return line ? Number(line.trim().split(/\s+/)[0]) : null;
}

async function balance(page) {
  return Number((await page.getByTestId("credit-balance").getAttribute("aria-label")).replace(/[^0-9]/g, ""));
}

async function waitForBalance(page, expected, timeoutMs = 10_000) {
  const started = Date.now();
  let seen;
  while (Date.now() - started < timeoutMs) {
    seen = await balance(page);
    if (seen === expected) return;
    await page.waitForTimeout(200);
  }
  assert.fail(`the credit badge shows ${seen}, expected ${expected}`);
}

describe("rough edges a newcomer meets", { timeout: 10 * 60_000 }, () => {
  let stack;
  let browser;
  let page;
  let voiceId;

  before(async () => {
    // A pause before each segment, so a job runs long enough to kill its engine in the middle.
    stack = await startStack({ env: { DEV_ENGINE_SEGMENT_DELAY_MS: "1500" } });
    assert.ok(stack.pid, "these tests start their own stack (UTTER_E2E_URL is not supported here)");
    browser = await launchBrowser();
    page = await browser.context.newPage();
    await page.goto(`${stack.url}/sign-up`);
    await page.getByLabel("Name").fill("Edges");
    await page.getByLabel("Email").fill(`edges-${Date.now()}@example.com`);
    await page.getByLabel("Password").fill(PASSWORD);
    await Promise.all([page.waitForURL(`${stack.url}/`), page.getByRole("button", { name: "Create account" }).click()]);
    const wav = encodeWav(speechLikeSamples({ seconds: 12 }));
    const res = await page.request.post(`${stack.url}/api/voices`, {
      headers: { origin: stack.url },
      multipart: { name: "Edge voice", language: "en", consent: "voice-consent-2026-12", audio: { name: "reference.wav", mimeType: "audio/wav", buffer: wav } },
    });
    assert.equal(res.status(), 201, await res.text());
    voiceId = (await res.json()).voice.id;
  });

  after(async () => {
    await browser?.close();
    await stack?.stop();
  });

  test("an unknown address is a proper 404 page with the signed-in header, a title and a favicon", async () => {
    const res = await page.goto(`${stack.url}/nope-404`);
    assert.equal(res.status(), 404);
    assert.equal(await page.title(), "Page not found — Utter");
    await page.getByRole("heading", { name: "Page not found" }).waitFor();
    assert.ok(!(await page.content()).includes("No route matches"));
    await page.getByTestId("credit-balance").waitFor();
    const icon = await page.locator('link[rel="icon"]').getAttribute("href");
    assert.equal((await page.request.get(`${stack.url}${icon}`)).status(), 200);
  });

  test("Generate moves focus to the run, then the MP3 button appears without a reload", async () => {
    await page.goto(`${stack.url}/generate?voice=${voiceId}`);
    await page.getByLabel("Text").fill(SHORT);
    await page.getByTestId("generate-submit").click();
    const run = page.getByTestId("task-run");
    await run.waitFor();
    await page.waitForFunction(() => document.activeElement?.getAttribute("data-testid") === "task-run", null, { timeout: 5_000 });
    await page.locator('[data-testid="task-run"][data-status="succeeded"]').waitFor({ timeout: 120_000 });
    await page.getByTestId("final").getByRole("link", { name: "MP3" }).waitFor({ timeout: 30_000 });
  });

  test("the engine dies mid-job: the page says so within 5 s, Cancel gives the credits back, the stack carries on", async () => {
    await page.goto(`${stack.url}/generate?voice=${voiceId}`);
    const before = await balance(page);
    await page.getByLabel("Text").fill(LONG);
    await page.getByTestId("generate-submit").click();
    const run = page.getByTestId("task-run");
    await page.locator('[data-testid="task-run"][data-status="running"]').waitFor({ timeout: 60_000 });
    // The free plan runs one job at a time: no "Generate another".
    assert.equal(await page.getByTestId("generate-submit").innerText(), "Generate");
    assert.ok(await page.getByTestId("generate-submit").isDisabled());
    await page.getByTestId("one-job-hint").waitFor();
    await waitForBalance(page, before - Math.ceil(LONG.length / 100));

    const pid = enginePid(stack.pid);
    assert.ok(pid, "the engine runs under dev/run.mjs");
    process.kill(pid, "SIGKILL");
    const killedAt = Date.now();
    await page.getByTestId("engine-trouble").waitFor({ timeout: 5_000 });
    const saidAfter = Date.now() - killedAt;
    console.log(`# the page said the engine is not answering ${saidAfter} ms after the kill`);
    assert.ok(saidAfter <= 5_000);

    await run.getByRole("button", { name: "Cancel" }).click();
    await page.locator('[data-testid="task-run"][data-status="cancelled"]').waitFor({ timeout: 10_000 });
    await waitForBalance(page, before);

    // dev/run.mjs restarted the engine: a new job completes.
    await page.getByLabel("Text").fill(SHORT);
    await page.getByTestId("generate-submit").click();
    await page.locator('[data-testid="task-run"][data-status="succeeded"]').waitFor({ timeout: 120_000 });
    assert.equal(await page.getByTestId("engine-trouble").count(), 0);
  });
});
