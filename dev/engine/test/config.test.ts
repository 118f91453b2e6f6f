import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseEngineConfig } from "../config.ts";

describe("engine config", () => {
  it("defaults to 127.0.0.1:8788, the development token, 5 s heartbeats and no segment delay", () => {
    assert.deepEqual(parseEngineConfig({}), {
      port: 8788,
      host: "127.0.0.1",
      token: "dev-engine-token",
      segmentDelayMs: 0,
      heartbeatMs: 5000,
      realtime: false,
      failAt: 0,
    });
  });

  it("reads the environment", () => {
    const config = parseEngineConfig({
      DEV_ENGINE_PORT: "9000",
      ENGINE_TOKEN: "a-longer-secret",
      DEV_ENGINE_SEGMENT_DELAY_MS: "750",
      DEV_ENGINE_HEARTBEAT_MS: "1000",
      DEV_ENGINE_REALTIME: "1",
      DEV_ENGINE_FAIL_AT: "0.6",
    });
    assert.deepEqual(config, {
      port: 9000,
      host: "127.0.0.1",
      token: "a-longer-secret",
      segmentDelayMs: 750,
      heartbeatMs: 1000,
      realtime: true,
      failAt: 0.6,
    });
  });

  it("refuses bad values, naming them", () => {
    assert.throws(() => parseEngineConfig({ DEV_ENGINE_PORT: "eighty" }), /DEV_ENGINE_PORT/);
    assert.throws(() => parseEngineConfig({ DEV_ENGINE_SEGMENT_DELAY_MS: "-5" }), /DEV_ENGINE_SEGMENT_DELAY_MS/);
    assert.throws(() => parseEngineConfig({ ENGINE_TOKEN: "short" }), /ENGINE_TOKEN/);
    assert.throws(() => parseEngineConfig({ DEV_ENGINE_REALTIME: "yes" }), /DEV_ENGINE_REALTIME/);
    assert.throws(() => parseEngineConfig({ DEV_ENGINE_FAIL_AT: "1.5" }), /DEV_ENGINE_FAIL_AT/);
  });

  it("requires a real token when NODE_ENV is production", () => {
    assert.throws(() => parseEngineConfig({ NODE_ENV: "production" }), /ENGINE_TOKEN/);
  });
});
