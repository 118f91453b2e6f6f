/**
 * Product tables. Every row carries its owner's `user_id`; services filter by
 * it on every query (DESIGN §7). Times are epoch milliseconds.
 */
import { sql } from "drizzle-orm";
import { index, integer, primaryKey, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";
import { TASK_STATES } from "../tasks/lifecycle";
import { user } from "./auth-schema";

const now = sql`(cast(unixepoch('subsecond') * 1000 as integer))`;
const ownerId = () =>
  text("user_id")
    .notNull()
    .references(() => user.id, { onDelete: "cascade" });

export const voices = sqliteTable(
  "voices",
  {
    id: text("id").primaryKey(),
    userId: ownerId(),
    name: text("name").notNull(),
    language: text("language").notNull(),
    source: text("source", { enum: ["upload", "record", "design"] }).notNull(),
    transcript: text("transcript"),
    description: text("description"),
    referenceKey: text("reference_key").notNull(),
    referenceFormat: text("reference_format").notNull(),
    referenceMime: text("reference_mime").notNull(),
    durationMs: integer("duration_ms").notNull(),
    sizeBytes: integer("size_bytes").notNull(),
    favorite: integer("favorite", { mode: "boolean" }).notNull().default(false),
    usageCount: integer("usage_count").notNull().default(0),
    /** Set for voices saved from a design preview: saving twice is a no-op. */
    designTaskId: text("design_task_id").unique(),
    createdAt: integer("created_at", { mode: "timestamp_ms" }).notNull().default(now),
    updatedAt: integer("updated_at", { mode: "timestamp_ms" }).notNull().default(now),
  },
  (t) => [index("voices_user_created_idx").on(t.userId, t.createdAt)],
);

export { TASK_STATES };

export const tasks = sqliteTable(
  "tasks",
  {
    id: text("id").primaryKey(),
    userId: ownerId(),
    kind: text("kind", { enum: ["generate", "design_preview"] }).notNull(),
    status: text("status", { enum: TASK_STATES }).notNull().default("queued"),
    /** The generation this task produces (kind=generate): one of its takes (ADR 0022). */
    generationId: text("generation_id"),
    /** The take number within its generation, 1, 2, … (kind=generate); null for design previews (migration 0008). */
    take: integer("take"),
    voiceId: text("voice_id"),
    /** What the engine needs: text, language, instruct, seed, pause_ms. JSON. */
    input: text("input", { mode: "json" }).notNull(),
    cost: integer("cost").notNull(),
    progress: integer("progress_permille").notNull().default(0),
    stage: text("stage"),
    callId: text("call_id"),
    attempts: integer("attempts").notNull().default(0),
    /** `{code, message, retryable}` when failed. */
    error: text("error", { mode: "json" }),
    /** `{duration_ms, sample_rate, size_bytes, key}` when succeeded. */
    result: text("result", { mode: "json" }),
    segmentCount: integer("segment_count").notNull().default(0),
    createdAt: integer("created_at", { mode: "timestamp_ms" }).notNull().default(now),
    updatedAt: integer("updated_at", { mode: "timestamp_ms" }).notNull().default(now),
    startedAt: integer("started_at", { mode: "timestamp_ms" }),
    finishedAt: integer("finished_at", { mode: "timestamp_ms" }),
    /** Design previews are kept for a limited time. */
    expiresAt: integer("expires_at", { mode: "timestamp_ms" }),
    /** The dispatch invocation holding the claim (queue message id), until `leaseUntil`. */
    claimedBy: text("claimed_by"),
    leaseUntil: integer("lease_until", { mode: "timestamp_ms" }),
    /** The engine that accepted the job (a name in the engine registry), with its `callId`. */
    engine: text("engine"),
  },
  (t) => [
    index("tasks_user_status_idx").on(t.userId, t.status, t.createdAt),
    index("tasks_status_updated_idx").on(t.status, t.updatedAt),
    index("tasks_status_created_idx").on(t.status, t.createdAt),
    index("tasks_purge_idx").on(t.segmentCount, t.status, t.finishedAt),
    uniqueIndex("tasks_generation_take_idx").on(t.generationId, t.take),
  ],
);

export const generations = sqliteTable(
  "generations",
  {
    id: text("id").primaryKey(),
    userId: ownerId(),
    /** Null once the voice is deleted; the generation stays in history. */
    voiceId: text("voice_id").references(() => voices.id, { onDelete: "set null" }),
    voiceName: text("voice_name").notNull(),
    /** The preferred take's task (ADR 0022): status, audio_key, duration and error below are that take's. */
    taskId: text("task_id").notNull(),
    text: text("text").notNull(),
    language: text("language").notNull(),
    status: text("status", { enum: TASK_STATES }).notNull().default("queued"),
    audioKey: text("audio_key"),
    durationMs: integer("duration_ms"),
    sizeBytes: integer("size_bytes"),
    sampleRate: integer("sample_rate"),
    cost: integer("cost").notNull(),
    error: text("error", { mode: "json" }),
    createdAt: integer("created_at", { mode: "timestamp_ms" }).notNull().default(now),
    completedAt: integer("completed_at", { mode: "timestamp_ms" }),
  },
  (t) => [
    index("generations_user_created_idx").on(t.userId, t.createdAt),
    index("generations_voice_idx").on(t.voiceId),
    index("generations_task_idx").on(t.taskId),
  ],
);

/**
 * Durable outputs of a task, one row per artifact (ADR 0009, migration 0004):
 * kinds from worker/engine/artifacts.ts; `idx` -1 for unindexed kinds.
 */
export const taskArtifacts = sqliteTable(
  "task_artifacts",
  {
    taskId: text("task_id").notNull(),
    userId: ownerId(),
    kind: text("kind").notNull(),
    idx: integer("idx").notNull().default(-1),
    r2Key: text("r2_key").notNull(),
    contentType: text("content_type").notNull(),
    /** Null only for rows backfilled from before this table. */
    sizeBytes: integer("size_bytes"),
    createdAt: integer("created_at", { mode: "timestamp_ms" }).notNull(),
  },
  (t) => [primaryKey({ columns: [t.taskId, t.kind, t.idx] }), index("task_artifacts_user_idx").on(t.userId, t.taskId)],
);

export const LEDGER_KINDS = ["grant", "purchase", "reserve", "capture", "release", "refund", "dispute", "adjustment"] as const;

/**
 * Append-only (triggers in migrations forbid UPDATE and DELETE). The balance
 * is the sum of `delta`; `credit_balances` caches it, maintained by an
 * insert trigger so the two cannot drift. `idempotency_key` makes every
 * grant, reservation, capture, release and Stripe-driven entry happen at most once.
 */
export const creditLedger = sqliteTable(
  "credit_ledger",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    userId: ownerId(),
    delta: integer("delta").notNull(),
    kind: text("kind", { enum: LEDGER_KINDS }).notNull(),
    idempotencyKey: text("idempotency_key").notNull(),
    taskId: text("task_id"),
    note: text("note"),
    createdAt: integer("created_at", { mode: "timestamp_ms" }).notNull().default(now),
  },
  (t) => [uniqueIndex("credit_ledger_key_idx").on(t.idempotencyKey), index("credit_ledger_user_idx").on(t.userId, t.id)],
);

export const creditBalances = sqliteTable("credit_balances", {
  userId: text("user_id")
    .primaryKey()
    .references(() => user.id, { onDelete: "cascade" }),
  balance: integer("balance").notNull().default(0),
  /** The last ledger entry applied; triggers refuse any write that is not the next entry (migration 0006). */
  ledgerId: integer("ledger_id"),
});

/** Stripe events applied, keyed by event id: each is applied at most once. */
export const stripeEvents = sqliteTable("stripe_events", {
  id: text("id").primaryKey(),
  type: text("type").notNull(),
  receivedAt: integer("received_at", { mode: "timestamp_ms" }).notNull().default(now),
});

/**
 * A user's subscription as Stripe last described it (the object itself, not
 * event order). `user.plan` is derived from these rows (worker/billing/subscriptions.ts).
 */
export const subscriptions = sqliteTable(
  "subscriptions",
  {
    id: text("id").primaryKey(),
    userId: ownerId(),
    customerId: text("customer_id").notNull(),
    status: text("status").notNull(),
    plan: text("plan").notNull(),
    /** The Stripe price the plan was read from (null for the provisional row written at checkout). */
    priceId: text("price_id"),
    currentPeriodStart: integer("current_period_start", { mode: "timestamp_ms" }),
    currentPeriodEnd: integer("current_period_end", { mode: "timestamp_ms" }),
    cancelAtPeriodEnd: integer("cancel_at_period_end", { mode: "boolean" }).notNull().default(false),
    /** Stripe's `created`/event ordering guard: the newest object version wins. */
    stripeUpdatedAt: integer("stripe_updated_at").notNull(),
    /**
     * Sortable version of the stored object: `<terminal 0|1>:<event.created, 12 digits>:<event id>`.
     * An update is written only when its version is greater, so the final row
     * does not depend on delivery order (docs/decisions/0006-stripe-billing.md).
     */
    version: text("version").notNull().default(""),
    /** The event whose object this row holds. */
    eventId: text("event_id"),
    /** Set on every write (SQLite cannot add a column with an expression default). */
    updatedAt: integer("updated_at", { mode: "timestamp_ms" }),
  },
  (t) => [index("subscriptions_user_idx").on(t.userId, t.status)],
);

/**
 * Payments that bought credits (a pack's Checkout session, a plan invoice),
 * so a later refund or dispute can be traced back to the user and the
 * credits it bought. Written in the same batch as the ledger entry.
 */
export const stripePayments = sqliteTable(
  "stripe_payments",
  {
    /** The Checkout session (`cs_…`) or invoice (`in_…`) that was paid. */
    id: text("id").primaryKey(),
    userId: ownerId(),
    kind: text("kind", { enum: ["pack", "plan"] }).notNull(),
    /** The PaymentIntent that took the money, when known; refunds and disputes name it. */
    paymentIntentId: text("payment_intent_id").unique(),
    credits: integer("credits").notNull(),
    /** In the currency's minor unit (cents). */
    amount: integer("amount").notNull(),
    currency: text("currency").notNull(),
    createdAt: integer("created_at", { mode: "timestamp_ms" }).notNull().default(now),
  },
  (t) => [index("stripe_payments_user_idx").on(t.userId)],
);

export const apiKeys = sqliteTable(
  "api_keys",
  {
    id: text("id").primaryKey(),
    userId: ownerId(),
    name: text("name").notNull(),
    /** SHA-256 of the key; the key itself is shown once. */
    hash: text("hash").notNull().unique(),
    prefix: text("prefix").notNull(),
    /** Space-separated API_KEY_SCOPES (worker/auth/scopes.ts); existing keys got all four (ADR 0015). */
    scopes: text("scopes").notNull().default("speech voices:read voices:write history"),
    createdAt: integer("created_at", { mode: "timestamp_ms" }).notNull().default(now),
    lastUsedAt: integer("last_used_at", { mode: "timestamp_ms" }),
  },
  (t) => [index("api_keys_user_idx").on(t.userId)],
);
