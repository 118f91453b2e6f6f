import { getConfig, type AppConfig } from "../lib/config";
import type { Logger } from "../lib/log";
import { EngineSubmitError, type EngineClient } from "../engine/client";
import { createEngineRegistry, type EngineRegistry } from "../engine/registry";
import { mintJobToken } from "../engine/job-token";
import { SUBMIT_PROTOCOL_VERSION, SubmitRequest, type EngineError, type LanguageCode, type ResumeFrom } from "../engine/protocol";
import { TaskMessage } from "../tasks/queue-message";
import { jobTokenMs, TASK_TIMEOUTS } from "../tasks/timeouts";
import { settleFromRow } from "../tasks/settle";
import { TRACKER_ROW_COLUMNS, trackerInitFromRow, type TrackerRow } from "../tasks/tracker-init";
import { trackerFor, type TaskInput } from "../services/tasks";

export interface TaskRow extends TrackerRow {
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
  /** Engine clients by name; built from the config when absent. */
  engines?: EngineRegistry;
  /** A single engine client standing in for the current engine (tests). */
  engine?: EngineClient;
  config?: AppConfig;
  /** The clock for claim leases (tests move it past a lease). */
  now?: () => number;
  /** Pause between attempts of a failed bookkeeping write (tests set 0). */
  pauseMs?: number;
}

type Outcome = { retry: false } | { retry: true; delaySeconds?: number };

interface Dispatcher {
  env: Env;
  config: AppConfig;
  engines: EngineRegistry;
  log: Logger;
  now: () => number;
  pauseMs: number;
}

function dispatcher(deps: DispatchDeps): Dispatcher {
  const config = deps.config ?? getConfig(deps.env);
  const engines = deps.engines ?? createEngineRegistry(config, deps.engine ? { [config.ENGINE]: deps.engine } : {});
  return { env: deps.env, config, engines, log: deps.log, now: deps.now ?? Date.now, pauseMs: deps.pauseMs ?? 100 };
}

/**
 * Consumes the TASKS queue. Every message of a batch is dispatched at once
 * and acknowledged or retried on its own: a slow engine or a message that
 * throws costs the others nothing.
 *
 * Delivery is at least once, so a task is claimed with a guarded update
 * (queued → dispatched) that records the claimant and a lease. A duplicate
 * delivery finds the claim and is acknowledged; a delivery that finds a live
 * claim without an engine call is retried after the lease, and a claim whose
 * lease has passed (its claimant died, or could not release it) is taken
 * over. Submits carry the job id as their idempotency key, so even a takeover
 * of a claim whose submit did reach the engine starts no second job.
 */
export async function handleTaskBatch(batch: MessageBatch<unknown>, deps: DispatchDeps): Promise<void> {
  const d = dispatcher(deps);
  await Promise.all(batch.messages.map((message) => handleMessage(message, d)));
}

async function handleMessage(message: Message<unknown>, d: Dispatcher): Promise<void> {
  const backoff = () => retryDelaySeconds(message.attempts, d.config.QUEUE_RETRY_BASE_DELAY_S);
  const parsed = TaskMessage.safeParse(message.body);
  if (!parsed.success) {
    d.log.warn("queue.bad_message", { body: JSON.stringify(message.body ?? null).slice(0, 200) });
    message.ack();
    return;
  }
  try {
    const outcome = await dispatchOne(parsed.data.task_id, `${message.id}#${message.attempts}`, d, parsed.data.resume?.attempt ?? null);
    if (outcome.retry) message.retry({ delaySeconds: outcome.delaySeconds ?? backoff() });
    else message.ack();
  } catch (err) {
    // Anything unforeseen retries this message alone; the lease keeps the task claimable.
    d.log.warn("queue.dispatch_threw", { task_id: parsed.data.task_id, attempt: message.attempts, error: err instanceof Error ? err.message : String(err) });
    message.retry({ delaySeconds: backoff() });
  }
}

/**
 * The creating request's own dispatch (ADR 0029), run after its answer: the same claim, tracker
 * init and submit as a queue delivery, so a burst no longer waits for queue batches one after
 * another. Its queue message arrives `DISPATCH_FALLBACK_DELAY_S` later and finds the task
 * dispatched (ack), or does what this could not: a failed submit hands the claim back and the
 * message retries it; an invocation that died holding the claim is taken over after the lease.
 */
export async function dispatchOnCreate(taskId: string, requestId: string, deps: DispatchDeps, claimed: ClaimedOnCreate | null = null): Promise<void> {
  const d = dispatcher(deps);
  try {
    const outcome = await dispatchOne(taskId, createClaimant(requestId), d, null, claimed);
    if (outcome.retry) d.log.info("task.dispatch_deferred", { task_id: taskId, to: "queue" });
  } catch (err) {
    d.log.warn("task.dispatch_on_create_threw", { task_id: taskId, error: err instanceof Error ? err.message : String(err) });
  }
}

/** Retries a bookkeeping write a few times; throws the last error if every try failed. */
async function persist<T>(d: Dispatcher, what: string, taskId: string, write: () => Promise<T>, tries = 3): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await write();
    } catch (err) {
      d.log.warn("queue.write_failed", { what, task_id: taskId, attempt, error: err instanceof Error ? err.message : String(err) });
      if (attempt >= tries) throw err;
      if (d.pauseMs > 0) await new Promise((r) => setTimeout(r, d.pauseMs * attempt));
    }
  }
}

/**
 * A task the creating request wrote already claimed (ADR 0030): its row as the claim would have
 * returned it, and its voice as the job needs it (undefined: not read, null: not found).
 */
export interface ClaimedOnCreate {
  row: TaskRow;
  voice?: JobVoice | null;
}

/** What the engine's job takes from the voice row. */
export interface JobVoice {
  id: string;
  transcript: string | null;
  size_bytes: number;
}

/** Who holds a claim the creating request made: written by its creation batch, used by its dispatch. */
export function createClaimant(requestId: string): string {
  return `create:${requestId}`;
}

/** The voice row the engine's job is built from (the dispatcher's read, or the creation batch's). */
export function jobVoiceStatement(db: D1Database, voiceId: string | null, userId: string): D1PreparedStatement {
  return db.prepare(`SELECT id, transcript, size_bytes FROM voices WHERE id = ?1 AND user_id = ?2`).bind(voiceId, userId);
}

async function dispatchOne(taskId: string, claimant: string, d: Dispatcher, resumeAttempt: number | null, preclaimed: ClaimedOnCreate | null = null): Promise<Outcome> {
  const { env } = d;
  const now = d.now();
  const leaseUntil = now + TASK_TIMEOUTS.claimLeaseMs;
  // A row the creating request wrote claimed needs no claim here (ADR 0030).
  const claimed = preclaimed?.row ?? await env.DB.prepare(
    `UPDATE tasks SET status = 'dispatched', attempts = attempts + 1, claimed_by = ?3, lease_until = ?4, updated_at = ?2
     WHERE id = ?1 AND (status = 'queued' OR (status = 'dispatched' AND call_id IS NULL AND lease_until < ?2))
     RETURNING ${TRACKER_ROW_COLUMNS}, input, attempts`,
  )
    .bind(taskId, now, claimant, leaseUntil)
    .first<TaskRow>();
  if (!claimed) return notClaimed(taskId, d, now);

  // Until the engine has accepted the job, any failure hands the claim back so a retry can take it.
  // A release that fails is retried; if it still fails the lease frees the task, and this message
  // is retried for when it does.
  const release = async (): Promise<Outcome | null> => {
    try {
      await persist(d, "release", taskId, () =>
        env.DB.prepare(
          `UPDATE tasks SET status = 'queued', claimed_by = NULL, lease_until = NULL, updated_at = ?3
           WHERE id = ?1 AND status = 'dispatched' AND claimed_by = ?2 AND call_id IS NULL`,
        )
          .bind(taskId, claimant, d.now())
          .run(),
      );
      return null;
    } catch {
      return { retry: true, delaySeconds: secondsUntil(leaseUntil, d.now()) };
    }
  };

  const engineName = d.engines.current;
  const engine = d.engines.client(engineName);
  let callId: string;
  try {
    // The tracker is made before the engine has the job, so every callback finds it (ADR 0025); a
    // resume (ADR 0023) comes from a tracker that exists, and starts where it says the durable parts end.
    const tracker = trackerFor(env, taskId);
    const job =
      resumeAttempt === null
        ? (await Promise.all([buildJob(claimed, env, d.config, null, preclaimed?.voice), tracker.init(trackerInitFromRow(claimed, claimed.input))]))[0]
        : await buildJob(claimed, env, d.config, await tracker.resumeFrom(resumeAttempt));
    if (!job) {
      await failTask(env, taskId, { code: "voice_deleted", message: "The voice for this job was deleted before it started. Your credits were returned.", retryable: false });
      return { retry: false };
    }
    callId = (await engine.submit(job)).call_id;
  } catch (err) {
    const retryable = !(err instanceof EngineSubmitError) || err.retryable;
    d.log.warn("queue.submit_failed", { task_id: taskId, attempt: claimed.attempts, retryable, error: err instanceof Error ? err.message : String(err) });
    const stuck = await release();
    if (!retryable) {
      await failTask(env, taskId, { code: "engine_rejected", message: "The speech engine refused this job. Your credits were returned.", retryable: false });
      return { retry: false };
    }
    return stuck ?? { retry: true };
  }

  // The engine has the job now. Record it in D1 (so a later delivery, the DLQ and cancels
  // know it) and tell the tracker, at the same time. If D1 cannot be told, a takeover after
  // the lease resubmits with the same idempotency key and gets this same call back.
  const [recorded, told] = await Promise.allSettled([
    persist(d, "record_call", taskId, () =>
      env.DB.prepare(`UPDATE tasks SET call_id = ?2, engine = ?3, lease_until = NULL WHERE id = ?1 AND claimed_by = ?4`)
        .bind(taskId, callId, engineName, claimant)
        .run(),
    ),
    persist(d, "tracker_dispatched", taskId, () => trackerFor(env, taskId).dispatched(callId)),
  ]);
  if (told.status === "fulfilled" && told.value.cancel) await engine.cancel(callId); // cancelled while we were submitting
  if (told.status === "rejected") d.log.warn("queue.tracker_unreachable", { task_id: taskId, call_id: callId, error: String(told.reason) });
  if (recorded.status === "rejected") d.log.warn("queue.call_unrecorded", { task_id: taskId, call_id: callId, error: String(recorded.reason) });
  d.log.info("queue.dispatched", { task_id: taskId, call_id: callId, engine: engineName, attempt: claimed.attempts, ...(resumeAttempt ? { resume: resumeAttempt } : {}) });
  return { retry: false };
}

/** Fails a task through its tracker, or from its row when it has none (its init never ran: ADR 0017). */
async function failTask(env: Env, taskId: string, error: EngineError): Promise<void> {
  try {
    await trackerFor(env, taskId).fail(error);
  } catch (err) {
    if (!String(err).includes("not initialised")) throw err;
    await settleFromRow(env.DB, taskId, error);
  }
}

function secondsUntil(at: number, now: number): number {
  return Math.min(Math.max(1, Math.ceil((at - now) / 1000) + 1), 60);
}

/** Why a delivery could not claim its task: done or taken (ack), or claimed under a live lease (retry after it). */
async function notClaimed(taskId: string, d: Dispatcher, now: number): Promise<Outcome> {
  const row = await d.env.DB.prepare(`SELECT status, call_id, lease_until FROM tasks WHERE id = ?1`)
    .bind(taskId)
    .first<{ status: string; call_id: string | null; lease_until: number | null }>();
  if (row?.status === "dispatched" && row.call_id === null && row.lease_until !== null) {
    d.log.info("queue.claim_held", { task_id: taskId, lease_until: row.lease_until });
    return { retry: true, delaySeconds: secondsUntil(row.lease_until, now) };
  }
  d.log.info("queue.skip_not_queued", { task_id: taskId, status: row?.status ?? "missing" });
  return { retry: false };
}

/** What the engine may cache a voice's reference by: the voice (its clip is immutable) and the clip's size. */
export function referenceId(voiceId: string, sizeBytes: number): string {
  return `${voiceId}.${sizeBytes}`;
}

/** The engine's job for a claimed task, or null when its voice is gone. */
async function buildJob(claimed: TaskRow, env: Env, config: AppConfig, resumeFrom: ResumeFrom | null, known?: JobVoice | null): Promise<SubmitRequest | null> {
  const taskId = claimed.id;
  const input = JSON.parse(claimed.input) as TaskInput;
  const base = config.ENGINE_CALLBACK_URL.replace(/\/+$/, "");
  const jobBase = `${base}/internal/engine/jobs/${taskId}`;
  // The token and the engine's deadline scale with the text (an hour of audio takes its time), and a
  // resume gets a fresh one: an attempt stopped by its deadline is resumed with a new deadline.
  const deadline = new Date(Date.now() + jobTokenMs([...input.text].length));
  let voice: SubmitRequest["voice"];
  if (claimed.kind === "generate") {
    const v =
      known !== undefined
        ? known
        : await jobVoiceStatement(env.DB, claimed.voice_id, claimed.user_id).first<JobVoice>();
    if (!v) return null;
    voice = {
      voice_id: v.id,
      reference_url: `${jobBase}/reference`,
      // A voice's reference bytes never change (a new clip is a new voice), so its id names them (ADR 0024).
      reference_id: referenceId(v.id, v.size_bytes),
      ...(v.transcript ? { reference_text: v.transcript } : {}),
    };
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
    ...(input.pause_ms !== undefined ? { pause_ms: input.pause_ms } : {}),
    output: { format: "wav", sample_rate: 24_000 },
    callbacks: {
      events_url: `${jobBase}/events`,
      upload_url: jobBase,
      token: await mintJobToken(config.JOB_TOKEN_SECRET, taskId, deadline),
      // v2: the task's engine socket (ADR 0009); same origin, ws(s) scheme.
      stream_url: `${jobBase.replace(/^http/, "ws")}/stream`,
    },
    deadline: deadline.toISOString(),
    ...(resumeFrom ? { resume_from: resumeFrom } : {}),
    // A part regeneration (ADR 0026): only this part is rendered, the source take's others are read back.
    ...(input.part ? { render_parts: { indices: [input.part.index], segments_total: input.part.segments_total } } : {}),
  });
}

const DLQ_FAILURE = {
  code: "engine_unavailable",
  message: "The speech engine is unavailable right now. Your credits were returned; please try again shortly.",
  retryable: true,
} as const;

/**
 * The dead-letter queue: every retry of this message failed. Only a task
 * still waiting for dispatch is failed (its tracker releases the credits);
 * one that another delivery dispatched is left to run. If the engine turns
 * out to hold a job for a task failed here, it is told to cancel it.
 */
export async function handleDeadLetters(batch: MessageBatch<unknown>, deps: DispatchDeps): Promise<void> {
  const d = dispatcher(deps);
  await Promise.all(
    batch.messages.map(async (message) => {
      const parsed = TaskMessage.safeParse(message.body);
      if (!parsed.success) {
        message.ack();
        return;
      }
      try {
        await deadLetter(parsed.data.task_id, d);
        message.ack();
      } catch (err) {
        d.log.warn("queue.dead_letter_failed", { task_id: parsed.data.task_id, error: err instanceof Error ? err.message : String(err) });
        message.retry();
      }
    }),
  );
}

async function deadLetter(taskId: string, d: Dispatcher): Promise<void> {
  const { env, log } = d;
  const row = await env.DB.prepare(`SELECT status, call_id, engine FROM tasks WHERE id = ?1`)
    .bind(taskId)
    .first<{ status: string; call_id: string | null; engine: string | null }>();
  if (!row || !["queued", "dispatched"].includes(row.status)) {
    log.info("queue.dead_letter_skipped", { task_id: taskId, status: row?.status ?? "missing" });
    return;
  }
  if (row.call_id) {
    log.info("queue.dead_letter_dispatched", { task_id: taskId, call_id: row.call_id });
    return; // the engine has it; its events (or the heartbeat deadline) decide
  }
  const tracker = trackerFor(env, taskId);
  const status = await tracker.status();
  if (status === null) {
    // No tracker: the task was never dispatched (ADR 0025); settle it from its row.
    const failed = await settleFromRow(env.DB, taskId, DLQ_FAILURE);
    log.warn("queue.dead_letter", { task_id: taskId, failed, tracker: false });
    return;
  }
  if (status !== "queued") {
    log.info("queue.dead_letter_dispatched", { task_id: taskId, tracker_status: status });
    return;
  }
  const { failed } = await tracker.fail(DLQ_FAILURE);
  log.warn("queue.dead_letter", { task_id: taskId, failed });
  // A submit that landed while we looked: the engine must not run a job nobody pays for.
  const after = await env.DB.prepare(`SELECT call_id, engine FROM tasks WHERE id = ?1`).bind(taskId).first<{ call_id: string | null; engine: string | null }>();
  if (failed && after?.call_id) await d.engines.client(after.engine).cancel(after.call_id);
}
