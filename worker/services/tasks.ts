import { and, desc, eq, inArray, lt } from "drizzle-orm";
import type { RequestContext } from "../context";
import type { EngineError, LanguageCode } from "../engine/protocol";
import { generations, tasks } from "../db/schema";
import { AppError, errors } from "../lib/errors";
import { newId } from "../lib/ids";
import { enforceRateLimit } from "../lib/rate-limit";
import type { TaskMessage } from "../tasks/queue-message";
import type { TaskSnapshot } from "../tasks/messages";
import { ACTIVE_SQL, ACTIVE_STATES } from "../tasks/lifecycle";
import { settleFromRow } from "../tasks/settle";
import type { TrackerInit } from "../tasks/tracker-reducer";
import { TRACKER_ROW_COLUMNS, trackerInitFromRow } from "../tasks/tracker-init";
import { createClaimant, dispatchOnCreate, jobVoiceStatement, type ClaimedOnCreate, type JobVoice, type TaskRow } from "../queue/dispatch";
import {
  balanceWithMonthlyGrant,
  CONCURRENT_JOBS_SQL,
  TEXT_CHARS_SQL,
  insufficientCredits,
  isInsufficientCreditsError,
  ledgerKeys,
  monthlyGrantKnown,
  monthlyGrantStatement,
  monthlyGrantWritten,
} from "./credits";
import { PLANS, planOf, type Plan } from "./pricing";
import type { CurrentUser } from "./account";

export { ACTIVE_STATES };

export interface TaskInput {
  text: string;
  language: LanguageCode;
  instruct?: string;
  seed?: number;
  /** Silence between sentences in ms; absent: the engine matches the voice. */
  pause_ms?: number;
  /**
   * A part regeneration (ADR 0026): only part `index` of the source take's `segments_total` is
   * rendered; the others are the source take's, read back by the engine.
   */
  part?: PartInput;
}

export interface PartInput {
  index: number;
  source_task_id: string;
  segments_total: number;
}

export interface NewTask {
  kind: "generate" | "design_preview";
  input: TaskInput;
  cost: number;
  /** The voice a generation speaks with; checked (owned by the user) and named inside the creation batch. */
  voice: { id: string } | null;
  /** Design previews are kept for a limited time. */
  expiresAt?: number;
  /** A new take of an existing generation of the user's (ADR 0022) instead of a new generation; `take` is its number. */
  takeOf?: { generationId: string; take: number };
  /** Characters of a generation's text, held to the stored plan's limit inside the creation batch (null: no plan limit). */
  planChars?: number | null;
}

export interface CreatedTask {
  task_id: string;
  generation_id: string | null;
  /** The take this task renders (1 for a new generation); null for design previews. */
  take: number | null;
  socket_url: string;
  status_url: string;
  cost: number;
}

export function trackerFor(env: Env, taskId: string) {
  return env.TASK_TRACKER.get(env.TASK_TRACKER.idFromName(taskId));
}

/**
 * Creating a task (DESIGN §2) in two sequential round trips after the
 * session check. One D1 batch: this month's grant if this isolate has not
 * seen it, the task — only if its voice is the user's and under the plan's
 * concurrency cap (the plan read from the user row, so a plan a webhook just
 * changed applies at once) — the reservation (the ledger guard aborts the
 * batch when credits are short) and the generation, named from the voice
 * row. Then the tracker's init and the enqueue, at the same time. The tracker
 * exists before the response, so before any dispatch can reach the engine
 * (ADR 0017).
 */
export async function createTask(ctx: RequestContext, user: CurrentUser, spec: NewTask): Promise<CreatedTask> {
  const { env } = ctx;
  await enforceRateLimit(env.TASK_LIMITER, `task:${user.id}`);
  const taskId = newId("task");
  const generationId = spec.kind !== "generate" ? null : (spec.takeOf?.generationId ?? newId("gen"));
  const take = spec.kind !== "generate" ? null : (spec.takeOf?.take ?? 1);
  const now = Date.now();
  const at = new Date(now);
  const grant = monthlyGrantKnown(user.id, at) ? null : monthlyGrantStatement(env.DB, user.id, at);
  // Dispatched by this request (ADR 0029): the row is written already claimed by it, under the
  // dispatcher's kind of lease, and the batch reads back what the engine's job is built from, so nothing
  // in D1 stands between the answer and the engine having the job (ADR 0030). A claim that is
  // never completed is taken over by the queue message after the lease, as any claim is.
  const onCreate = ctx.config.DISPATCH_ON_CREATE;
  const claimant = onCreate ? createClaimant(ctx.requestId) : null;
  const stmts: D1PreparedStatement[] = [
    ...(grant ? [grant] : []),
    env.DB.prepare(
      `INSERT INTO tasks (id, user_id, kind, status, generation_id, take, voice_id, input, cost, created_at, updated_at, expires_at, claimed_by, lease_until, attempts)
       SELECT ?1, ?2, ?3, CASE WHEN ?14 IS NULL THEN 'queued' ELSE 'dispatched' END, ?4, ?11, ?5, ?6, ?7, ?8, ?8, ?9, ?14, ?15, CASE WHEN ?14 IS NULL THEN 0 ELSE 1 END
       WHERE (SELECT count(*) FROM tasks WHERE user_id = ?2 AND status IN ${ACTIVE_SQL})
         < (SELECT ${CONCURRENT_JOBS_SQL} FROM user u WHERE u.id = ?2)
         AND (?5 IS NULL OR EXISTS (SELECT 1 FROM voices WHERE id = ?5 AND user_id = ?2))
         AND (?10 IS NULL OR EXISTS (SELECT 1 FROM session WHERE token = ?10 AND user_id = ?2 AND expires_at > ?8))
         AND (?12 = 0 OR EXISTS (SELECT 1 FROM generations WHERE id = ?4 AND user_id = ?2))
         AND (?13 IS NULL OR ?13 <= (SELECT ${TEXT_CHARS_SQL} FROM user u WHERE u.id = ?2))
       RETURNING ${TRACKER_ROW_COLUMNS}, input, attempts`,
    ).bind(
      taskId,
      user.id,
      spec.kind,
      generationId,
      spec.voice?.id ?? null,
      JSON.stringify(spec.input),
      spec.cost,
      now,
      spec.expiresAt ?? null,
      user.unverifiedSession?.token ?? null,
      take,
      spec.takeOf ? 1 : 0,
      spec.planChars ?? null,
      claimant,
      // The lease ends as the fallback message arrives, so a request that died holding the claim costs no
      // more than the queue alone would (a slow submit that outlives it is taken over under the same
      // idempotency key: one engine job).
      claimant ? now + ctx.config.DISPATCH_FALLBACK_DELAY_S * 1000 : null,
    ),
    env.DB.prepare(
      `INSERT INTO credit_ledger (user_id, delta, kind, idempotency_key, task_id, note, created_at)
       SELECT ?1, ?2, 'reserve', ?3, ?4, ?5, ?6 WHERE EXISTS (SELECT 1 FROM tasks WHERE id = ?4)`,
    ).bind(user.id, -spec.cost, ledgerKeys.reserve(taskId), taskId, `Reserved ${spec.cost} credits`, now),
  ];
  if (generationId && !spec.takeOf) {
    stmts.push(
      env.DB.prepare(
        `INSERT INTO generations (id, user_id, voice_id, voice_name, task_id, text, language, status, cost, created_at)
         SELECT ?1, ?2, v.id, v.name, ?4, ?5, ?6, 'queued', ?7, ?8 FROM voices v
         WHERE v.id = ?3 AND v.user_id = ?2 AND EXISTS (SELECT 1 FROM tasks WHERE id = ?4)`,
      ).bind(generationId, user.id, spec.voice?.id ?? null, taskId, spec.input.text, spec.input.language, spec.cost, now),
    );
  }
  const voiceAt = onCreate && spec.kind === "generate" && spec.voice ? stmts.length : -1;
  if (voiceAt >= 0) stmts.push(jobVoiceStatement(env.DB, spec.voice!.id, user.id));
  let inserted: boolean;
  let claimed: ClaimedOnCreate | null = null;
  try {
    const results = await env.DB.batch(stmts);
    if (grant && (results[0]?.meta.changes ?? 0) === 1) monthlyGrantWritten(user.id, at);
    const taskResult = results[grant ? 1 : 0];
    inserted = (taskResult?.meta.changes ?? 0) === 1;
    const row = (taskResult?.results as TaskRow[] | undefined)?.[0];
    if (inserted && claimant && row) {
      const voice = voiceAt >= 0 ? ((results[voiceAt]?.results as JobVoice[] | undefined)?.[0] ?? null) : undefined;
      claimed = { row, voice };
    }
  } catch (err) {
    // Two takes of one generation numbered at once: the unique (generation, take) index refused the second.
    if (spec.takeOf && /UNIQUE constraint failed: tasks\.generation_id, tasks\.take/.test(String(err))) {
      throw errors.conflict("take_conflict", "Another take of this generation was just started. Try again.");
    }
    if (isInsufficientCreditsError(err)) {
      // The batch rolled back whole, a due grant with it: make it on its own so the balance shown is true.
      if (grant) await balanceWithMonthlyGrant(ctx.db, user.id, at);
      throw await insufficientCredits(ctx.db, user.id, spec.cost);
    }
    throw err;
  }
  if (!inserted) {
    // Only on refusal: was it the session, the voice, or which plan's cap (the stored plan, as the guard used)?
    const row = await env.DB.prepare(
      `SELECT (SELECT plan FROM user WHERE id = ?1) AS plan, EXISTS (SELECT 1 FROM voices WHERE id = ?2 AND user_id = ?1) AS voice,
         (?3 IS NULL OR EXISTS (SELECT 1 FROM session WHERE token = ?3 AND user_id = ?1 AND expires_at > ?4)) AS session,
         (?5 IS NULL OR EXISTS (SELECT 1 FROM generations WHERE id = ?5 AND user_id = ?1)) AS generation`,
    )
      .bind(user.id, spec.voice?.id ?? null, user.unverifiedSession?.token ?? null, now, spec.takeOf?.generationId ?? null)
      .first<{ plan: string | null; voice: number; session: number; generation: number }>();
    if (!Number(row?.session)) throw errors.unauthorized();
    if (spec.voice && !Number(row?.voice)) throw errors.notFound("voice");
    if (!Number(row?.generation)) throw errors.notFound("generation");
    const plan = planOf(row?.plan ?? user.plan);
    if (spec.planChars != null && spec.planChars > plan.textChars) throw textLimitReached(plan, spec.planChars);
    throw new AppError(
      "too_many_active_tasks",
      429,
      `Your ${plan.name} plan runs ${plan.concurrentJobs} job${plan.concurrentJobs === 1 ? "" : "s"} at a time. Wait for one to finish or cancel it.`,
      { limit: plan.concurrentJobs },
      { "Retry-After": "5" },
    );
  }

  // The tracker is not made here (ADR 0025): the dispatcher makes it before the engine can call
  // it, or the owner's socket or snapshot does if that comes first. One call less on this path.
  // Dispatched by this request once it has answered (ADR 0029); the queue message, sent first and
  // delivered a little later, is what guarantees it if that dispatch cannot happen or fails.
  try {
    await env.TASKS.send({ task_id: taskId } satisfies TaskMessage, onCreate ? { delaySeconds: ctx.config.DISPATCH_FALLBACK_DELAY_S } : undefined);
  } catch (err) {
    // The rows and the reservation are committed and no tracker exists: settle them from D1.
    ctx.log.error("task.enqueue_failed", { task_id: taskId, error: String(err) });
    await settleFromRow(env.DB, taskId, { code: "engine_unavailable", message: "We could not queue this job. Your credits were returned.", retryable: true });
    throw new AppError("engine_unavailable", 503, "We could not queue this job. Please try again.", undefined, { "Retry-After": "10" });
  }
  if (onCreate) ctx.waitUntil(dispatchOnCreate(taskId, ctx.requestId, { env, log: ctx.log, engines: ctx.engines, config: ctx.config }, claimed));
  ctx.log.info("task.created", { task_id: taskId, kind: spec.kind, cost: spec.cost, user_id: user.id });
  return {
    task_id: taskId,
    generation_id: generationId,
    take,
    socket_url: `/api/tasks/${taskId}/ws`,
    status_url: `/api/tasks/${taskId}`,
    cost: spec.cost,
  };
}

/**
 * A text longer than the plan takes (DESIGN §1): 403 `text_limit_reached` naming the plan's limit,
 * like `voice_limit_reached`. Texts over the longest any plan takes are a 400 from the body schema.
 */
export function textLimitReached(plan: Plan, chars: number): AppError {
  const upgrade = plan.id === "free" ? ` or upgrade to ${PLANS.pro.name} for up to ${PLANS.pro.textChars.toLocaleString("en-US")}` : "";
  return new AppError(
    "text_limit_reached",
    403,
    `Your ${plan.name} plan takes up to ${plan.textChars.toLocaleString("en-US")} characters per generation; this text has ${chars.toLocaleString("en-US")}. Shorten it${upgrade}.`,
    { plan: plan.id, limit: plan.textChars, chars },
  );
}

/** The caller's task row, or 404 (never 403: another user's id must not reveal it exists). */
export async function getOwnedTask(ctx: RequestContext, userId: string, taskId: string) {
  const row = await ctx.db.select().from(tasks).where(and(eq(tasks.id, taskId), eq(tasks.userId, userId))).get();
  if (!row) throw errors.notFound("task");
  return row;
}

/** What a task's tracker is made from, if it has not been yet (ADR 0025): the row the caller read. */
export function trackerInitOf(row: typeof tasks.$inferSelect): TrackerInit {
  return trackerInitFromRow(
    {
    id: row.id,
    user_id: row.userId,
    kind: row.kind,
    cost: row.cost,
    generation_id: row.generationId,
    take: row.take,
    voice_id: row.voiceId,
    created_at: row.createdAt.getTime(),
    status: row.status,
    error: row.error == null ? null : JSON.stringify(row.error),
    },
    row.input,
  );
}

/** The task's audio as one streaming body (the tracker's live path, ADR 0009): the owner's only. */
export async function openLiveAudio(ctx: RequestContext, userId: string, taskId: string, format: "pcm" | "wav"): Promise<Response> {
  const row = await getOwnedTask(ctx, userId, taskId);
  return trackerFor(ctx.env, taskId).fetch(
    new Request(`https://tracker.internal/live.${format}`, { headers: { "x-utter-user": userId, "x-utter-init": JSON.stringify(trackerInitOf(row)) } }),
  );
}

export async function getTaskSnapshot(ctx: RequestContext, userId: string, taskId: string): Promise<TaskSnapshot> {
  const row = await getOwnedTask(ctx, userId, taskId);
  return trackerFor(ctx.env, taskId).snapshot(trackerInitOf(row));
}

export async function cancelTask(ctx: RequestContext, userId: string, taskId: string) {
  const row = await getOwnedTask(ctx, userId, taskId);
  const outcome = await trackerFor(ctx.env, taskId).cancel(trackerInitOf(row));
  if (!outcome.cancelled) {
    throw errors.conflict("task_finished", `This task already ${outcome.status === "succeeded" ? "finished" : outcome.status}.`, { status: outcome.status });
  }
  if (outcome.callId) {
    const callId = outcome.callId;
    // The engine that holds the job, as recorded at dispatch (the current one for older rows).
    const engine = ctx.engines.client(row.engine);
    ctx.waitUntil(engine.cancel(callId).then((ok) => ctx.log.info("task.engine_cancel", { task_id: taskId, ok })));
  }
  ctx.log.info("task.cancelled", { task_id: taskId });
  return trackerFor(ctx.env, taskId).snapshot();
}

export async function listTasks(ctx: RequestContext, userId: string, opts: { status: "active" | "all"; cursor?: number; limit: number }) {
  const rows = await ctx.db
    .select({ task: tasks, voiceName: generations.voiceName })
    .from(tasks)
    .leftJoin(generations, and(eq(generations.id, tasks.generationId), eq(generations.userId, tasks.userId)))
    .where(
      and(
        eq(tasks.userId, userId),
        opts.status === "active" ? inArray(tasks.status, [...ACTIVE_STATES]) : undefined,
        opts.cursor ? lt(tasks.createdAt, new Date(opts.cursor)) : undefined,
      ),
    )
    .orderBy(desc(tasks.createdAt))
    .limit(opts.limit + 1)
    .all();
  const page = rows.slice(0, opts.limit);
  return {
    tasks: page.map(({ task: t, voiceName }) => ({
      id: t.id,
      kind: t.kind,
      status: t.status,
      generation_id: t.generationId,
      voice_id: t.voiceId,
      cost: t.cost,
      voice_name: voiceName,
      text_preview: (t.input as TaskInput).text.slice(0, 120),
      error: t.error as EngineError | null, // written only as an EngineError (tasks/settle.ts)
      created_at: t.createdAt.toISOString(),
      updated_at: t.updatedAt.toISOString(),
    })),
    next_cursor: rows.length > opts.limit && page.length ? String(page[page.length - 1]!.task.createdAt.getTime()) : null,
  };
}

