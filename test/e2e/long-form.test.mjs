// Long-form in the browser (issue 11 item 1, ADRs 0023 and 0028): a Pro account types more than the
// Free plan's 5,000 characters on /generate, hears it live from the engine's frames, and the final
// player takes over with the peaks artifact and the WAV streamed by the media element (Range),
// never fetched whole by script.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { prose } from "../../bench/lib/prose.mjs";
import { cloneVoice, signUpInPage } from "./support/account.mjs";
import { launchBrowser } from "./support/browser.mjs";
import { repoRoot, startStack } from "./support/stack.mjs";

const CHARS = 8_000;

/** SQL against the stack's local D1 (the repo's .wrangler state, which `wrangler dev` holds). */
function sql(command) {
  execFileSync(join(repoRoot, "node_modules/.bin/wrangler"), ["d1", "execute", "DB", "--local", "--command", command], {
    cwd: repoRoot,
    stdio: ["ignore", "ignore", "pipe"],
    env: { ...process.env, WRANGLER_SEND_METRICS: "false" },
  });
}

describe("long-form on a paid plan", { timeout: 10 * 60_000 }, () => {
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

  test(`${CHARS.toLocaleString("en-US")} characters play live, then from the final file by Range with its peaks`, async () => {
    await signUpInPage(page, stack.url, "Ada");
    const me = await (await page.request.get(`${stack.url}/api/me`)).json();
    const userId = me.user?.id ?? me.id;
    assert.ok(userId, JSON.stringify(me));
    // Pro, as after checkout, and credits for the text (1 per 100 characters).
    sql(
      `UPDATE user SET plan = 'pro' WHERE id = '${userId}'; ` +
        `INSERT INTO credit_ledger (user_id, delta, kind, idempotency_key, note) VALUES ('${userId}', 1000, 'adjustment', 'e2e-long:${userId}', 'e2e long-form');`,
    );

    const voice = await cloneVoice(page, stack.url, "Long voice");

    const audioRequests = [];
    page.on("request", (r) => {
      if (/\/api\/(generations\/[^/]+\/audio|tasks\/[^/]+\/artifacts\/peaks)/.test(r.url()))
        audioRequests.push({ url: r.url(), type: r.resourceType() });
    });
    await page.goto(`${stack.url}/generate?voice=${voice.id}`);
    let text = prose(5_000);
    while (text.length < CHARS) text += ` ${prose(Math.min(5_000, CHARS - text.length - 1))}`;
    text = text.slice(0, CHARS);
    await page.getByLabel("Text").fill(text);
    // The page counts to the plan's limit, not the Free plan's.
    await page.getByText(`${CHARS.toLocaleString("en-US")} / 50,000 characters`).waitFor();
    await page.getByTestId("generate-submit").click();
    const run = page.getByTestId("task-run");
    await run.waitFor();
    await page.waitForFunction(() => document.querySelector("[data-testid=task-run]")?.hasAttribute("data-first-audio-at"), null, {
      timeout: 60_000,
    });
    assert.equal(await run.getAttribute("data-first-audio-from"), "frame", "the first sound came from a live frame");

    await run.and(page.locator("[data-handed-over=true]")).waitFor({ timeout: 5 * 60_000 });
    const final = page.getByTestId("final-player");
    await final.waitFor();
    const duration = Number(await final.getAttribute("data-duration"));
    // Speech runs ~70 ms a character: 8,000 characters are several minutes, far past a Free text.
    assert.ok(duration > 300, `an ${CHARS}-character text lasts ${duration} s`);
    assert.ok(
      audioRequests.some((r) => r.url.includes("/artifacts/peaks")),
      "the waveform came from the peaks artifact",
    );
    assert.deepEqual(
      audioRequests.filter((r) => r.url.includes("/audio") && r.type !== "media"),
      [],
      "the final WAV is only read by the media element (Range), never fetched whole to decode",
    );
    // The generation is charged once, for its characters.
    const gen = (await (await page.request.get(`${stack.url}/api/generations?limit=1`)).json()).generations?.[0];
    assert.equal(gen?.status, "succeeded");
    assert.equal(gen?.cost, CHARS / 100);
  });
});
