/**
 * Word timings for the `alignment` artifact (ADR 0021), from eSpeak's own
 * events: each `word` event says where in the input a word starts and at
 * which millisecond of the synthesised audio; a pause (an empty phoneme) or
 * the end event closes it. The job runner then moves each sentence's words by
 * where that sentence sits in its segment, and each segment's by where the
 * stitching put it in the final file (crossfades overlap the joins), so the
 * times line up with the file the person downloads.
 */
import { Alignment } from "../../worker/engine/alignment.ts";

/** A word of one synthesis call: its text (a slice of that call's text, punctuation attached), seconds into that call's audio. */
export type SynthWord = { text: string; start: number; end: number };

/** The fields of the glue's event objects that timing needs. */
export type EspeakEvent = { type: string; text_position: number; audio_position: number; id?: unknown };

/**
 * eSpeak reads SSML, so `& < >` are escaped; it counts positions in code points of what it read.
 * `map[i]` is the UTF-16 offset in `text` of the escaped text's code point `i`.
 */
export function escapeSsmlWithMap(text: string): { escaped: string; map: number[] } {
  let escaped = "";
  const map: number[] = [];
  let offset = 0;
  for (const ch of text) {
    const out = ch === "&" ? "&amp;" : ch === "<" ? "&lt;" : ch === ">" ? "&gt;" : ch;
    escaped += out;
    for (const _ of out) map.push(offset);
    offset += ch.length;
  }
  return { escaped, map };
}

/**
 * The words of one call. A word runs from its event's position to the next word's (whitespace
 * trimmed), so punctuation stays with the word before it and nothing of the text is dropped.
 * It starts at its event's time and ends at the first pause, end or next word after it.
 */
export function espeakWords(text: string, map: readonly number[], events: readonly EspeakEvent[], durationSec: number): SynthWord[] {
  const at = (position: number) => (position - 1 < map.length ? map[Math.max(0, position - 1)]! : text.length);
  const starts: { char: number; ms: number; k: number }[] = [];
  events.forEach((e, k) => {
    if (e.type !== "word") return;
    const char = at(e.text_position);
    if (starts.length && char <= starts[starts.length - 1]!.char) return; // one word per position, in order
    starts.push({ char, ms: e.audio_position, k });
  });
  const words: SynthWord[] = [];
  for (const [i, s] of starts.entries()) {
    const from = i === 0 ? 0 : s.char;
    const to = starts[i + 1]?.char ?? text.length;
    const raw = text.slice(from, to);
    const word = raw.trim();
    if (!word) continue;
    // A pause at the word's very start (eSpeak opens "&" → "and" with one) does not end it.
    const close = events
      .slice(s.k + 1)
      .find(
        (e) =>
          ((e.type === "word" || e.type === "end") && e.audio_position >= s.ms) ||
          (e.type === "phoneme" && e.id === "" && e.audio_position > s.ms),
      );
    const start = Math.min(s.ms / 1000, durationSec);
    const end = Math.min(Math.max(start, (close?.audio_position ?? durationSec * 1000) / 1000), durationSec);
    words.push({ text: word, start, end });
  }
  return words;
}

/** Words of a later piece of audio, moved by where that piece starts (seconds). */
export function shiftWords(words: readonly SynthWord[], bySec: number): SynthWord[] {
  return words.map((w) => ({ text: w.text, start: w.start + bySec, end: w.end + bySec }));
}

/**
 * The alignment of a whole job: each segment's words (seconds into that segment) moved to where the
 * segment starts in the final file, with char offsets found in the job's text in order.
 */
export function buildAlignment(
  jobText: string,
  segmentWords: readonly SynthWord[][],
  segmentStartsSec: readonly number[],
  durationSec: number,
): Alignment {
  const round = (x: number) => Math.round(x * 1000) / 1000;
  const words: Alignment["words"] = [];
  let cursor = 0;
  let last = 0;
  for (const [i, list] of segmentWords.entries()) {
    for (const w of list) {
      if (w.text.length > 200) continue; // a run of 200 characters without a space is no word a subtitle can show
      const start = Math.max(last, Math.min(round(w.start + segmentStartsSec[i]!), durationSec));
      const end = Math.max(start, Math.min(round(w.end + segmentStartsSec[i]!), durationSec));
      last = start;
      const found = jobText.indexOf(w.text, cursor);
      if (found >= 0) {
        cursor = found + w.text.length;
        words.push({ text: w.text, start, end, char_start: found, char_end: cursor });
      } else words.push({ text: w.text, start, end });
    }
  }
  // What the Worker will check on upload, checked here first: a bug shows in the engine's log, not as a 400.
  return Alignment.parse({ version: 1, duration: round(durationSec), source: "espeak", words });
}
