/**
 * A wrapper around the Worker's bindings that records every call a request
 * makes to D1, R2, a Durable Object, the queue or a rate limiter — and, for
 * the bench, delays each one by a modelled network round trip. Tests and the
 * bench pass the wrapped env to the Worker's own handlers; the Worker itself
 * never sees this module.
 *
 * Sequential round trips are counted as "waves": a call that starts while
 * no other call is in flight begins a new one, so calls made concurrently
 * (Promise.all, a D1 batch) cost one.
 */
export interface ProbeCall {
  binding: string;
  op: string;
  /** For D1: the SQL of each statement (several for a batch), with its parameters. */
  statements?: { sql: string; params: unknown[] }[];
  start: number;
  end: number;
  /** Which wave of sequential round trips this call belongs to. */
  wave: number;
  /** D1 calls: whether they went to the primary (writes, batches, sessions that asked for it). */
  primary?: boolean;
}

export interface ProbeOptions {
  /** Added before every call completes (the bench's modelled distance to the binding). */
  delayMs?: number;
  /** Bindings whose calls are local to the edge (not a round trip to a region). */
  local?: string[];
  /** Keep queue messages (in `held`) instead of sending them, so the caller delivers them itself. */
  holdQueue?: boolean;
}

export interface Probe {
  env: Env;
  calls: ProbeCall[];
  /** Sequential waves of round trips so far (local bindings excluded). */
  waves(): number;
  /** Waves that include a D1 call to the primary. */
  primaryWaves(): number;
  reset(): void;
  statements(): { sql: string; params: unknown[] }[];
  /** Messages kept by `holdQueue`. */
  held: unknown[];
  /** The constraint or bookmark each D1 session was opened with. */
  sessions: string[];
}

const WRITE = /^\s*(insert|update|delete|replace|create|drop|alter)\b/i;

export function probeEnv(env: Env, opts: ProbeOptions = {}): Probe {
  const calls: ProbeCall[] = [];
  const local = new Set(opts.local ?? ["AUTH_LIMITER", "TASK_LIMITER", "UPLOAD_LIMITER"]);
  let inFlight = 0;
  let wave = 0;
  const sleep = (ms: number) => (ms > 0 ? new Promise((r) => setTimeout(r, ms)) : Promise.resolve());

  async function track<T>(binding: string, op: string, run: () => Promise<T>, extra: Partial<ProbeCall> = {}): Promise<T> {
    const isLocal = local.has(binding);
    if (!isLocal) {
      if (inFlight === 0) wave += 1;
      inFlight += 1;
    }
    const call: ProbeCall = { binding, op, start: performance.now(), end: 0, wave: isLocal ? 0 : wave, ...extra };
    calls.push(call);
    try {
      if (!isLocal) await sleep(opts.delayMs ?? 0);
      return await run();
    } finally {
      call.end = performance.now();
      if (!isLocal) inFlight -= 1;
    }
  }

  const sessions: string[] = [];
  const real = new WeakMap<object, D1PreparedStatement>();
  const info = new WeakMap<object, { sql: string; params: unknown[] }>();

  function wrapStatement(
    binding: string,
    stmt: D1PreparedStatement,
    sql: string,
    params: unknown[],
    primary: () => boolean,
  ): D1PreparedStatement {
    const wrapped = {
      bind: (...values: unknown[]) => wrapStatement(binding, stmt.bind(...values), sql, values, primary),
      first: (col?: string) =>
        track(binding, "first", () => (col === undefined ? stmt.first() : stmt.first(col)), {
          statements: [{ sql, params }],
          primary: primary() || WRITE.test(sql),
        }),
      all: () => track(binding, "all", () => stmt.all(), { statements: [{ sql, params }], primary: primary() || WRITE.test(sql) }),
      run: () => track(binding, "run", () => stmt.run(), { statements: [{ sql, params }], primary: primary() || WRITE.test(sql) }),
      raw: (o?: { columnNames?: boolean }) =>
        track(binding, "raw", () => (o?.columnNames ? stmt.raw({ columnNames: true }) : stmt.raw()) as Promise<unknown[]>, {
          statements: [{ sql, params }],
          primary: primary() || WRITE.test(sql),
        }),
    } as unknown as D1PreparedStatement;
    real.set(wrapped, stmt);
    info.set(wrapped, { sql, params });
    return wrapped;
  }

  function wrapD1(binding: string, db: D1Database | D1DatabaseSession, primary: () => boolean): D1Database {
    const wrapped = {
      prepare: (sql: string) => wrapStatement(binding, db.prepare(sql), sql, [], primary),
      batch: (stmts: D1PreparedStatement[]) =>
        track(binding, "batch", () => db.batch(stmts.map((s) => real.get(s) ?? s)), {
          statements: stmts.map((s) => info.get(s) ?? { sql: "?", params: [] }),
          primary: true,
        }),
      exec: (sql: string) =>
        track(binding, "exec", () => (db as D1Database).exec(sql), { statements: [{ sql, params: [] }], primary: true }),
      withSession: (constraint?: string) => {
        sessions.push(constraint ?? "first-unconstrained");
        const session = (db as D1Database).withSession(constraint as D1SessionConstraint);
        const onPrimary = constraint === "first-primary";
        const w = wrapD1(binding, session, () => onPrimary) as unknown as D1DatabaseSession;
        (w as { getBookmark: () => string | null }).getBookmark = () => session.getBookmark();
        return w;
      },
      dump: () => (db as D1Database).dump(),
    };
    return wrapped as unknown as D1Database;
  }

  function wrapObject<T extends object>(binding: string, target: T): T {
    return new Proxy(target, {
      get(t, prop) {
        const value = Reflect.get(t, prop) as unknown;
        if (typeof value !== "function") return value;
        return (...args: unknown[]) =>
          track(binding, String(prop), async () => (t as Record<string | symbol, (...a: unknown[]) => unknown>)[prop]!(...args));
      },
    });
  }

  function wrapNamespace(binding: string, ns: DurableObjectNamespace): DurableObjectNamespace {
    return new Proxy(ns, {
      get(t, prop) {
        const value = Reflect.get(t, prop) as unknown;
        if (prop === "get" || prop === "getByName") {
          return (...args: unknown[]) => {
            const stub = (value as (...a: unknown[]) => object).apply(t, args);
            return new Proxy(stub, {
              get(s, p) {
                const m = Reflect.get(s, p) as unknown;
                if (typeof m !== "function") return m;
                // RPC method stubs are proxies themselves (`.apply` would be an RPC call): call it as a method.
                return (...a: unknown[]) =>
                  track(binding, String(p), async () => (s as Record<string | symbol, (...x: unknown[]) => unknown>)[p]!(...a));
              },
            });
          };
        }
        return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(t) : value;
      },
    });
  }

  const held: unknown[] = [];
  const queue = opts.holdQueue
    ? ({
        send: (body: unknown) => track("TASKS", "send", async () => void held.push(body)),
        sendBatch: (msgs: { body: unknown }[]) => track("TASKS", "sendBatch", async () => void held.push(...msgs.map((m) => m.body))),
      } as unknown as Queue)
    : wrapObject("TASKS", env.TASKS);
  const wrappedEnv = {
    ...env,
    // Each hot request is measured on its own: the task's dispatch is one of them, not part of creating it.
    DISPATCH_ON_CREATE: "0",
    // Without a session every D1 query goes to the primary; a session may read from a replica.
    DB: wrapD1("DB", env.DB, () => true),
    AUDIO: wrapObject("AUDIO", env.AUDIO),
    TASKS: queue,
    TASK_TRACKER: wrapNamespace("TASK_TRACKER", env.TASK_TRACKER as unknown as DurableObjectNamespace),
    AUTH_LIMITER: wrapObject("AUTH_LIMITER", env.AUTH_LIMITER),
    TASK_LIMITER: wrapObject("TASK_LIMITER", env.TASK_LIMITER),
    UPLOAD_LIMITER: wrapObject("UPLOAD_LIMITER", env.UPLOAD_LIMITER),
  } as unknown as Env;

  return {
    env: wrappedEnv,
    calls,
    waves: () => new Set(calls.filter((c) => c.wave > 0).map((c) => c.wave)).size,
    primaryWaves: () => new Set(calls.filter((c) => c.wave > 0 && c.binding === "DB" && c.primary).map((c) => c.wave)).size,
    reset() {
      calls.length = 0;
      sessions.length = 0;
      wave = 0;
    },
    statements: () => calls.flatMap((c) => c.statements ?? []),
    held,
    sessions,
  };
}
