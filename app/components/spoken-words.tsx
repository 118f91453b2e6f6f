import { Fragment, useEffect, useRef, useState } from "react";
import { wordWindow } from "../../worker/lib/word-window";

interface Word {
  text: string;
  start: number;
  end: number;
}

interface Props {
  /** The task's `alignment` artifact (JSON). */
  url: string;
  /** The player's position, seconds. */
  time: number;
  /** Seconds of player time between retries while the alignment is not there yet (the GPU engine sends it after the audio). */
  retryEvery?: number;
}

/**
 * The words around the one being spoken, that one highlighted (ADR 0021). The alignment is read
 * once into memory (an hour is ~10,000 words, a few hundred kB); the DOM only ever holds a small
 * window around the current time, found by binary search, so an hour of audio costs what a
 * sentence does.
 */
export function SpokenWords({ url, time, retryEvery = 5 }: Props) {
  const [loaded, setLoaded] = useState<{ url: string; words: Word[] } | null>(null);
  const attempt = useRef<{ url: string; at: number; busy: boolean } | null>(null);
  const words = loaded?.url === url ? loaded.words : null;

  useEffect(() => {
    if (words) return;
    const last = attempt.current?.url === url ? attempt.current : null;
    if (last && (last.busy || Math.abs(time - last.at) < retryEvery)) return;
    const mine = { url, at: time, busy: true };
    attempt.current = mine;
    fetch(url, { credentials: "same-origin" })
      .then(async (res) => (res.ok ? ((await res.json()) as { words?: Word[] }) : null))
      .then((body) => {
        // Only the latest url's answer counts (a player may switch files).
        if (body?.words && attempt.current === mine) setLoaded({ url, words: body.words });
      })
      .catch(() => {})
      .finally(() => {
        mine.busy = false;
      });
  }, [url, time, words, retryEvery]);

  if (!words || words.length === 0) return null;
  const w = wordWindow(words, time, 8, 16);
  return (
    <p className="spoken-words" data-testid="spoken-words" aria-hidden="true">
      {words.slice(w.from, w.to).map((word, i) => {
        const index = w.from + i;
        return (
          <Fragment key={index}>
            {i > 0 ? " " : null}
            {index === w.speaking ? (
              <mark data-testid="spoken-word" data-index={index}>
                {word.text}
              </mark>
            ) : (
              <span className={index <= w.current ? "spoken" : undefined}>{word.text}</span>
            )}
          </Fragment>
        );
      })}
    </p>
  );
}
