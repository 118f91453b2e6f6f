/**
 * Where a page may send the browser after sign-in (or any `redirectTo`): a
 * path on this site, never another origin. Browsers are lenient in ways a
 * prefix check misses: they read `\` as `/` and drop tabs and newlines, so
 * `/\evil.test/` and `/<TAB>/evil.test/` both mean `//evil.test/`. The value
 * is therefore refused outright if it (or its percent-decoding, which some
 * clients apply once more) holds a backslash or a control character, and what
 * remains is resolved against a placeholder origin and kept only if it stays
 * there. The answer is the normalised path, query and hash.
 */
const PLACEHOLDER = "http://same-origin.invalid";
const UNSAFE = /[\\\u0000-\u001f\u007f]/;

function decodedForms(value: string): string[] {
  const forms = [value];
  let current = value;
  for (let i = 0; i < 3; i++) {
    let next: string;
    try {
      next = decodeURIComponent(current);
    } catch {
      return [...forms, "\\"]; // malformed escapes: treat as unsafe
    }
    if (next === current) break;
    forms.push(next);
    current = next;
  }
  return forms;
}

export function safeRedirect(value: unknown, fallback = "/"): string {
  if (typeof value !== "string" || value.length === 0 || value.length > 2048) return fallback;
  for (const form of decodedForms(value)) {
    if (UNSAFE.test(form) || !form.startsWith("/") || form.startsWith("//")) return fallback;
  }
  let url: URL;
  try {
    url = new URL(value, PLACEHOLDER);
  } catch {
    return fallback;
  }
  if (url.origin !== PLACEHOLDER) return fallback;
  const out = url.pathname + url.search + url.hash;
  return out.startsWith("/") && !out.startsWith("//") ? out : fallback;
}
