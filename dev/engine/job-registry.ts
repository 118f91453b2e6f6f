import { randomUUID } from "node:crypto";
import { SHUTDOWN_REASON, type JobOutcome } from "./job-runner.ts";
import type { Logger } from "./log.ts";
import type { JobSubmit as SubmitRequest } from "./v2-wire.ts";

/**
 * The jobs this process is running, by call id. Jobs run in the background;
 * the HTTP layer only submits and cancels.
 */
export type JobRegistry = {
  /** Starts the job and returns its call id. A job id already running returns that run's call id. */
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

export function createJobRegistry(deps: {
  run(job: SubmitRequest, control: AbortController): Promise<JobOutcome>;
  log: Logger;
}): JobRegistry {
  const running = new Map<string, Running>();
  const byJobId = new Map<string, string>();

  return {
    submit(job) {
      // Queue delivery is at-least-once (DESIGN §3): a duplicate submit must not start a second run.
      const existing = byJobId.get(job.job_id);
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
          byJobId.delete(job.job_id);
        });
      running.set(callId, { jobId: job.job_id, controller, done });
      byJobId.set(job.job_id, callId);
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
