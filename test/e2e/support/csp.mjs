// Content-Security-Policy violations as a page sees them: the `securitypolicyviolation`
// event from inside the page and Chromium's console messages, for the whole context.

/** Records CSP violations from the page itself (the `securitypolicyviolation` event) and from the console. */
export async function watchCsp(context) {
  const violations = [];
  await context.addInitScript(() => {
    document.addEventListener("securitypolicyviolation", (e) => {
      // @ts-ignore -- an array the test reads back
      (window.__csp ??= []).push(`${e.violatedDirective} blocked ${e.blockedURI || "inline"} (${e.sourceFile}:${e.lineNumber})`);
    });
  });
  context.on("console", (msg) => {
    if (/Content Security Policy|Refused to (load|execute|connect|apply|frame|evaluate)/i.test(msg.text()))
      violations.push(`${msg.location().url}: ${msg.text()}`);
  });
  return {
    violations,
    async collect(page) {
      const inPage = await page.evaluate(() => /** @type {any} */ (window).__csp ?? []);
      for (const v of inPage) violations.push(`${page.url()}: ${v}`);
      await page.evaluate(() => /** @type {any} */ (window.__csp = []));
    },
  };
}
