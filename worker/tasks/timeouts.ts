/** Deadlines the TaskTracker enforces with alarms (DESIGN §3). */
export const TASK_TIMEOUTS = {
  /** Queue retries with backoff must fit in here before the task is failed. */
  startMs: 10 * 60_000,
  /** Engines heartbeat at least every 10 s (docs/engine-protocol.md). */
  heartbeatMs: 60_000,
  /**
   * How long a dispatch claim holds a task: longer than one submit (15 s
   * timeout) and its bookkeeping. A claimant that died, or could not release
   * the claim, frees the task for the next delivery once this has passed.
   */
  claimLeaseMs: 45_000,
  /** Job tokens outlive the longest job we accept: this, plus `jobTokenMsPerChar` for each character (`jobTokenMs()`). */
  jobTokenMs: 60 * 60_000,
  /**
   * Speech runs at about 14 characters a second (71 ms of audio each); 100 ms a character lets an
   * engine take 1.4× real time for the whole text on top of the hour: 50,000 characters (about an
   * hour of audio) get 2 h 23 min.
   */
  jobTokenMsPerChar: 100,
} as const;

/** How long a job's token (and the engine's `deadline`) lasts for a text of `chars` characters (ADR 0023). */
export function jobTokenMs(chars: number): number {
  return TASK_TIMEOUTS.jobTokenMs + Math.max(0, chars) * TASK_TIMEOUTS.jobTokenMsPerChar;
}
