import type { AppConfig } from "../lib/config";
import { CancelResponse, submitIdempotencyKey, SubmitResponse, type SubmitRequest } from "./protocol";

/** Why a submit failed, and whether trying again later could help. */
export class EngineSubmitError extends Error {
  readonly retryable: boolean;
  readonly status: number | null;
  constructor(message: string, retryable: boolean, status: number | null) {
    super(message);
    this.name = "EngineSubmitError";
    this.retryable = retryable;
    this.status = status;
  }
}

export interface EngineClient {
  submit(job: SubmitRequest): Promise<{ call_id: string }>;
  cancel(callId: string): Promise<boolean>;
}

/**
 * Every engine (Modal in production, the same package self-hosted on a CUDA
 * machine, dev/engine locally) speaks the same protocol over HTTP, so one
 * client serves all; `ENGINE` only names which is behind `ENGINE_URL` (see
 * docs/engine.md).
 */
export function createEngineClient(config: Pick<AppConfig, "ENGINE_URL" | "ENGINE_TOKEN">, fetcher: typeof fetch = fetch): EngineClient {
  const base = config.ENGINE_URL.replace(/\/+$/, "");
  const headers = { authorization: `Bearer ${config.ENGINE_TOKEN}`, "content-type": "application/json" };
  return {
    async submit(job) {
      let res: Response;
      try {
        // The job id (with the resume attempt, ADR 0023) is the idempotency key: a submit repeated after a
        // lost reply returns the engine's existing call.
        res = await fetcher(`${base}/jobs`, {
          method: "POST",
          headers: { ...headers, "idempotency-key": submitIdempotencyKey(job) },
          body: JSON.stringify(job),
          signal: AbortSignal.timeout(15_000),
        });
      } catch (err) {
        throw new EngineSubmitError(`engine unreachable: ${err instanceof Error ? err.message : String(err)}`, true, null);
      }
      if (res.status !== 202 && res.status !== 200) {
        const text = await res.text().catch(() => "");
        // 4xx means the engine refused this job as written: retrying will not help (except 408/429).
        const retryable = res.status >= 500 || res.status === 408 || res.status === 429;
        throw new EngineSubmitError(`engine answered ${res.status}: ${text.slice(0, 300)}`, retryable, res.status);
      }
      const parsed = SubmitResponse.safeParse(await res.json().catch(() => null));
      if (!parsed.success) throw new EngineSubmitError("engine answered without a call_id", true, res.status);
      return parsed.data;
    },
    async cancel(callId) {
      try {
        const res = await fetcher(`${base}/jobs/${encodeURIComponent(callId)}/cancel`, {
          method: "POST",
          headers,
          body: "{}",
          signal: AbortSignal.timeout(10_000),
        });
        const parsed = CancelResponse.safeParse(await res.json().catch(() => null));
        return parsed.success ? parsed.data.cancelled : false;
      } catch {
        return false; // best effort: the engine also learns of the cancel from its next EventAck
      }
    },
  };
}
