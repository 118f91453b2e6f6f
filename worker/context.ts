import { authFor, type Auth } from "./auth/auth";
import { createDb, type Db } from "./db/client";
import { openD1Session } from "./db/d1-session";
import { createEngineRegistry, type EngineRegistry } from "./engine/registry";
import { getConfig, type AppConfig } from "./lib/config";
import { createLogger, type Logger } from "./lib/log";

/**
 * Everything a request needs, wired once per request and passed down to the
 * services, whether the caller is a Hono handler or a Remix loader/action.
 */
export interface RequestContext {
  env: Env;
  config: AppConfig;
  db: Db;
  log: Logger;
  requestId: string;
  /** Engine clients by name (`tasks.engine` names the one holding a task's job). */
  engines: EngineRegistry;
  /** Built on first use, once per isolate (ADR 0017): most requests never touch better-auth. */
  auth(): Auth;
  /** Schedules work that may outlive the response. */
  waitUntil(promise: Promise<unknown>): void;
  /**
   * Whether the session must be checked against its row (writes) rather than
   * the signed cookie cache (reads): a signed-out session can never write, and
   * reads it for at most SESSION_COOKIE_CACHE_S (ADR 0017).
   */
  freshSession: boolean;
  /** Set-Cookie values for the response (a refreshed session cache cookie); the entry points add them. */
  responseCookies: string[];
  /** Everything to set on the response: `responseCookies` and the D1 bookmark, once the request is done. */
  finish(): string[];
}

export interface RequestInfo {
  method?: string;
  /** The request's Cookie header: its D1 bookmark lets a person read their own writes. */
  cookie?: string | null;
}

export function createRequestContext(env: Env, exec: Pick<ExecutionContext, "waitUntil">, requestId: string, request: RequestInfo = {}): RequestContext {
  const config = getConfig(env);
  // One D1 session per request (reads from a replica, writes to the primary); services see it as env.DB.
  const d1 = openD1Session(env.DB, { method: request.method, cookie: request.cookie ?? null, secure: config.APP_URL.startsWith("https://") });
  const sessionEnv: Env = d1.db === env.DB ? env : { ...env, DB: d1.db };
  const db = createDb(d1.db);
  const log = createLogger({ request_id: requestId });
  const responseCookies: string[] = [];
  return {
    env: sessionEnv,
    config,
    db,
    log,
    requestId,
    engines: createEngineRegistry(config),
    // One instance per isolate: its database client and logger carry no request state.
    auth: () => authFor(env, { db: createDb(env.DB), config, log: createLogger({ component: "auth" }) }),
    waitUntil: (p) => exec.waitUntil(p),
    freshSession: !["GET", "HEAD", "OPTIONS"].includes((request.method ?? "GET").toUpperCase()),
    responseCookies,
    finish: () => {
      const bookmark = d1.bookmarkCookie();
      return bookmark ? [...responseCookies, bookmark] : [...responseCookies];
    },
  };
}

export function requestIdFrom(request: Request): string {
  const given = request.headers.get("cf-ray") ?? request.headers.get("x-request-id");
  return given && /^[A-Za-z0-9-]{1,64}$/.test(given) ? given : crypto.randomUUID();
}
