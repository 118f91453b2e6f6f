import { getConfig, type AppConfig } from "../lib/config";
import type { Logger } from "../lib/log";
import { createEngineClient, EngineSubmitError, type EngineClient } from "../engine/client";
import { mintJobToken } from "../engine/job-token";
import { SUBMIT_PROTOCOL_VERSION, SubmitRequest, type LanguageCode } from "../engine/protocol";
import { TaskMessage } from "../tasks/queue-message";
import { TASK_TIMEOUTS } from "../tasks/timeouts";
import { trackerFor, type TaskInput } from "../services/tasks";

interface TaskRow {
  id: string;
  user_id: string;
  kind: "generate" | "design_preview";
  status: string;
  voice_id: string | null;
  input: string;
  attempts: number;
}

/** Backoff for redelivery: base, 2×, 4×, … (2, 4, 8, 16 s by default, capped at 60), well inside the start deadline. */
export function retryDelaySeconds(attempts: number, base: number): number {
  return Math.min(base * 2 ** Math.max(0, attempts - 1), 60);
}

export interface DispatchDeps {
  env: Env;
  log: Logger;
  engine?: EngineClient;
  config?: AppConfig;
}

/**
 * Consumes the TASKS queue. Delivery is at least once, so a task is claimed
 * with a guarded update (queued → dispatched); a duplicate delivery finds it
 * no longer queued and is acknowledged without a second submit.
 */
export async function handleTaskBatch(batch: MessageBatch<unknown>, deps: DispatchDeps): Promise<void> {
  const config = deps.config ?? getConfig(deps.env);
  const engine = deps.engine ?? createEngineClient(config);
  for (const message of batch.messages) {
    const parsed = TaskMessage.safeParse(message.body);
    if (!parsed.success) {
      deps.log.error("queue.bad_message", { body: JSON.stringify(message.body).slice(0, 200) });
      message.ack();
      continue;
    }
    const outcome = await dispatchOne(parsed.data.task_id, deps.env, config, engine, deps.log);
    if (outcome.retry) message.retry({ delaySeconds: retryDelaySeconds(message.attempts, config.QUEUE_RETRY_BASE_DELAY_S) });
    else message.ack();
  }
}

async function dispatchOne(taskId: string, env: Env, config: AppConfig, engine: EngineClient, log: Logger): Promise<{ retry: boolean }> {
  const claimed = await env.DB.prepare(
    `UPDATE tasks SET status = 'dispatched', attempts = attempts + 1, updated_at = ?2 WHERE id = ?1 AND status = 'queued'
     RETURNING id, user_id, kind, status, voice_id, input, attempts`,
  )
    .bind(taskId, Date.now())
    .first<TaskRow>();
  if (!claimed) {
    log.info("queue.skip_not_queued", { task_id: taskId });
    return { retry: false };
  }
  // Until the engine has accepted the job, any failure puts the task back so a retry can claim it again.
  const release = () =>
    env.DB.prepare(`UPDATE tasks SET status = 'queued', updated_at = ?2 WHERE id = ?1 AND status = 'dispatched'`).bind(taskId, Date.now()).run();
  let callId: string;
  try {
    const job = await buildJob(claimed, env, config);
    if (!job) {
      await trackerFor(env, taskId).fail({ code: "voice_deleted", message: "The voice for this job was deleted before it started. Your credits were returned.", retryable: false });
      return { retry: false };
    }
    callId = (await engine.submit(job)).call_id;
  } catch (err) {
    await release();
    const retryable = !(err instanceof EngineSubmitError) || err.retryable;
    log.warn("queue.submit_failed", { task_id: taskId, attempt: claimed.attempts, retryable, error: err instanceof Error ? err.message : String(err) });
    if (!retryable) {
      await trackerFor(env, taskId).fail({ code: "engine_rejected", message: "The speech engine refused this job. Your credits were returned.", retryable: false });
      return { retry: false };
    }
    return { retry: true };
  }
  // The engine has the job now: never submit it again. Tell the tracker, retrying briefly; if that
  // still fails the engine's own events reach the tracker anyway (only a later cancel lacks the call id).
  for (let attempt = 1; ; attempt++) {
    try {
      const { cancel } = await trackerFor(env, taskId).dispatched(callId);
      if (cancel) await engine.cancel(callId); // cancelled while we were submitting
      break;
    } catch (err) {
      if (attempt >= 3) {
        log.error("queue.tracker_unreachable", { task_id: taskId, call_id: callId, error: String(err) });
        break;
      }
      await new Promise((r) => setTimeout(r, 100 * attempt));
    }
  }
  log.info("queue.dispatched", { task_id: taskId, call_id: callId, attempt: claimed.attempts });
  return { retry: false };
}

/** The engine's job for a claimed task, or null when its voice is gone. */
async function buildJob(claimed: TaskRow, env: Env, config: AppConfig): Promise<SubmitRequest | null> {
  const taskId = claimed.id;
  const input = JSON.parse(claimed.input) as TaskInput;
  const base = config.ENGINE_CALLBACK_URL.replace(/\/+$/, "");
  const jobBase = `${base}/internal/engine/jobs/${taskId}`;
  const deadline = new Date(Date.now() + TASK_TIMEOUTS.jobTokenMs);
  let voice: SubmitRequest["voice"];
  if (claimed.kind === "generate") {
    const v = await env.DB.prepare(`SELECT id, transcript FROM voices WHERE id = ?1 AND user_id = ?2`)
      .bind(claimed.voice_id, claimed.user_id)
      .first<{ id: string; transcript: string | null }>();
    if (!v) return null;
    voice = { voice_id: v.id, reference_url: `${jobBase}/reference`, ...(v.transcript ? { reference_text: v.transcript } : {}) };
  }
  return SubmitRequest.parse({
    protocol: SUBMIT_PROTOCOL_VERSION,
    job_id: taskId,
    kind: claimed.kind,
    text: input.text,
    language: input.language satisfies LanguageCode,
    ...(voice ? { voice } : {}),
    ...(input.instruct ? { instruct: input.instruct } : {}),
    ...(input.seed !== undefined ? { seed: input.seed } : {}),
    output: { format: "wav", sample_rate: 24_000 },
    callbacks: {
      events_url: `${jobBase}/events`,
      upload_url: jobBase,
      token: await mintJobToken(config.JOB_TOKEN_SECRET, taskId, deadline),
      // v2: the task's engine socket (ADR 0009); same origin, ws(s) scheme.
      stream_url: `${jobBase.replace(/^http/, "ws")}/stream`,
    },
    deadline: deadline.toISOString(),
  });
}

/**
 * The dead-letter queue: a task whose dispatch failed through every retry
 * fails with `engine_unavailable`; its tracker releases the credits.
 */
export async function handleDeadLetters(batch: MessageBatch<unknown>, deps: DispatchDeps): Promise<void> {
  for (const message of batch.messages) {
    const parsed = TaskMessage.safeParse(message.body);
    if (parsed.success) {
      const r = await trackerFor(deps.env, parsed.data.task_id).fail({
        code: "engine_unavailable",
        message: "The speech engine is unavailable right now. Your credits were returned; please try again shortly.",
        retryable: true,
      });
      deps.log.warn("queue.dead_letter", { task_id: parsed.data.task_id, failed: r.failed });
    }
    message.ack();
  }
}
