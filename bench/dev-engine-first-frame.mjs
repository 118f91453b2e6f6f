#!/usr/bin/env node
// Dev engine, protocol v2: time from the `started` event leaving the engine to
// its first audio frame leaving it (issue 10: "within a few tens of ms"), with
// real eSpeak and a 12 s reference WAV, against the fake Worker on loopback.
// Prints figures; not a test.   node bench/dev-engine-first-frame.mjs [--runs=N] [--chars=N]
import { DEFAULT_RETRY } from "../dev/engine/callback-client.ts";
import { systemClock } from "../dev/engine/clock.ts";
import { createEspeakSynthesizer, warmUpEspeak } from "../dev/engine/espeak-synth.ts";
import { runJob } from "../dev/engine/job-runner.ts";
import { silentLogger } from "../dev/engine/log.ts";
import { startFakeWorker } from "../dev/engine/test/support/fake-worker.ts";
import { prose, voiceLikeWav } from "../test/smoke/http-client.mjs";

const arg = (name, fallback) => Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.split("=")[1] ?? fallback);
const runs = arg("runs", 10);
const chars = arg("chars", 5000);

await warmUpEspeak();
const synthesize = createEspeakSynthesizer();
const gaps = [];
for (let i = 0; i < runs; i++) {
  let startedAt = null;
  let firstFrameAt = null;
  class TimedWebSocket extends WebSocket {
    send(data) {
      if (typeof data === "string" && startedAt === null && data.includes('"started"')) startedAt = performance.now();
      if (typeof data !== "string" && firstFrameAt === null) firstFrameAt = performance.now();
      super.send(data);
    }
  }
  const worker = await startFakeWorker({ reference: { status: 200, body: new Uint8Array(voiceLikeWav(12)), contentType: "audio/wav" } });
  const outcome = await runJob(
    worker.jobV2({ job_id: `bench_${i}`, text: prose(chars) }),
    {
      fetch,
      clock: systemClock,
      synthesize,
      log: silentLogger,
      retry: DEFAULT_RETRY,
      heartbeatMs: 5000,
      segmentDelayMs: 0,
      WebSocket: TimedWebSocket,
    },
    new AbortController(),
  );
  await worker.close();
  if (outcome !== "completed" || startedAt === null || firstFrameAt === null) throw new Error(`run ${i}: ${outcome}`);
  gaps.push(firstFrameAt - startedAt);
}
// The first run analyses the reference; later runs with the same voice reuse the analysis (as in `npm run dev`).
const [first, ...rest] = gaps;
rest.sort((a, b) => a - b);
const q = (p) => rest[Math.min(rest.length - 1, Math.floor(p * rest.length))].toFixed(1);
console.log(`dev engine v2, ${chars} chars: started → first frame sent`);
console.log(`  first job with the voice (reference analysed): ${first.toFixed(1)} ms`);
if (rest.length)
  console.log(
    `  next ${rest.length} jobs: median ${q(0.5)} ms, p90 ${q(0.9)} ms, min ${rest[0].toFixed(1)} ms, max ${rest.at(-1).toFixed(1)} ms`,
  );
