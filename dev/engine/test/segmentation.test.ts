import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { segmentText, splitSentences } from "../segmentation.ts";

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

  it("splits 5,000 characters into at least 10 segments of 150–400 characters that keep every character", () => {
    const text = prose(5000);
    const segments = segmentText(text);
    assert.ok(segments.length >= 10, `${segments.length} segments`);
    for (const s of segments) assert.ok(s.length >= 150 && s.length <= 400, `segment of ${s.length}: ${s.slice(0, 40)}`);
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
      [400, 400, 200],
    );
  });

  it("does not leave a tiny last segment when a sentence can move", () => {
    const text = `${"This sentence is forty-nine characters long, ok. ".repeat(8)}Thanks.`;
    const segments = segmentText(text);
    assert.ok(segments.at(-1)!.length >= 150, `last segment: ${segments.at(-1)!.length}`);
    for (const s of segments) assert.ok(s.length <= 400);
  });
});
