import { systemClock } from "../../clock.ts";
import { createEspeakSynthesizer } from "../../espeak-synth.ts";
import type { JobDeps } from "../../job-runner.ts";
import { silentLogger } from "../../log.ts";

/** What a job needs to run with real eSpeak against a fake Worker: quick retries, no pacing. */
export function espeakJobDeps(): JobDeps {
  return {
    fetch: globalThis.fetch,
    clock: systemClock,
    synthesize: createEspeakSynthesizer(),
    log: silentLogger,
    retry: { attempts: 2, baseDelayMs: 5, maxDelayMs: 10, timeoutMs: 30_000 },
    heartbeatMs: 5000,
    segmentDelayMs: 0,
  };
}
