import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";
import { threadId } from "node:worker_threads";
import { runJob } from "../job-runner.ts";
import { silentLogger } from "../log.ts";
import { encodeMp3, encodeMp3InThread, MP3_KBPS } from "../mp3.ts";
import { encodeWav } from "../wav-codec.ts";
import { startFakeWorker, type FakeWorker } from "./support/fake-worker.ts";
import { syntheticSpeech, toneSynthesizer } from "./support/synthetic-audio.ts";
import { virtualClock } from "./support/virtual-clock.ts";

let worker: FakeWorker | undefined;
afterEach(async () => {
  await worker?.close();
  worker = undefined;
});

/** MPEG audio frame sync: 11 set bits (0xFFE…). */
const isFrameSync = (b: Uint8Array, i: number) => b[i] === 0xff && (b[i + 1]! & 0xe0) === 0xe0;

describe("MP3 of the final audio", () => {
  it("encodes MPEG frames at about the configured bitrate", async () => {
    const rate = 24_000;
    const seconds = 4;
    const samples = new Float32Array(rate * seconds).map((_, i) => 0.3 * Math.sin((2 * Math.PI * 220 * i) / rate));
    const mp3 = await encodeMp3(samples, rate);
    assert.ok(isFrameSync(mp3, 0), "starts with a frame header");
    const expected = (MP3_KBPS * 1000 * seconds) / 8;
    assert.ok(Math.abs(mp3.length - expected) / expected < 0.15, `${mp3.length} bytes vs ~${expected}`);
  });

  it("encodes in another thread, so the event loop keeps turning while it works", async () => {
    const rate = 24_000;
    const samples = new Float32Array(rate * 60).map((_, i) => 0.3 * Math.sin((2 * Math.PI * 180 * i) / rate));
    // Turns of the event loop during the encode: a blocking encode allows none until it is done
    // (the old in-loop encoder yielded once per 64 MPEG frames: about 20 turns for this clip).
    let turns = 0;
    let encoding = true;
    const spin = () => {
      turns++;
      if (encoding) setImmediate(spin);
    };
    setImmediate(spin);
    const { mp3, threadId: encoder } = await encodeMp3InThread(samples, rate);
    encoding = false;
    assert.notEqual(encoder, threadId, "encoded off the main thread");
    assert.ok(isFrameSync(mp3, 0));
    assert.ok(turns > 500, `the event loop turned ${turns} times during the encode`);
  });

  it("a generate job uploads final.mp3 after `completed`, as audio/mpeg", async () => {
    worker = await startFakeWorker({
      reference: { status: 200, body: encodeWav(syntheticSpeech(120, 3, 16000), 16000), contentType: "audio/wav" },
    });
    const outcome = await runJob(
      worker.job({ text: "One sentence. And another one here." }),
      {
        fetch: globalThis.fetch,
        clock: virtualClock(),
        synthesize: toneSynthesizer(),
        log: silentLogger,
        retry: { attempts: 3, baseDelayMs: 2, maxDelayMs: 10, timeoutMs: 5000 },
        heartbeatMs: 5000,
        segmentDelayMs: 0,
        encodeMp3,
      },
      new AbortController(),
    );
    assert.equal(outcome, "completed");
    const ops = worker.steps.map((s) => (s.op === "upload" ? `upload ${s.path}` : s.value.type));
    assert.ok(ops.indexOf("completed") < ops.indexOf("upload final.mp3"), ops.join(", "));
    const mp3 = worker.uploads.get("final.mp3");
    assert.ok(mp3 && isFrameSync(mp3, 0));
    assert.deepEqual(worker.violations, []);
  });
});
