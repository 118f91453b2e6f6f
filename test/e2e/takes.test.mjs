// Takes (issue 11, ADR 0022) in a real browser against `node dev/run.mjs`: from a finished
// generation's page, make a second take with a chosen seed, hear both side by side, and make the
// second one the take downloads return.
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { cloneVoice, signUpInPage, waitUntil } from "./support/account.mjs";
import { launchBrowser } from "./support/browser.mjs";
import { startStack } from "./support/stack.mjs";

// Never into the tracked tree unless asked (`npm run screenshots`), like the other browser tests.
const SHOTS = process.env.UTTER_SCREENSHOT_DIR ?? join(tmpdir(), "utter-screenshots");
const TEXT = "A line said twice, in two takes. Each one with its own seed.";

describe("takes of one generation", { timeout: 5 * 60_000 }, () => {
  let stack;
  let browser;
  let page;
  let generationId;

  before(async () => {
    stack = await startStack();
    browser = await launchBrowser();
    page = await browser.context.newPage();
    await signUpInPage(page, stack.url, "Takes");
    const voice = await cloneVoice(page, stack.url, "Take voice");
    const created = await page.request.post(`${stack.url}/api/generations`, {
      headers: { origin: stack.url },
      data: { voice_id: voice.id, text: TEXT, language: "en", seed: 11 },
    });
    assert.equal(created.status(), 202, await created.text());
    generationId = (await created.json()).generation_id;
    // The first take finishes on its own (the dev engine takes about a second for this text).
    await waitUntil(
      async () => (await (await page.request.get(`${stack.url}/api/generations/${generationId}`)).json()).generation.status === "succeeded",
      30_000,
    );
  });

  after(async () => {
    await browser?.close();
    await stack?.stop();
  });

  async function audio(query = "") {
    const res = await page.request.get(`${stack.url}/api/generations/${generationId}/audio${query}`);
    assert.equal(res.status(), 200);
    return Buffer.from(await res.body());
  }

  test("makes a second take with a chosen seed, shows both with their seeds and players, and switches the one in use", async () => {
    await page.goto(`${stack.url}/history`);
    await page.getByTestId("history-takes-link").first().click();
    await page.waitForURL(`${stack.url}/history/${generationId}`);
    const takes = page.getByTestId("take");
    await page.getByRole("heading", { name: "Takes" }).waitFor();
    await takes.first().waitFor();
    assert.equal(await takes.count(), 1);
    assert.equal(await takes.first().getByTestId("take-seed").textContent(), "11");

    await page.getByLabel("Seed (optional)").fill("22");
    await page.getByRole("button", { name: "New take" }).click();
    const second = page.locator('[data-testid="take"][data-take="2"]');
    await second.waitFor();
    // The page looks again while the take is made, until it has its audio.
    await page.locator('[data-testid="take"][data-take="2"][data-status="succeeded"]').waitFor({ timeout: 30_000 });
    assert.equal(await second.getByTestId("take-seed").textContent(), "22");
    assert.equal(await takes.count(), 2);
    await page.getByTestId("take-player-1").waitFor();
    await page.getByTestId("take-player-2").waitFor();
    assert.equal(await page.locator('[data-testid="take"][data-take="1"]').getAttribute("data-preferred"), "true");

    const first = await audio();
    const other = await audio("?take=2");
    assert.ok(!first.equals(other), "seed 22 made another take than seed 11");
    assert.ok(first.equals(await audio("?take=1")));

    await second.getByRole("button", { name: "Use this take" }).click();
    await page.locator('[data-testid="take"][data-take="2"][data-preferred="true"]').waitFor();
    assert.equal(await page.locator('[data-testid="take"][data-take="1"]').getAttribute("data-preferred"), "false");
    assert.ok((await audio()).equals(other), "downloads now return take 2");
    mkdirSync(SHOTS, { recursive: true });
    await page.screenshot({ path: join(SHOTS, "takes-desktop.png"), fullPage: true });
    await page.setViewportSize({ width: 390, height: 844 });
    await page.waitForTimeout(250);
    await page.screenshot({ path: join(SHOTS, "takes-phone.png"), fullPage: true });
    // At phone width the takes stack; nothing sticks out sideways.
    assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth + 1), "no sideways overflow on a phone");
    await page.setViewportSize({ width: 1280, height: 800 });

    await page.goto(`${stack.url}/history`);
    assert.equal((await page.getByTestId("history-takes").first().textContent())?.trim(), "take 2 of 2");
  });
});
