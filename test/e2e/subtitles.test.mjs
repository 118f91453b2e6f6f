// Word timings in the browser (issue 11, ADR 0021): a finished generation's
// subtitles download from the history page as SRT and WebVTT, and while its
// file plays the word being spoken is highlighted — eSpeak's own timings from
// the development engine, through the alignment artifact.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { cloneVoice, signUpInPage } from "./support/account.mjs";
import { launchBrowser } from "./support/browser.mjs";
import { startStack } from "./support/stack.mjs";

const TEXT =
  "The lighthouse keeper climbed the stairs at dusk. He counted every step aloud, and the sea answered him. " +
  "At the top he lit the lamp and watched the beam sweep across the water.";

describe("subtitles and the spoken word", { timeout: 10 * 60_000 }, () => {
  let stack;
  let browser;
  let page;

  before(async () => {
    stack = await startStack();
    browser = await launchBrowser();
    page = await browser.context.newPage();
  });
  after(async () => {
    await browser?.close();
    await stack?.stop();
  });

  test("downloads SRT and WebVTT from the history page and highlights the word being spoken", async (t) => {
    await signUpInPage(page, stack.url, "Sub");
    const voice = await cloneVoice(page, stack.url, "Subtitle voice");
    const genRes = await page.request.post(`${stack.url}/api/generations`, {
      headers: { origin: stack.url },
      data: { voice_id: voice.id, text: TEXT, language: "en" },
    });
    assert.equal(genRes.status(), 202, await genRes.text());
    const { generation_id: id, task_id: taskId } = await genRes.json();
    let generation;
    for (let i = 0; i < 240; i++) {
      generation = (await (await page.request.get(`${stack.url}/api/generations/${id}`)).json()).generation;
      if (generation.status === "succeeded" && generation.subtitles_url) break;
      if (generation.status === "failed" || generation.status === "cancelled") break;
      await page.waitForTimeout(250);
    }
    assert.equal(generation.status, "succeeded", JSON.stringify(generation.error));
    assert.equal(generation.subtitles_url, `/api/generations/${id}/subtitles.srt`);

    await page.goto(`${stack.url}/history`);
    const item = page.locator(`[data-generation-id="${id}"]`);
    await item.waitFor();

    // The download links, before playing.
    const [download] = await Promise.all([page.waitForEvent("download"), item.getByTestId("download-srt").click()]);
    assert.equal(download.suggestedFilename(), `utter-${id}.srt`);
    const srt = readFileSync(await download.path(), "utf8");
    const cues = srt.trimEnd().split("\r\n\r\n");
    assert.ok(cues.length >= 3, `${cues.length} cues`);
    cues.forEach((cue, i) => {
      const [n, timing, ...lines] = cue.split("\r\n");
      assert.equal(n, String(i + 1));
      assert.match(timing, /^\d\d:\d\d:\d\d,\d{3} --> \d\d:\d\d:\d\d,\d{3}$/);
      assert.ok(lines.length >= 1 && lines.length <= 2 && lines.every((l) => l.length > 0 && l.length <= 42), cue);
    });
    assert.equal(cues[0].split("\r\n").slice(2).join(" "), "The lighthouse keeper climbed the stairs at dusk.");
    const vtt = await page.request.get(`${stack.url}${generation.subtitles_url.replace(/\.srt$/, ".vtt")}`);
    assert.equal(vtt.status(), 200);
    assert.match(vtt.headers()["content-type"], /^text\/vtt/);
    assert.ok((await vtt.text()).startsWith("WEBVTT\n\n00:00:00."));

    // Playing: the highlighted word follows the audio.
    const alignment = await (await page.request.get(`${stack.url}/api/tasks/${taskId}/artifacts/alignment`)).json();
    await item.getByRole("button", { name: "Play" }).click();
    const player = item.locator(".player");
    await player.and(page.locator("[data-playing=true]")).waitFor({ timeout: 30_000 });
    const mark = item.getByTestId("spoken-word");
    await mark.waitFor({ timeout: 30_000 });
    const seen = new Set();
    for (let i = 0; i < 40 && seen.size < 3; i++) {
      const sample = await item.evaluate((el) => {
        const m = el.querySelector("[data-testid=spoken-word]");
        return {
          index: m ? Number(m.getAttribute("data-index")) : -1,
          text: m?.textContent ?? "",
          time: Number(el.querySelector(".player")?.getAttribute("data-time")),
        };
      });
      if (sample.index >= 0) {
        const word = alignment.words[sample.index];
        assert.equal(sample.text, word.text);
        // The word shown is the one at the player's time (the time attribute lags a frame or two).
        assert.ok(sample.time >= word.start - 0.3 && sample.time <= word.end + 0.3, `${JSON.stringify(sample)} vs ${JSON.stringify(word)}`);
        seen.add(sample.index);
      }
      await page.waitForTimeout(150);
    }
    t.diagnostic(`highlighted words seen: ${[...seen].join(", ")} of ${alignment.words.length}`);
    assert.ok(seen.size >= 3, "the highlight moved from word to word");
    const rendered = await item.getByTestId("spoken-words").locator("mark, span").count();
    assert.ok(rendered <= 25, `${rendered} words in the DOM: a window, not the whole text`);
  });
});
