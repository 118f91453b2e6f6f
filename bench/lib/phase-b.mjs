// Phase B: time to first playable audio with the real development engine.
// POST /api/generations, open the task socket as the browser does, fetch the
// first segment as soon as it is announced, and wait for `completed`.
import { readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { prose } from "./prose.mjs";
import { wavDurationMs } from "./wav.mjs";

/** One generation; every time is ms from just before the POST. */
export async function runGeneration({ client, voiceId, chars, engineLog, workerLog }) {
  const text = prose(chars);
  const wall0 = Date.now();
  const t0 = performance.now();
  const created = await client.post("/api/generations", { voice_id: voiceId, text, language: "en" });
  const tPost = performance.now() - t0;
  const sock = client.openTaskSocket(created.task_id);
  const snapshot = await sock.ready;
  const tSocket = performance.now() - t0;
  // A segment may already be in the snapshot if the socket opened late.
  const inSnapshot = snapshot.segments.find((s) => s.index === 0);
  const first = inSnapshot
    ? { at: sock.messages[0].at, msg: inSnapshot }
    : await sock.waitFor((m) => m.type === "segment" || m.type === "failed");
  if (first.msg.type === "failed") throw new Error(`generation failed: ${JSON.stringify(first.msg.error)}`);
  const seg0 = await client.fetchAll(first.msg.url);
  const done = await sock.done;
  const tDone = performance.now() - t0;
  sock.close();
  if (done.type !== "completed") throw new Error(`generation ended ${done.type}: ${JSON.stringify(done.error ?? done)}`);

  const segs = new Map(snapshot.segments.map((s) => [s.index, s]));
  for (const { msg } of sock.messages) if (msg.type === "segment") segs.set(msg.index, msg);
  const sumSegMs = [...segs.values()].reduce((a, s) => a + s.duration_ms, 0);
  const final = await client.fetchAll(done.result.audio_url);
  return {
    chars: text.length,
    taskId: created.task_id,
    post: tPost,
    socketOpen: tSocket,
    firstSegment: first.at - t0,
    playable: seg0.at - t0,
    completed: tDone,
    seg0Ms: wavDurationMs(seg0.bytes),
    seg0Bytes: seg0.bytes.length,
    segments: segs.size,
    sumSegMs,
    finalMs: done.result.duration_ms,
    finalWavMs: wavDurationMs(final.bytes),
    engine: engineLog ? engineTimes(engineLog, created.task_id, wall0) : null,
    upload0: workerLog ? uploadMs(workerLog, created.task_id) : null,
  };
}

/** How long the Worker took to take segment 0's PUT, from wrangler's request log. */
function uploadMs(logFile, taskId) {
  const m = new RegExp(`PUT /internal/engine/jobs/${taskId}/segments/0 201[^(]*\\((\\d+)ms\\)`).exec(readFileSync(logFile, "utf8"));
  return m ? Number(m[1]) : null;
}

/** From the dev engine's JSON log: when it got the job and had the voice (ms from the POST). */
function engineTimes(logFile, taskId, wall0) {
  const lines = readFileSync(logFile, "utf8")
    .split("\n")
    .filter((l) => l.includes(taskId));
  const find = (pred) => {
    for (const l of lines) {
      try {
        const j = JSON.parse(l);
        if (pred(j)) return Date.parse(j.time) - wall0;
      } catch {
        // not a JSON line
      }
    }
    return null;
  };
  return {
    submitted: find((j) => j.event === "job_submitted"),
    voiceReady: find((j) => j.event === "voice_resolved"),
  };
}
