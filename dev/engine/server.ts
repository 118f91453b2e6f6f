/**
 * Utter's development engine: protocols v1 and v2 (docs/engine-protocol.md,
 * ADR 0009) like the Modal GPU engine, with eSpeak NG standing in for the voice-cloning model.
 * `npm run dev` starts it beside `wrangler dev`; alone: `node dev/engine/server.ts`.
 *
 * eSpeak NG (@echogarden/espeak-ng-emscripten) is GPL-3.0. It runs only in
 * this separate process, which the Worker reaches over HTTP; it is never
 * imported by, or bundled into, the Worker.
 */
import { encodeMp3 } from "./mp3.ts";
import { DEFAULT_RETRY } from "./callback-client.ts";
import { systemClock } from "./clock.ts";
import { parseEngineConfig } from "./config.ts";
import { createEspeakSynthesizer, warmUpEspeak } from "./espeak-synth.ts";
import { createEngineHttpServer } from "./http-server.ts";
import { createJobRegistry } from "./job-registry.ts";
import { runJob } from "./job-runner.ts";
import { createJsonLogger, errorMessage } from "./log.ts";

const log = createJsonLogger();
let config;
try {
  config = parseEngineConfig(process.env);
} catch (err) {
  log.error("config_invalid", { error: errorMessage(err) });
  process.exit(1);
}

const synthesize = createEspeakSynthesizer();
const deps = {
  fetch: globalThis.fetch,
  clock: systemClock,
  synthesize,
  log,
  retry: DEFAULT_RETRY,
  heartbeatMs: config.heartbeatMs,
  segmentDelayMs: config.segmentDelayMs,
  realtime: config.realtime,
  failAt: config.failAt,
  encodeMp3,
};
const registry = createJobRegistry({ run: (job, control) => runJob(job, deps, control), log });
const server = createEngineHttpServer({ token: config.token, registry, log });

server.listen(config.port, config.host, () => {
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : config.port;
  log.info("listening", {
    url: `http://${config.host}:${port}`,
    heartbeat_ms: config.heartbeatMs,
    segment_delay_ms: config.segmentDelayMs,
    realtime: config.realtime,
    ...(config.failAt > 0 ? { fail_at: config.failAt } : {}),
  });
});
// Load eSpeak's voice data now rather than on the first job.
warmUpEspeak().then(
  (ms) => log.info("espeak_ready", { load_ms: ms }),
  (err: unknown) => log.error("espeak_unavailable", { error: errorMessage(err) }),
);

let stopping = false;
async function stop(signal: string) {
  if (stopping) return;
  stopping = true;
  log.info("stopping", { signal, active_jobs: registry.activeCount() });
  server.close();
  // Running jobs report engine_unavailable instead of leaving the Worker to time out.
  await Promise.race([registry.shutdown(), systemClock.sleep(3000)]);
  process.exit(0);
}
process.on("SIGINT", () => void stop("SIGINT"));
process.on("SIGTERM", () => void stop("SIGTERM"));
