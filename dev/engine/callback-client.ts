import type { Clock } from "./clock.ts";
import { errorMessage, type Logger } from "./log.ts";

/**
 * HTTP to the Worker on behalf of one job (events, uploads, the reference),
 * always with the job token as bearer. Transient failures (network errors,
 * timeouts, 5xx, 408, 429) are retried with exponential backoff; any other
 * answer is final, because the Worker has decided (bad token, job over, bad
 * body) and asking again cannot change that.
 */
export type RetryPolicy = {
  /** Total tries, the first included. */
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /** Per-try timeout. */
  timeoutMs: number;
};
export const DEFAULT_RETRY: RetryPolicy = { attempts: 4, baseDelayMs: 250, maxDelayMs: 2000, timeoutMs: 30_000 };

export class CallbackError extends Error {
  override name = "CallbackError";
  /** HTTP status of the last answer, or null when there was none (network error, timeout). */
  readonly status: number | null;
  constructor(message: string, status: number | null, options?: { cause?: unknown }) {
    super(message, options);
    this.status = status;
  }
  /** The Worker refused the token or the job is over: nothing more from this job will be accepted. */
  get stopsJob(): boolean {
    return this.status === 401 || this.status === 403 || this.status === 409;
  }
}

export type CallbackResponse = { status: number; contentType: string; body: Uint8Array };

export type CallbackClient = {
  request(
    method: "GET" | "POST" | "PUT",
    url: string,
    body?: { bytes: Uint8Array | string; contentType: string },
  ): Promise<CallbackResponse>;
};

export function isTransientStatus(status: number): boolean {
  return status >= 500 || status === 408 || status === 429;
}

export function createCallbackClient(deps: {
  fetch: typeof fetch;
  clock: Clock;
  token: string;
  retry: RetryPolicy;
  log: Logger;
  jobId: string;
}): CallbackClient {
  const { retry, clock, log } = deps;
  return {
    async request(method, url, body) {
      const what = `${method} ${url}`;
      for (let attempt = 1; ; attempt++) {
        let failure: CallbackError;
        try {
          const res = await deps.fetch(url, {
            method,
            headers: { authorization: `Bearer ${deps.token}`, ...(body ? { "content-type": body.contentType } : {}) },
            // Copy: fetch takes ownership of a BufferSource, and retries need the bytes again.
            body: body === undefined ? undefined : typeof body.bytes === "string" ? body.bytes : body.bytes.slice(),
            signal: AbortSignal.timeout(retry.timeoutMs),
          });
          const bytes = new Uint8Array(await res.arrayBuffer());
          if (res.ok) return { status: res.status, contentType: res.headers.get("content-type") ?? "", body: bytes };
          const detail = new TextDecoder().decode(bytes.subarray(0, 300));
          failure = new CallbackError(`${what} answered ${res.status}: ${detail}`, res.status);
          if (!isTransientStatus(res.status)) throw failure;
        } catch (err) {
          if (err instanceof CallbackError && !isTransientStatus(err.status ?? 500)) throw err;
          failure = err instanceof CallbackError ? err : new CallbackError(`${what} failed: ${errorMessage(err)}`, null, { cause: err });
        }
        if (attempt >= retry.attempts) throw failure;
        const delay = Math.min(retry.maxDelayMs, retry.baseDelayMs * 2 ** (attempt - 1));
        log.warn("callback_retry", {
          job_id: deps.jobId,
          request: what,
          attempt,
          status: failure.status,
          delay_ms: delay,
          error: failure.message,
        });
        await clock.sleep(delay);
      }
    },
  };
}
