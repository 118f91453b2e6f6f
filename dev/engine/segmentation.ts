/**
 * Long text is spoken in segments (DESIGN §4 "Long text"): each is generated,
 * uploaded and announced on its own so the browser can start playing the first
 * while the rest are made. Segments end at sentence boundaries and group short
 * sentences, so each is roughly 150–400 characters. The first is at most
 * `firstMaxChars` (120, as the Modal engine's first segment), so the first
 * audio arrives sooner.
 */
export type SegmentOptions = {
  minChars: number;
  maxChars: number;
  /** Limit for the first segment; defaults to the smaller of 120 and `maxChars`. */
  firstMaxChars?: number;
};
export const FIRST_SEGMENT_MAX_CHARS = 120;
export const DEFAULT_SEGMENT_OPTIONS: SegmentOptions = { minChars: 150, maxChars: 400, firstMaxChars: FIRST_SEGMENT_MAX_CHARS };

/**
 * A sentence ends at ., !, ?, … (followed by whitespace or the end, so "3.14"
 * and "example.com" stay whole; closing quotes and brackets stay with it), at
 * CJK 。！？ (no space follows those), or at a blank line.
 */
const SENTENCE_END = /[.!?…]+["'”’»)\]]*(?=\s|$)|[。！？]+["'”’」』）)\]]*|\n[^\S\n]*\n/gu;
const CLAUSE_END = /[,;:，、；：]+/gu;

/** Splits after each match of `boundary` (plus the whitespace after it); the pieces concatenate back to `text`. */
function splitAfter(text: string, boundary: RegExp): string[] {
  const pieces: string[] = [];
  let start = 0;
  for (const match of text.matchAll(boundary)) {
    let end = match.index + match[0].length;
    while (end < text.length && /\s/u.test(text[end]!)) end++;
    if (end > start) {
      pieces.push(text.slice(start, end));
      start = end;
    }
  }
  if (start < text.length) pieces.push(text.slice(start));
  return pieces;
}

export function splitSentences(text: string): string[] {
  return splitAfter(text, SENTENCE_END);
}

/** Cuts by code point (never inside a surrogate pair) when there is no better place. */
function hardSplit(text: string, maxChars: number): string[] {
  const chars = Array.from(text);
  const pieces: string[] = [];
  for (let i = 0; i < chars.length; i += maxChars) pieces.push(chars.slice(i, i + maxChars).join(""));
  return pieces;
}

/** Joins neighbouring pieces while the result stays within `maxChars`. */
function pack(pieces: string[], maxChars: number): string[] {
  const out: string[] = [];
  let current = "";
  for (const piece of pieces) {
    if (current && current.length + piece.length > maxChars) {
      out.push(current);
      current = "";
    }
    current += piece;
  }
  if (current) out.push(current);
  return out;
}

/** A sentence longer than a segment is cut at clause punctuation, then at spaces, then anywhere. */
function splitLongSentence(sentence: string, maxChars: number): string[] {
  if (sentence.length <= maxChars) return [sentence];
  const clauses = splitAfter(sentence, CLAUSE_END).flatMap((clause) => {
    if (clause.length <= maxChars) return [clause];
    const words = splitAfter(clause, /\s+/gu).flatMap((word) => (word.length <= maxChars ? [word] : hardSplit(word, maxChars)));
    return pack(words, maxChars);
  });
  return pack(clauses, maxChars);
}

/**
 * Splits `text` into segments to synthesise one by one. Segments are trimmed
 * and never empty; a text with nothing but whitespace yields none.
 */
export function segmentText(text: string, options: SegmentOptions = DEFAULT_SEGMENT_OPTIONS): string[] {
  const { maxChars } = options;
  const firstMax = Math.min(options.firstMaxChars ?? FIRST_SEGMENT_MAX_CHARS, maxChars);
  const [firstSentence, ...others] = splitSentences(text);
  // The first sentence, if longer than the first segment may be, is cut at clauses/spaces; its rest follows.
  const [head = "", ...restOfFirst] = firstSentence === undefined ? [] : splitLongSentence(firstSentence, firstMax);
  const rest = restOfFirst.join("");
  const sentences = [head, ...(rest ? [rest] : []), ...others].filter((s) => s.length > 0).flatMap((s) => splitLongSentence(s, maxChars));
  const groups: string[][] = [];
  let current: string[] = [];
  let length = 0;
  for (const sentence of sentences) {
    const limit = groups.length === 0 ? firstMax : maxChars;
    if (current.length > 0 && length + sentence.length > limit) {
      groups.push(current);
      current = [];
      length = 0;
    }
    current.push(sentence);
    length += sentence.length;
  }
  if (current.length > 0) groups.push(current);
  rebalanceTail(groups, options);
  return groups.map((g) => g.join("").trim()).filter((s) => s.length > 0);
}

/**
 * Greedy grouping can leave a short last segment ("Thanks." after 390
 * characters). Moving whole sentences back from the previous group keeps both
 * within bounds: the previous one only gives while it keeps at least `minChars`
 * and the last stays within `maxChars`.
 */
function rebalanceTail(groups: string[][], { minChars, maxChars }: SegmentOptions): void {
  const last = groups.at(-1);
  const prev = groups.at(-2);
  if (!last || !prev) return;
  const size = (g: string[]) => g.reduce((n, s) => n + s.length, 0);
  while (size(last) < minChars && prev.length > 1) {
    const moved = prev.at(-1)!;
    if (size(prev) - moved.length < minChars || size(last) + moved.length > maxChars) break;
    prev.pop();
    last.unshift(moved);
  }
}
