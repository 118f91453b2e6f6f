/**
 * Worker thread entry: encodes one MP3 per message, so lamejs (≈ 70× real
 * time, seconds for a long text) never runs on the engine's event loop.
 * In: `{id, samples: Float32Array, sampleRate}`; out: `{id, mp3, threadId}` or `{id, error}`.
 */
import { parentPort, threadId } from "node:worker_threads";
import { encodeMp3Sync } from "./mp3-encode.ts";

type Request = { id: number; samples: Float32Array; sampleRate: number };

parentPort?.on("message", ({ id, samples, sampleRate }: Request) => {
  try {
    const mp3 = encodeMp3Sync(samples, sampleRate);
    parentPort?.postMessage({ id, mp3, threadId }, [mp3.buffer as ArrayBuffer]);
  } catch (err) {
    parentPort?.postMessage({ id, error: err instanceof Error ? err.message : String(err) });
  }
});
