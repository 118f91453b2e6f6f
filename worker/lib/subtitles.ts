/**
 * Subtitles from an alignment (ADR 0021): words grouped into cues a viewer can
 * read — at most two lines of about 42 characters, at most ~7 s on screen, a
 * new cue after every sentence end and at long silences — written as SubRip
 * (SRT) or WebVTT. Pure functions: the route reads the artifact, this formats.
 */
import type { AlignedWord } from "../engine/alignment";

export const CUE_LIMITS = {
  lineChars: 42,
  lines: 2,
  maxSeconds: 7,
  /** A silence this long between words starts a new cue even mid-sentence. */
  gapSeconds: 1.2,
  /** Shortest time a cue stays up (extended into the following silence when there is room). */
  minSeconds: 0.8,
} as const;

export interface Cue {
  start: number;
  end: number;
  lines: string[];
}

const SENTENCE_END = /[.!?…。！？]["'”’»)\]]*$/u;

/** Words of one cue on at most `lines` lines of `lineChars`, the break placed so the lines are about even. */
function wrap(words: string[], lineChars: number): string[] {
  const one = words.join(" ");
  if (one.length <= lineChars || words.length < 2) return [one];
  let best = 1;
  let bestScore = Infinity;
  for (let k = 1; k < words.length; k++) {
    const a = words.slice(0, k).join(" ").length;
    const b = words.slice(k).join(" ").length;
    const score = Math.max(a, b) + (a > lineChars || b > lineChars ? 1000 : 0);
    if (score < bestScore) {
      bestScore = score;
      best = k;
    }
  }
  return [words.slice(0, best).join(" "), words.slice(best).join(" ")];
}

/** Groups words into cues; `duration` bounds the last cue. */
export function buildCues(words: readonly Pick<AlignedWord, "text" | "start" | "end">[], duration: number, limits = CUE_LIMITS): Cue[] {
  const maxChars = limits.lineChars * limits.lines;
  const groups: (typeof words)[number][][] = [];
  let current: (typeof words)[number][] = [];
  let chars = 0;
  for (const w of words) {
    const text = w.text.trim();
    if (!text) continue;
    const prev = current[current.length - 1];
    const tooLong = chars + (current.length ? 1 : 0) + text.length > maxChars;
    const tooSlow = current.length > 0 && w.end - current[0]!.start > limits.maxSeconds;
    const gap = prev !== undefined && w.start - prev.end > limits.gapSeconds;
    if (current.length && (tooLong || tooSlow || gap)) {
      groups.push(current);
      current = [];
      chars = 0;
    }
    current.push({ ...w, text });
    chars += (current.length > 1 ? 1 : 0) + text.length;
    if (SENTENCE_END.test(text)) {
      groups.push(current);
      current = [];
      chars = 0;
    }
  }
  if (current.length) groups.push(current);
  const cues: Cue[] = groups.map((g) => ({
    start: g[0]!.start,
    end: Math.max(g[g.length - 1]!.end, g[0]!.start),
    lines: wrap(
      g.map((w) => w.text),
      limits.lineChars,
    ),
  }));
  // A very short cue stays up a little longer, never into the next one or past the audio.
  for (let i = 0; i < cues.length; i++) {
    const c = cues[i]!;
    const next = cues[i + 1];
    // Recognised words may overlap; cues never do.
    if (next && c.end > next.start) c.end = next.start;
    const limit = Math.min(next?.start ?? duration, duration);
    if (c.end - c.start < limits.minSeconds) c.end = Math.max(c.end, Math.min(c.start + limits.minSeconds, limit));
    if (c.end <= c.start) c.end = Math.min(c.start + 0.001, Math.max(limit, c.start + 0.001));
  }
  return cues;
}

function clock(seconds: number, separator: "," | "."): string {
  const ms = Math.max(0, Math.round(seconds * 1000));
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = Math.floor((ms % 60_000) / 1000);
  const pad = (n: number, w = 2) => String(n).padStart(w, "0");
  return `${pad(h)}:${pad(m)}:${pad(s)}${separator}${pad(ms % 1000, 3)}`;
}

/** A cue line may not be empty, and SRT/VTT read `-->` as a timing line: keep it out of the text. */
function safeLine(line: string): string {
  return line.replace(/-->/g, "→").replace(/\r?\n/g, " ");
}

export function toSrt(cues: readonly Cue[]): string {
  return cues
    .map((c, i) => `${i + 1}\r\n${clock(c.start, ",")} --> ${clock(c.end, ",")}\r\n${c.lines.map(safeLine).join("\r\n")}\r\n`)
    .join("\r\n");
}

/** WebVTT's cue text is HTML-like: `&` and `<` must be escaped. */
function vttText(line: string): string {
  return safeLine(line).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

export function toVtt(cues: readonly Cue[]): string {
  const body = cues.map((c) => `${clock(c.start, ".")} --> ${clock(c.end, ".")}\n${c.lines.map(vttText).join("\n")}\n`).join("\n");
  return `WEBVTT\n\n${body}`;
}
