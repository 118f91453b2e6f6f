// Security in a real browser (issue 15): every page passes its
// Content-Security-Policy with no violation, including the pages that record,
// play waveforms and hold a task socket; no page can be framed; and sign-in
// redirect payloads that browsers resolve to another origin stay on the site,
// with JavaScript on and off.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { launchBrowser } from "./support/browser.mjs";
import { watchCsp } from "./support/csp.mjs";
import { repoRoot, startStack } from "./support/stack.mjs";

const PASSWORD = "correct horse battery";
/** The consent statement's version (worker/services/voice-consent.ts). */
const CONSENT = "voice-consent-2026-12";

describe("security in the browser", { timeout: 10 * 60_000 }, () => {
  let stack;
  let browser;
  let csp;
  const email = `sec-${Date.now()}@example.com`;
  let voiceId;

  before(async () => {
    stack = await startStack();
    browser = await launchBrowser();
    csp = await watchCsp(browser.context);
  });

  after(async () => {
    await browser?.close();
    await stack?.stop();
  });

  test("every page passes its CSP with no violation, and carries frame-ancestors 'none'", async (t) => {
    const page = await browser.context.newPage();
    const visit = async (path, ready) => {
      const res = await page.goto(`${stack.url}${path}`, { waitUntil: "networkidle" });
      const policy = res?.headers()["content-security-policy"] ?? "";
      assert.match(policy, /frame-ancestors 'none'/, `${path} has a CSP with frame-ancestors 'none'`);
      assert.match(policy, /script-src 'self' 'nonce-/, `${path} allows only our scripts`);
      if (ready) {
        try {
          await ready();
        } catch (err) {
          await csp.collect(page);
          const state = await page.locator(".player").first().getAttribute("data-state").catch(() => "absent");
          throw new Error(`${path}: not ready (player ${state}); CSP violations so far: ${JSON.stringify(csp.violations)}; ${err.message}`);
        }
      }
      // Hydrated: Remix's client took over (its scripts ran under the nonce).
      await page.waitForFunction(() => /** @type {any} */ (window).__remixRouter !== undefined, null, { timeout: 15_000 });
      await csp.collect(page);
    };
    for (const path of ["/", "/sign-in", "/sign-up", "/forgot-password", "/reset-password?token=abc", "/pricing"]) await visit(path);
    // The API reference runs a third-party renderer (docs/api.md): it too stays inside the policy.
    await visit("/docs/api", () => page.locator("[data-testid=api-reference][data-state=ready]").waitFor({ timeout: 30_000 }));

    await page.goto(`${stack.url}/sign-up`);
    await page.getByLabel("Name").fill("Sec");
    await page.getByLabel("Email").fill(email);
    await page.getByLabel("Password").fill(PASSWORD);
    await Promise.all([page.waitForURL(`${stack.url}/`), page.getByRole("button", { name: "Create account" }).click()]);

    // A voice (with consent) and a running generation, so the pages show players and the task dock opens its socket.
    const wav = readFileSync(join(repoRoot, "test/fixtures/audio/speech-12s.wav"));
    const made = await page.request.post(`${stack.url}/api/voices`, {
      headers: { origin: stack.url },
      multipart: { name: "Sec voice", language: "en", consent: CONSENT, audio: { name: "speech.wav", mimeType: "audio/wav", buffer: wav } },
    });
    assert.equal(made.status(), 201, await made.text());
    voiceId = (await made.json()).voice.id;
    const gen = await page.request.post(`${stack.url}/api/generations`, {
      headers: { origin: stack.url },
      data: { voice_id: voiceId, text: "A few sentences to read. Then a few more to keep the job running for a while.", language: "en" },
    });
    assert.equal(gen.status(), 202, await gen.text());

    const playerReady = () => page.locator(".player[data-state=ready]").first().waitFor({ timeout: 60_000 });
    for (const [path, ready] of [
      ["/generate", undefined],
      ["/clone", undefined],
      ["/design", undefined],
      ["/voices", undefined],
      [`/voices/${voiceId}`, playerReady],
      ["/history", undefined],
      ["/account", undefined],
      ["/account/keys", undefined],
      ["/pricing", undefined],
    ]) {
      await visit(path, ready);
    }
    // The recorder asks for the microphone and draws its level meter.
    await page.goto(`${stack.url}/clone`, { waitUntil: "networkidle" });
    const record = page.getByRole("radio", { name: /Record/ });
    if (await record.count()) await record.check();
    await csp.collect(page);
    t.diagnostic(`pages visited with 0 CSP violations expected; seen: ${csp.violations.length}`);
    assert.deepEqual(csp.violations, [], "no page broke its Content-Security-Policy");
    // Control: the watcher does see a violation, and the policy stops an injected inline script.
    await page.evaluate(() => {
      const s = document.createElement("script");
      s.textContent = "window.__injected = true";
      document.body.append(s);
    });
    await page.waitForFunction(() => (/** @type {any} */ (window).__csp ?? []).length > 0, null, { timeout: 10_000 });
    assert.equal(await page.evaluate(() => /** @type {any} */ (window).__injected), undefined, "an injected inline script did not run");
    await page.close();
  });

  test("no page can be framed, not even by our own origin", async () => {
    const page = await browser.context.newPage();
    await page.goto(`${stack.url}/pricing`, { waitUntil: "networkidle" });
    const framed = await page.evaluate(async (url) => {
      const iframe = document.createElement("iframe");
      iframe.src = url;
      document.body.append(iframe);
      await new Promise((r) => {
        iframe.onload = r;
        setTimeout(r, 5000);
      });
      try {
        return iframe.contentDocument?.body?.innerText ?? "";
      } catch {
        return "";
      }
    }, `${stack.url}/account`);
    assert.doesNotMatch(framed, /Your account|API keys|Sign out/, "the account page did not render inside a frame");
    await page.close();
  });

  for (const javaScriptEnabled of [true, false]) {
    test(`sign-in redirect payloads stay on the site (JavaScript ${javaScriptEnabled ? "on" : "off"})`, async () => {
      const b = await launchBrowser({ javaScriptEnabled });
      try {
        let offsite = 0;
        await b.context.route((url) => url.hostname.endsWith("evil.test"), (route) => {
          offsite++;
          return route.abort();
        });
        const page = await b.context.newPage();
        for (const payload of ["/%5Cevil.test/", "/%09/evil.test/", "//evil.test/", "/\\evil.test/"]) {
          await b.context.clearCookies();
          await page.goto(`${stack.url}/sign-in?redirectTo=${encodeURIComponent(payload)}`);
          await page.getByLabel("Email").fill(email);
          await page.getByLabel("Password").fill(PASSWORD);
          await Promise.all([page.waitForURL((u) => !u.pathname.startsWith("/sign-in"), { timeout: 15_000 }), page.getByRole("button", { name: "Sign in" }).click()]);
          const landed = new URL(page.url());
          assert.equal(landed.origin, new URL(stack.url).origin, `${payload}: stayed on the site`);
          assert.equal(landed.pathname, "/", `${payload}: landed on the home page`);
        }
        assert.equal(offsite, 0, "the browser never asked evil.test for anything");
      } finally {
        await b.close();
      }
    });
  }
});
