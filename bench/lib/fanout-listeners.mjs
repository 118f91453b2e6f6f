// The fan-out bench's listeners, on their own thread (bench/live-fanout.mjs): 1,000 sockets receiving
// 20 frames/s each keep an event loop busy, and on the engine's thread that delay was counted as the
// Worker's acknowledgement time. Each listener checks frame numbers arrive 0, 1, 2, … with no gap or repeat.
// The sockets are lean raw clients (./raw-ws-listener.mjs) that offer no compression: a browser's
// inflating is done on its own machine, and here it was most of the listeners' CPU.
import { readlinkSync } from "node:fs";
import { setPriority } from "node:os";
import { parentPort, workerData } from "node:worker_threads";
import { listenerBinaryOf } from "../../worker/engine/frames.ts"; // a message may batch frames (ADR 0027) and carry JSON (ADR 0031)
import { openRawListener } from "./raw-ws-listener.mjs";

const { url, headers, listeners, nice } = workerData;
// --listeners-nice: this thread yields the CPU to the Worker's runtime (its garbage collector's helper
// threads included). The 1,000 listeners stand in for browsers on their own machines; on two cores
// they otherwise compete with the very runtime being timed. Linux: a thread's id is its own nice target.
if (nice) {
  try {
    setPriority(Number(readlinkSync("/proc/thread-self").split("/").pop()), 19);
  } catch (err) {
    console.warn(`--listeners-nice: could not lower the listeners' priority (${err.message}); they run at normal priority`);
  }
}
const got = [];
const sockets = [];

for (let i = 0; i < listeners; i += 50) {
  const batch = await Promise.all(
    Array.from({ length: Math.min(50, listeners - i) }, async () => {
      const ws = await openRawListener(url, headers);
      const rec = { frames: 0, next: 0, outOfOrder: 0, messages: 0, json: 0, jsonGaps: 0, seq: -1 };
      // JSON messages (one, or an array) on their own or as a batch's trailer; each seq should follow the last.
      const onText = (text) => {
        const parsed = JSON.parse(text);
        for (const m of Array.isArray(parsed) ? parsed : [parsed]) {
          if (typeof m.seq !== "number") continue;
          if (m.type === "snapshot") rec.seq = m.seq;
          else {
            if (rec.seq >= 0 && m.seq !== rec.seq + 1) rec.jsonGaps++;
            rec.seq = Math.max(rec.seq, m.seq);
            rec.json++;
          }
        }
      };
      ws.onMessage((type, data) => {
        if (type !== "binary") {
          const text = data.toString("utf8"); // a Buffer from the raw client
          if (text !== "pong") onText(text);
          return;
        }
        rec.messages++;
        const parts = listenerBinaryOf(data);
        for (const f of parts?.frames ?? []) {
          const n = new DataView(f.buffer, f.byteOffset, f.byteLength).getUint32(4, true);
          if (n !== rec.next) rec.outOfOrder++;
          rec.next = n + 1;
          rec.frames++;
        }
        if (parts?.text) onText(parts.text);
      });
      got.push(rec);
      return ws;
    }),
  );
  sockets.push(...batch);
}
parentPort.postMessage({ type: "ready" });

parentPort.on("message", (m) => {
  if (m.type === "count") {
    parentPort.postMessage({
      type: "count",
      complete: got.filter((r) => r.frames === m.total && r.outOfOrder === 0).length,
      delivered: got.reduce((a, r) => a + r.frames, 0),
      messages: got.reduce((a, r) => a + r.messages, 0),
      minFrames: got.length ? Math.min(...got.map((r) => r.frames)) : NaN,
      behind: got.filter((r) => r.frames < m.total).length,
      jsonMin: got.length ? Math.min(...got.map((r) => r.json)) : NaN,
      jsonMax: got.length ? Math.max(...got.map((r) => r.json)) : NaN,
      jsonGaps: got.reduce((a, r) => a + r.jsonGaps, 0),
    });
  } else if (m.type === "close") {
    for (const ws of sockets) ws.close();
    parentPort.postMessage({ type: "closed" });
  }
});
