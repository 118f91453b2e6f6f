// Regenerating one part (issue 11 item 3, ADR 0026) in a real browser against `node dev/run.mjs`:
// from a finished generation's page, regenerate its second part, accept the new take, and check that
// the final file changed only in that part's range.
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { cloneVoice, signUpInPage, waitUntil } from "./support/account.mjs";
import { launchBrowser } from "./support/browser.mjs";
import { startStack } from "./support/stack.mjs";
import { parseWav } from "./support/wav.mjs";

const SHOTS = process.env.UTTER_SCREENSHOT_DIR ?? join(tmpdir(), "utter-screenshots");
// About 560 characters: the dev engine splits it into three or more parts.
const TEXT =
  "The harbour was quiet at dawn. Fishing boats rocked gently against the pier, and the gulls had not yet begun their quarrels. " +
  "A woman in a yellow coat walked slowly along the water, stopping now and then to watch the light change on the waves. " +
  "Far out at sea a ship sounded its horn, and the birds rose from the roofs all at once, wheeling over the market square. " +
  "By the time the bakery opened its doors the whole town was awake, and the smell of bread drifted down every narrow street.";
/** The dev engine's crossfade between parts (10 ms at 24 kHz). */
const FADE = 240;

describe("regenerating one part", { timeout: 5 * 60_000 }, () => {
  let stack;
  let browser;
  let page;
  let generationId;

  before(async () => {
    stack = await startStack();
    browser = await launchBrowser();
    page = await browser.context.newPage();
    await signUpInPage(page, stack.url, "Parts");
    const voice = await cloneVoice(page, stack.url, "Part voice");
    const created = await page.request.post(`${stack.url}/api/generations`, {
      headers: { origin: stack.url },
      data: { voice_id: voice.id, text: TEXT, language: "en", seed: 5 },
    });
    assert.equal(created.status(), 202, await created.text());
    generationId = (await created.json()).generation_id;
    await waitUntil(
      async () => (await (await page.request.get(`${stack.url}/api/generations/${generationId}`)).json()).generation.status === "succeeded",
    );
  });

  after(async () => {
    await browser?.close();
    await stack?.stop();
  });

  async function pcm(url) {
    const res = await page.request.get(`${stack.url}${url}`);
    assert.equal(res.status(), 200, url);
    const buf = Buffer.from(await res.body());
    const wav = parseWav(buf);
    assert.equal(wav.bitsPerSample, 16);
    // A copy, so the samples are aligned for an Int16Array whatever the header's size.
    return new Int16Array(Uint8Array.from(buf.subarray(wav.dataOffset, wav.dataOffset + wav.dataBytes)).buffer);
  }

  test("regenerates part 2 from the page, accepts it, and the final changes only in that part's range", async () => {
    await page.goto(`${stack.url}/history/${generationId}`);
    const parts = page.getByTestId("part");
    await page.getByRole("heading", { name: "Parts of take 1" }).waitFor();
    const count = await parts.count();
    assert.ok(count >= 3, `${count} parts`);
    const second = page.locator('[data-testid="part"][data-index="1"]');
    // Each part shows its own words (from the word timings): together, the whole text, none twice.
    const texts = await parts.locator(".part-text").allTextContents();
    assert.equal(texts.join(" "), TEXT.trim());
    const partText = (await second.locator(".part-text").textContent()) ?? "";
    assert.ok(partText.length > 20 && TEXT.includes(partText), "the part shows its text");

    // Where each part of take 1 is, from its own audio (the parts are what the final is made of).
    const list = await (await page.request.get(`${stack.url}/api/generations/${generationId}/parts`)).json();
    const lengths = [];
    for (const p of list.parts) lengths.push((await pcm(p.audio_url)).length);

    await second.getByRole("button", { name: "Regenerate this part" }).click();
    await second.getByRole("status").waitFor();
    const take2 = page.locator('[data-testid="take"][data-take="2"]');
    await take2.waitFor();
    await page.locator('[data-testid="take"][data-take="2"][data-status="succeeded"]').waitFor({ timeout: 60_000 });
    assert.match((await take2.locator("strong").first().textContent()) ?? "", /part 2 regenerated/);
    await take2.getByTestId("take-part-player").waitFor();
    // It cost that part's text alone (1 credit per 100 characters), less than the whole text.
    const credits = Math.ceil(partText.length / 100);
    assert.ok(credits < Math.ceil(TEXT.length / 100));
    assert.equal((await take2.getByTestId("take-charge").textContent())?.trim(), `${credits} credit${credits === 1 ? "" : "s"}`);

    await take2.getByRole("button", { name: "Use this take" }).click();
    await page.locator('[data-testid="take"][data-take="2"][data-preferred="true"]').waitFor();

    const before = await pcm(`/api/generations/${generationId}/audio?take=1&download=1`);
    const afterAll = await pcm(`/api/generations/${generationId}/audio?download=1`);
    const head = lengths[0] - FADE; // up to where part 2's crossfade starts
    const tail = lengths.slice(2).reduce((a, b) => a + b, 0) - (lengths.length - 2) * FADE; // from where it ends, aligned from the end
    assert.ok(head > 0 && tail > 0);
    assert.deepEqual(afterAll.subarray(0, head), before.subarray(0, head), "unchanged before part 2");
    assert.deepEqual(afterAll.subarray(afterAll.length - tail), before.subarray(before.length - tail), "unchanged after part 2");
    assert.notDeepEqual(afterAll.subarray(head, afterAll.length - tail), before.subarray(head, before.length - tail), "part 2 changed");

    mkdirSync(SHOTS, { recursive: true });
    await page.screenshot({ path: join(SHOTS, "parts-desktop.png"), fullPage: true });
    await page.setViewportSize({ width: 390, height: 844 });
    await page.waitForTimeout(250);
    assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth + 1), "no sideways overflow on a phone");
    await page.setViewportSize({ width: 1280, height: 800 });
  });
});
