/**
 * Which words a player renders around the current time (ADR 0021). Free of zod and of Worker
 * code, so the browser bundle can import it.
 */

/**
 * The words around `t` seconds, for a player that highlights the spoken word without rendering an
 * hour of text: binary search for the word at (or last before) `t`, then `before`/`after` words on
 * each side. `current` is -1 before the first word and between words it is the last one started.
 */
export function wordWindow(words: readonly { start: number; end: number }[], t: number, before = 12, after = 24) {
  let lo = 0;
  let hi = words.length - 1;
  let current = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (words[mid]!.start <= t) {
      current = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  const from = Math.max(0, current - before);
  const to = Math.min(words.length, Math.max(current, 0) + after + 1);
  const speaking = current >= 0 && t <= words[current]!.end ? current : -1;
  return { from, to, current, speaking };
}
