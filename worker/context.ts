import { authFor, type Auth } from "./auth/auth";
import { createDb, type Db } from "./db/client";
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
}

export interface RequestInfo {
  method?: string;
}

export function createRequestContext(env: Env, exec: Pick<ExecutionContext, "waitUntil">, requestId: string, request: RequestInfo = {}): RequestContext {
  const config = getConfig(env);
  const db = createDb(env.DB);
  const log = createLogger({ request_id: requestId });
  return {
    env,
    config,
    db,
    log,
    requestId,
    engines: createEngineRegistry(config),
    // One instance per isolate: its database client and logger carry no request state.
    auth: () => authFor(env, { db: createDb(env.DB), config, log: createLogger({ component: "auth" }) }),
    waitUntil: (p) => exec.waitUntil(p),
    freshSession: !["GET", "HEAD", "OPTIONS"].includes((request.method ?? "GET").toUpperCase()),
    responseCookies: [],
  };
}

export function requestIdFrom(request: Request): string {
  const given = request.headers.get("cf-ray") ?? request.headers.get("x-request-id");
  return given && /^[A-Za-z0-9-]{1,64}$/.test(given) ? given : crypto.randomUUID();
}
