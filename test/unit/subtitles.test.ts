import { describe, expect, it } from "vitest";
import { buildCues, CUE_LIMITS, toSrt, toVtt } from "../../worker/lib/subtitles";

/** n words of `text`, `step` seconds apart, each lasting 80% of it. */
function words(texts: string[], step = 0.3, from = 0) {
  return texts.map((text, i) => ({ text, start: from + i * step, end: from + i * step + step * 0.8 }));
}

describe("cues from word timings", () => {
  it("breaks at sentence ends", () => {
    const cues = buildCues(words(["One", "two.", "Three", "four!", "Five?"]), 10);
    expect(cues.map((c) => c.lines.join(" "))).toEqual(["One two.", "Three four!", "Five?"]);
  });

  it("keeps a cue within two lines of 42 characters, the lines about even", () => {
    const many = words(
      Array.from({ length: 60 }, (_, i) => `word${i % 10}x`),
      0.1,
    );
    const cues = buildCues(many, 100);
    expect(cues.length).toBe(5); // 12 words of 6 characters fill two lines of 42
    for (const c of cues) {
      expect(c.lines.length).toBeLessThanOrEqual(CUE_LIMITS.lines);
      for (const line of c.lines) expect(line.length).toBeLessThanOrEqual(CUE_LIMITS.lineChars);
      if (c.lines.length === 2) expect(Math.abs(c.lines[0]!.length - c.lines[1]!.length)).toBeLessThanOrEqual(7);
    }
    expect(cues.flatMap((c) => c.lines.join(" ").split(" "))).toEqual(many.map((w) => w.text));
  });

  it("never keeps a cue up longer than 7 s, and starts a new one after a long silence", () => {
    const slow = words(["a", "b", "c", "d", "e", "f", "g", "h"], 1.5);
    for (const c of buildCues(slow, 100)) expect(c.end - c.start).toBeLessThanOrEqual(CUE_LIMITS.maxSeconds);
    const gap = [...words(["before", "the"], 0.3), ...words(["gap", "here"], 0.3, 5)];
    expect(buildCues(gap, 10).map((c) => c.lines.join(" "))).toEqual(["before the", "gap here"]);
  });

  it("stretches a very short cue into the silence after it, never past the next cue or the audio", () => {
    const cues = buildCues(
      [
        { text: "Hi.", start: 0, end: 0.2 },
        { text: "Yes.", start: 0.5, end: 0.6 },
      ],
      0.7,
    );
    expect(cues[0]).toMatchObject({ start: 0, end: 0.5 });
    expect(cues[1]).toMatchObject({ start: 0.5, end: 0.7 });
  });
});

describe("SRT and WebVTT", () => {
  const cues = [
    { start: 0, end: 1.5, lines: ["Fish & <chips>"] },
    { start: 3661.2, end: 3662.004, lines: ["a --> b", "second line"] },
  ];
  it("writes SubRip with numbered cues, comma milliseconds and CRLF", () => {
    expect(toSrt(cues)).toBe(
      "1\r\n00:00:00,000 --> 00:00:01,500\r\nFish & <chips>\r\n\r\n2\r\n01:01:01,200 --> 01:01:02,004\r\na → b\r\nsecond line\r\n",
    );
  });
  it("writes WebVTT with its header, dot milliseconds and escaped text", () => {
    expect(toVtt(cues)).toBe(
      "WEBVTT\n\n00:00:00.000 --> 00:00:01.500\nFish &amp; &lt;chips&gt;\n\n01:01:01.200 --> 01:01:02.004\na → b\nsecond line\n",
    );
  });
});
