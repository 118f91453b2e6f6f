import { createAuth, type Auth } from "./auth/auth";
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
  /** Lazily built: most requests never touch better-auth. */
  auth(): Auth;
  /** Schedules work that may outlive the response. */
  waitUntil(promise: Promise<unknown>): void;
}

export function createRequestContext(env: Env, exec: Pick<ExecutionContext, "waitUntil">, requestId: string): RequestContext {
  const config = getConfig(env);
  const db = createDb(env.DB);
  const log = createLogger({ request_id: requestId });
  let auth: Auth | undefined;
  return {
    env,
    config,
    db,
    log,
    requestId,
    engines: createEngineRegistry(config),
    auth: () => (auth ??= createAuth({ db, config, log })),
    waitUntil: (p) => exec.waitUntil(p),
  };
}

export function requestIdFrom(request: Request): string {
  const given = request.headers.get("cf-ray") ?? request.headers.get("x-request-id");
  return given && /^[A-Za-z0-9-]{1,64}$/.test(given) ? given : crypto.randomUUID();
}
