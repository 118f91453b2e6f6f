import type { Clock } from "../../clock.ts";

/**
 * A clock for tests in which time passes only when the code under test waits:
 * `sleep(ms)` moves the clock to its wake-up time (never backwards) and
 * resolves on the next turn of the event loop, firing any `every` timer that
 * fell due on the way. Jobs with heartbeats, segment delays, retries and
 * real-time pacing run in milliseconds of real time, and what they did "when"
 * is exact. Starts at a fixed instant, not today.
 */
export type VirtualClock = Clock & {
  /** Moves time forward by hand (fires due timers). */
  advance(ms: number): void;
  /** Every sleep asked for, in order (ms). */
  readonly sleeps: number[];
  /** `every` timers not yet stopped. */
  activeTimers(): number;
};

export const VIRTUAL_EPOCH = Date.parse("2026-01-01T00:00:00.000Z");

export function virtualClock(start = VIRTUAL_EPOCH): VirtualClock {
  let now = start;
  const sleeps: number[] = [];
  const timers = new Set<{ next: number; ms: number; fn: () => void }>();
  const moveTo = (t: number) => {
    if (t <= now) return;
    // Fire interval timers in time order up to t.
    for (;;) {
      let due: { next: number; ms: number; fn: () => void } | undefined;
      for (const timer of timers) if (timer.next <= t && (!due || timer.next < due.next)) due = timer;
      if (!due) break;
      now = due.next;
      due.next += due.ms;
      due.fn();
    }
    now = t;
  };
  return {
    now: () => now,
    sleeps,
    activeTimers: () => timers.size,
    advance: (ms) => moveTo(now + ms),
    sleep(ms, signal) {
      sleeps.push(ms);
      if (signal?.aborted || ms <= 0) return Promise.resolve();
      moveTo(now + ms);
      return new Promise((resolve) => setImmediate(resolve));
    },
    every(ms, fn) {
      const timer = { next: now + ms, ms, fn };
      timers.add(timer);
      return () => timers.delete(timer);
    },
  };
}
