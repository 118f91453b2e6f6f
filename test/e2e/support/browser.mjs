// Debian's Chromium driven by playwright-core (never a downloaded browser),
// with a fake microphone that plays a WAV file the test wrote.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
/** Headless, offline, and audio that plays without a click (the benches use the same). */
export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--autoplay-policy=no-user-gesture-required",
];

/**
 * @param {{ fakeMicWav?: string, viewport?: {width:number,height:number}, javaScriptEnabled?: boolean }} [opts]
 */
export async function launchBrowser(opts = {}) {
  const dir = mkdtempSync(join(tmpdir(), "utter-e2e-profile-"));
  const args = [
    ...CHROMIUM_ARGS,
    // Phones have overlay scrollbars; without this the 390 px screenshots lose 15 px to a classic one.
    "--hide-scrollbars",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
  ];
  if (opts.fakeMicWav) args.push(`--use-file-for-fake-audio-capture=${opts.fakeMicWav}`);
  const context = await chromium.launchPersistentContext(dir, {
    executablePath: CHROMIUM,
    headless: false, // "--headless" is in args: the flags above are exactly the ones Chromium gets
    args,
    viewport: opts.viewport ?? { width: 1280, height: 800 },
    acceptDownloads: true,
    javaScriptEnabled: opts.javaScriptEnabled ?? true,
    permissions: ["microphone"],
  });
  return {
    context,
    async close() {
      await context.close().catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
