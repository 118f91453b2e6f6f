import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { FIRST_SEGMENT_MAX_CHARS, segmentText, splitSentences } from "../segmentation.ts";

const squash = (s: string) => s.replace(/\s+/g, "");

/** Sentences of varied length, like prose. */
function prose(chars: number): string {
  const sentences = [
    "The morning was quiet.",
    "She walked down to the harbour, where the boats were still asleep and the gulls had not yet started their arguments.",
    "Why not?",
    "Nobody answered, so she kept walking past the fish market, the closed cafés and the long row of painted doors!",
    "It was, she thought, the best hour of the day…",
  ];
  let text = "";
  for (let i = 0; text.length < chars; i++) text += `${sentences[i % sentences.length]} `;
  return text.slice(0, chars);
}

describe("splitSentences", () => {
  it("splits after . ! ? … and keeps the pieces whole", () => {
    const text = "One. Two! Three? Four… Five";
    assert.deepEqual(splitSentences(text), ["One. ", "Two! ", "Three? ", "Four… ", "Five"]);
  });

  it("does not split numbers, abbreviation-like dots inside words or URLs", () => {
    assert.deepEqual(splitSentences("Pi is 3.14 and see example.com today. Next"), ["Pi is 3.14 and see example.com today. ", "Next"]);
  });

  it("keeps closing quotes and brackets with their sentence", () => {
    assert.deepEqual(splitSentences('He said "stop." Then (quietly.) left'), ['He said "stop." ', "Then (quietly.) ", "left"]);
  });

  it("splits CJK text at 。！？ without spaces", () => {
    assert.deepEqual(splitSentences("今日は晴れです。散歩しましょう！どこへ？"), ["今日は晴れです。", "散歩しましょう！", "どこへ？"]);
  });

  it("treats a blank line as a boundary", () => {
    assert.deepEqual(splitSentences("Title\n\nBody text"), ["Title\n\n", "Body text"]);
  });
});

describe("segmentText", () => {
  it("keeps a short text in one segment", () => {
    assert.deepEqual(segmentText("Hello there. How are you?"), ["Hello there. How are you?"]);
  });

  it("yields nothing for whitespace-only text", () => {
    assert.deepEqual(segmentText("   \n\t "), []);
  });

  it("splits 5,000 characters into at least 10 segments that keep every character: a short first, then 150–400", () => {
    const text = prose(5000);
    const segments = segmentText(text);
    assert.ok(segments.length >= 10, `${segments.length} segments`);
    assert.ok(segments[0]!.length > 0 && segments[0]!.length <= FIRST_SEGMENT_MAX_CHARS, `first segment of ${segments[0]!.length}`);
    for (const s of segments.slice(1)) assert.ok(s.length >= 150 && s.length <= 400, `segment of ${s.length}: ${s.slice(0, 40)}`);
    assert.equal(squash(segments.join("")), squash(text));
  });

  it("ends every segment but the last at a sentence boundary", () => {
    const segments = segmentText(prose(3000));
    for (const s of segments.slice(0, -1)) assert.match(s, /[.!?…]$/u);
  });

  it("groups CJK sentences and ends segments at 。！？", () => {
    const text = "今日はとても良い天気なので、公園へ散歩に行きました。".repeat(40);
    const segments = segmentText(text);
    assert.ok(segments.length >= 3);
    for (const s of segments) {
      assert.ok(s.length <= 400);
      assert.match(s, /。$/u);
    }
    assert.equal(segments.join(""), text);
  });

  it("splits a long sentence without full stops at commas", () => {
    const clause = "and then the wind came over the hill and through the trees";
    const text = `${Array.from({ length: 12 }, () => clause).join(", ")}.`;
    const segments = segmentText(text);
    assert.ok(segments.length >= 2);
    for (const s of segments) assert.ok(s.length <= 400, `${s.length}`);
    for (const s of segments.slice(0, -1)) assert.match(s, /,$/);
    assert.equal(squash(segments.join("")), squash(text));
  });

  it("splits a long run without punctuation at spaces, and a run without spaces anywhere", () => {
    const words = Array.from({ length: 200 }, (_, i) => `word${i}`).join(" ");
    const bySpace = segmentText(words);
    assert.ok(bySpace.length >= 3);
    for (const s of bySpace) {
      assert.ok(s.length <= 400);
      assert.match(s, /^word\d+( word\d+)*$/); // no word was cut
    }
    const solid = "字".repeat(1000);
    const bySize = segmentText(solid);
    assert.deepEqual(
      bySize.map((s) => s.length),
      [120, 400, 400, 80],
    );
  });

  it("keeps the first segment within 120 characters, as the Modal engine does, so short texts play early", () => {
    const text = "Good morning and welcome. " + "This is a longer sentence that carries on for quite a while, so that it fills space. ".repeat(6);
    const segments = segmentText(text);
    // Two sentences (111 characters) fit the first part; a third would not.
    assert.equal(segments[0], "Good morning and welcome. This is a longer sentence that carries on for quite a while, so that it fills space.");
    assert.ok(segments[1]!.length > FIRST_SEGMENT_MAX_CHARS);
    // A first sentence longer than 120 is cut at a clause, then the rest continues in full-size segments.
    const long = segmentText("When the long first sentence goes on, and on, past every comma, and further still, well beyond the limit of the first part, it is cut. Next.");
    assert.ok(long[0]!.length <= FIRST_SEGMENT_MAX_CHARS && long[0]!.endsWith(","), long[0]);
    assert.equal(long.length, 2);
  });

  it("does not leave a tiny last segment when a sentence can move", () => {
    const text = `${"This sentence is forty-nine characters long, ok. ".repeat(8)}Thanks.`;
    const segments = segmentText(text);
    assert.ok(segments.at(-1)!.length >= 150, `last segment: ${segments.at(-1)!.length}`);
    for (const s of segments) assert.ok(s.length <= 400);
  });
});
