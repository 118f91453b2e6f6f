import { describe, expect, it } from "vitest";
import fixture from "../fixtures/engine-protocol/v2/alignment.json";
import { Alignment } from "../../worker/engine/alignment";
import { wordWindow } from "../../worker/lib/word-window";
import { ARTIFACT_CONTENT, ARTIFACT_REGISTRY } from "../../worker/engine/artifacts";

describe("alignment content (shared fixture, ADR 0021)", () => {
  for (const c of fixture.valid) {
    it(`accepts ${c.description}`, () => {
      const r = Alignment.safeParse(c.value);
      expect(r.success, r.success ? "" : r.error.message).toBe(true);
    });
  }
  for (const c of fixture.invalid) {
    it(`refuses ${c.description} at ${c.path}`, () => {
      const r = Alignment.safeParse(c.value);
      expect(r.success).toBe(false);
      if (!r.success) expect(r.error.issues[0]!.path.join(".")).toBe(c.path);
    });
  }

  it("gives every JSON kind a limit that fits one PUT (the upload route reads such bodies whole)", () => {
    const checked = Object.entries(ARTIFACT_REGISTRY.kinds).filter(([, spec]) => "content_schema" in spec);
    expect(checked.map(([kind]) => kind)).toContain("alignment");
    for (const [kind, spec] of checked) expect(spec.max_bytes, kind).toBeLessThanOrEqual(ARTIFACT_REGISTRY.max_single_bytes);
  });

  it("is the schema the registry names for the alignment kind", () => {
    expect(ARTIFACT_REGISTRY.kinds.alignment.content_schema).toBe("alignment");
    expect(ARTIFACT_CONTENT[ARTIFACT_REGISTRY.kinds.alignment.content_schema]).toBe(Alignment);
  });
});

describe("wordWindow: the words a player renders around the current time", () => {
  const words = Array.from({ length: 10_000 }, (_, i) => ({ start: i * 0.5, end: i * 0.5 + 0.4 }));

  it("finds the spoken word by binary search and bounds the window", () => {
    const w = wordWindow(words, 1234.6, 5, 10);
    expect(w.current).toBe(2469);
    expect(w.speaking).toBe(2469);
    expect(w.from).toBe(2464);
    expect(w.to).toBe(2480);
  });

  it("says no word is spoken in a gap, before the first word, and keeps the window small at the edges", () => {
    expect(wordWindow(words, 1.45).speaking).toBe(-1);
    expect(wordWindow(words, 1.45).current).toBe(2);
    const start = wordWindow([{ start: 1, end: 2 }], 0.5);
    expect(start).toEqual({ from: 0, to: 1, current: -1, speaking: -1 });
    const end = wordWindow(words, 99_999, 3, 3);
    expect([end.from, end.to, end.current]).toEqual([9996, 10_000, 9999]);
  });
});
