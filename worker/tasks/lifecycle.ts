/**
 * The task lifecycle, said once (DESIGN §3, §5): states, which are terminal
 * or active, the socket message types and the stages a task passes through.
 *
 * Free of zod and of Worker-only imports on purpose: the Durable Object, the
 * services, the SQL, the browser bundle and the development engine (plain Node
 * with type stripping) all import it. The zod schemas that validate messages
 * build on these lists (worker/engine/protocol.ts, worker/tasks/messages.ts).
 */

export const TASK_STATES = ["queued", "dispatched", "running", "succeeded", "failed", "cancelled"] as const;
export type TaskState = (typeof TASK_STATES)[number];

export const TERMINAL_STATES = ["succeeded", "failed", "cancelled"] as const satisfies readonly TaskState[];
export type TerminalState = (typeof TERMINAL_STATES)[number];

export const ACTIVE_STATES = ["queued", "dispatched", "running"] as const satisfies readonly TaskState[];
export type ActiveState = (typeof ACTIVE_STATES)[number];

export function isTerminal(state: TaskState | string): state is TerminalState {
  return (TERMINAL_STATES as readonly string[]).includes(state);
}

export function isActive(state: TaskState | string): state is ActiveState {
  return (ACTIVE_STATES as readonly string[]).includes(state);
}

/** `('succeeded', 'failed', 'cancelled')`, for SQL written by hand. */
export const sqlList = (states: readonly string[]) => `(${states.map((s) => `'${s}'`).join(", ")})`;
export const TERMINAL_SQL = sqlList(TERMINAL_STATES);
export const ACTIVE_SQL = sqlList(ACTIVE_STATES);

/** JSON messages a task's Durable Object sends its listeners (DESIGN §5, ADR 0009). Binary frames have no type. */
export const SERVER_MESSAGE_TYPES = ["snapshot", "status", "progress", "segment", "artifact", "completed", "failed", "cancelled", "resync"] as const;
export type ServerMessageType = (typeof SERVER_MESSAGE_TYPES)[number];

/** The one request a listener makes on its socket. */
export const CLIENT_REQUEST_SNAPSHOT = "snapshot" as const;

/** Stages the tracker itself names; engines report their own (`generating`, `stitching`, …) in `progress`. */
export const STAGES = { started: "started" } as const;

/** Close codes the tracker uses (ADR 0009). */
export const CLOSE_CODES = {
  /** Engine socket. */
  malformed: 4400,
  badToken: 4401,
  otherJob: 4403,
  outOfOrder: 4409,
  tooLarge: 4413,
  taskEnded: 4009,
  superseded: 4000,
  /** Listener socket: it fell behind and must resync from a fresh snapshot. */
  behind: 4408,
} as const;
