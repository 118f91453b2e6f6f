/**
 * MP3 of the final audio, for the download button (the protocol's optional
 * `final.mp3` / v2 `final_mp3` artifact). lamejs is pure JavaScript
 * (LGPL-3.0, like eSpeak it stays in this separate process) and slow — about
 * 70× real time here — so it runs after `completed`, in a worker thread: the
 * event loop keeps serving other jobs' heartbeats, frames and uploads while
 * it encodes. One thread, started on first use and unref'd (it never keeps
 * the process alive); encodes queue on it in order.
 */
import { Worker } from "node:worker_threads";

export { MP3_KBPS } from "./mp3-encode.ts";

export type Mp3EncodeFn = (samples: Float32Array, sampleRate: number) => Promise<Uint8Array>;

type Reply = { id: number; mp3?: Uint8Array; threadId?: number; error?: string };

let worker: Worker | undefined;
let nextId = 0;
const waiting = new Map<number, { resolve(r: Reply): void; reject(e: Error): void }>();

function thread(): Worker {
  if (worker) return worker;
  const w = new Worker(new URL("./mp3-worker.ts", import.meta.url));
  w.unref();
  w.on("message", (reply: Reply) => {
    const wait = waiting.get(reply.id);
    waiting.delete(reply.id);
    if (waiting.size === 0) w.unref();
    wait?.resolve(reply);
  });
  const fail = (err: Error) => {
    worker = undefined;
    for (const w of waiting.values()) w.reject(err);
    waiting.clear();
  };
  w.on("error", fail);
  w.on("exit", (code) => fail(new Error(`the MP3 thread exited (${code})`)));
  worker = w;
  return w;
}

/** Encodes in the MP3 thread; resolves with the bytes and the thread that made them. */
export async function encodeMp3InThread(samples: Float32Array, sampleRate: number): Promise<{ mp3: Uint8Array; threadId: number }> {
  const w = thread();
  const id = nextId++;
  const reply = await new Promise<Reply>((resolve, reject) => {
    waiting.set(id, { resolve, reject });
    // Pending work keeps the process alive until it is answered.
    w.ref();
    // A copy goes over (the caller keeps its samples); structured clone of a typed array is one memcpy.
    w.postMessage({ id, samples, sampleRate });
  });
  if (reply.error !== undefined || !reply.mp3) throw new Error(`MP3 encode failed: ${reply.error ?? "no output"}`);
  return { mp3: new Uint8Array(reply.mp3), threadId: reply.threadId ?? -1 };
}

export const encodeMp3: Mp3EncodeFn = async (samples, sampleRate) => (await encodeMp3InThread(samples, sampleRate)).mp3;
