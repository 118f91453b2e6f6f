import type { EngineError } from "../../worker/engine/protocol.ts";

/**
 * A failure the job reports to the Worker as `failed {error}`. Codes are the
 * protocol's known ones (docs/engine-protocol.md); `retryable` tells the user
 * whether trying again could help.
 */
export class JobError extends Error {
  override name = "JobError";
  readonly code: string;
  readonly retryable: boolean;
  constructor(code: string, message: string, retryable: boolean, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.retryable = retryable;
  }
}

/**
 * The job must end without another event: it was cancelled, or the Worker
 * refused its token or said the job is over (401/403/409), so nothing more
 * would be accepted.
 */
export class JobStopped extends Error {
  override name = "JobStopped";
}

/** The `failed` event's error for anything thrown while a job runs. */
export function toEngineError(err: unknown): EngineError {
  if (err instanceof JobError) return { code: err.code, message: clip(err.message), retryable: err.retryable };
  const message = err instanceof Error ? err.message : String(err);
  return { code: "internal", message: clip(`dev engine error: ${message}`), retryable: true };
}

/** The protocol bounds messages to 1–1000 characters. */
function clip(message: string): string {
  const text = message.trim() || "unknown error";
  return text.length > 1000 ? `${text.slice(0, 997)}...` : text;
}
