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
  /** Job tokens outlive the longest job we accept. */
  jobTokenMs: 60 * 60_000,
} as const;
