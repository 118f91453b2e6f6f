import type { AppConfig } from "../lib/config";
import { createEngineClient, type EngineClient } from "./client";

/** The engines the Worker can talk to, by the name `ENGINE` and `tasks.engine` use. */
export type EngineName = AppConfig["ENGINE"];

type EngineFactory = (config: AppConfig) => EngineClient;

/**
 * How each engine's client is built. Every engine speaks the same protocol
 * over HTTP at `ENGINE_URL` (the self-hosted one is the Modal engine's package
 * served by uvicorn, docs/engine.md); a new engine adds one entry here and its
 * name to `ENGINE` in worker/lib/config.ts.
 */
const FACTORIES: Record<EngineName, EngineFactory> = {
  local: (config) => createEngineClient(config),
  modal: (config) => createEngineClient(config),
  selfhosted: (config) => createEngineClient(config),
};

export interface EngineRegistry {
  /** The engine new tasks are dispatched to (`ENGINE`). */
  readonly current: EngineName;
  /**
   * The client for a task's recorded engine (`tasks.engine`), or the current
   * one for a task recorded before engines were named. Clients are built once.
   */
  client(name?: string | null): EngineClient;
}

export function createEngineRegistry(config: AppConfig, overrides: Partial<Record<EngineName, EngineClient>> = {}): EngineRegistry {
  const built = new Map<EngineName, EngineClient>();
  const known = (n: string | null | undefined): n is EngineName => !!n && Object.hasOwn(FACTORIES, n);
  return {
    current: config.ENGINE,
    client(name) {
      const engine = known(name) ? name : config.ENGINE;
      let client = built.get(engine);
      if (!client) {
        client = overrides[engine] ?? FACTORIES[engine](config);
        built.set(engine, client);
      }
      return client;
    },
  };
}
