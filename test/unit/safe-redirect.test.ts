import { describe, expect, it } from "vitest";
import { safeRedirect } from "../../app/lib/safe-redirect";

/** Payloads that browsers resolve to another origin (issue 15), raw and as a query string decodes them. */
export const OPEN_REDIRECT_PAYLOADS = [
  "/%5Cevil.test/",
  "/\\evil.test/",
  "/%09/evil.test/",
  "/\t/evil.test/",
  "/\n/evil.test/",
  "/\r\n/evil.test/",
  "//evil.test",
  "//evil.test/path",
  "///evil.test",
  "/%2F/evil.test",
  "/%2f%2fevil.test",
  "/%255Cevil.test/",
  "\\\\evil.test",
  "https://evil.test/",
  "http:evil.test",
  "javascript:alert(1)",
  " //evil.test",
  "evil.test",
  "/%E0%A4%A",
  "",
];

describe("safeRedirect", () => {
  it.each(OPEN_REDIRECT_PAYLOADS)("refuses %j", (payload) => {
    expect(safeRedirect(payload)).toBe("/");
  });

  it("keeps same-site paths with query and hash, normalised", () => {
    expect(safeRedirect("/voices?search=a%20b#top")).toBe("/voices?search=a%20b#top");
    expect(safeRedirect("/account")).toBe("/account");
    expect(safeRedirect("/a/../history")).toBe("/history");
  });

  it("answers the fallback for anything that is not a string", () => {
    expect(safeRedirect(null, "/x")).toBe("/x");
    expect(safeRedirect(undefined)).toBe("/");
    expect(safeRedirect("/" + "a".repeat(3000))).toBe("/");
  });
});
