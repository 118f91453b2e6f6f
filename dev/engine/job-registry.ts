import { randomUUID } from "node:crypto";
import { SHUTDOWN_REASON, type JobOutcome } from "./job-runner.ts";
import type { Logger } from "./log.ts";
import { submitIdempotencyKey } from "../../worker/engine/protocol.ts";
import type { JobSubmit as SubmitRequest } from "./v2-wire.ts";

/**
 * The jobs this process is running, by call id. Jobs run in the background;
 * the HTTP layer only submits and cancels.
 */
export type JobRegistry = {
  /**
   * Starts the job and returns its call id. A job id (with its resume attempt) seen before (running or
   * finished, among the last FINISHED_REMEMBERED) returns that run's call id
   * and starts nothing: the Worker repeats a submit whose reply it lost.
   */
  submit(job: SubmitRequest): string;
  /** True when a running job was told to stop; false for unknown or finished ones. */
  cancel(callId: string): boolean;
  activeCount(): number;
  /** Resolves when every job has finished (tests, shutdown). */
  idle(): Promise<void>;
  /** Stops every job; they report `failed {engine_unavailable}` so the Worker need not wait for a timeout. */
  shutdown(): Promise<void>;
};

type Running = { jobId: string; controller: AbortController; done: Promise<JobOutcome> };

/** How many finished job ids keep their call id, so a late repeated submit still starts nothing. */
export const FINISHED_REMEMBERED = 10_000;

export function createJobRegistry(deps: {
  run(job: SubmitRequest, control: AbortController): Promise<JobOutcome>;
  log: Logger;
}): JobRegistry {
  const running = new Map<string, Running>();
  /** Job id → call id, for running jobs and the most recently finished ones (insertion order = age). */
  const byJobId = new Map<string, string>();
  const remember = (jobId: string, callId: string) => {
    byJobId.delete(jobId);
    byJobId.set(jobId, callId);
    if (byJobId.size <= FINISHED_REMEMBERED + running.size) return;
    for (const [id, call] of byJobId) {
      if (running.has(call)) continue; // a running job always keeps its id
      byJobId.delete(id);
      if (byJobId.size <= FINISHED_REMEMBERED + running.size) break;
    }
  };

  return {
    submit(job) {
      // Queue delivery is at-least-once (DESIGN §3): a duplicate submit must not start a second run.
      // Keyed as the Worker keys its submits: a resumed attempt (ADR 0023) is a new run of the same job.
      const key = submitIdempotencyKey(job);
      const existing = byJobId.get(key);
      if (existing) {
        deps.log.warn("duplicate_submit", { job_id: job.job_id, call_id: existing });
        return existing;
      }
      const callId = `dev_${randomUUID()}`;
      const controller = new AbortController();
      deps.log.info("job_submitted", { job_id: job.job_id, call_id: callId, kind: job.kind });
      const done = deps
        .run(job, controller)
        .catch((err: unknown) => {
          // runJob reports its own failures; reaching here is a bug in it.
          deps.log.error("job_crashed", { job_id: job.job_id, call_id: callId, error: String(err) });
          return "failed" as const;
        })
        .finally(() => {
          running.delete(callId);
        });
      running.set(callId, { jobId: job.job_id, controller, done });
      remember(key, callId);
      return callId;
    },
    cancel(callId) {
      const job = running.get(callId);
      if (!job || job.controller.signal.aborted) return false;
      job.controller.abort("cancelled through the cancel endpoint");
      deps.log.info("job_cancel_requested", { job_id: job.jobId, call_id: callId });
      return true;
    },
    activeCount: () => running.size,
    async idle() {
      while (running.size > 0) await Promise.allSettled([...running.values()].map((j) => j.done));
    },
    async shutdown() {
      for (const job of running.values()) job.controller.abort(SHUTDOWN_REASON);
      await this.idle();
    },
  };
}
