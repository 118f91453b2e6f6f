// Phase A: engine event → client latency. The bench is the engine: it sends a
// generation's events to the Worker and times when a WebSocket client and a
// polling client (GET /api/tasks/:id every few seconds) first see each one.
import { performance } from "node:perf_hooks";
import { prose } from "./prose.mjs";
import { JobDriver } from "./stub-engine.mjs";
import { summary } from "./stats.mjs";
import { toneWav } from "./wav.mjs";
import { sleep } from "./procs.mjs";

export async function runPhaseA({
  client,
  stub,
  voiceId,
  events = 200,
  segmentEvery = 10,
  pollMs = 3000,
  segmentMs = 15_000,
  log = console.log,
}) {
  const created = await client.post("/api/generations", { voice_id: voiceId, text: prose(1000), language: "en" });
  const taskId = created.task_id;
  const sock = client.openTaskSocket(taskId);
  const poller = client.pollTask(taskId, pollMs);
  const snapshot = await sock.ready;
  const job = await stub.waitForJob(taskId);
  // Let the consumer's `dispatched` report land first, so it is not racing our first event.
  if (snapshot.task.status === "queued") await Promise.race([sock.waitFor((m) => m.type === "status"), sleep(2000)]);

  const d = new JobDriver(job);
  const segmentWav = toneWav(segmentMs, job.output.sample_rate);
  const uploads = [];
  const segments = Math.floor(events / segmentEvery);
  log(
    `  task ${taskId}: sending started + ${events} progress + ${segments} segment events (${(segmentWav.length / 1024).toFixed(0)} KiB uploads), polling every ${pollMs / 1000} s`,
  );
  await d.event({ type: "started", segments_total: segments });
  for (let i = 1; i <= events; i++) {
    await sleep(25 + Math.random() * 25);
    if (i % segmentEvery === 0) {
      const index = i / segmentEvery - 1;
      const t = performance.now();
      await d.upload(`segments/${index}`, segmentWav);
      uploads.push(performance.now() - t);
      await d.event({ type: "segment", index, duration_ms: segmentMs });
    }
    // Distinct, increasing values: the value itself identifies the event on the socket and in polls.
    await d.event({ type: "progress", progress: i / (events + 1), stage: "generating" });
  }
  const finalWav = toneWav(segmentMs * segments, job.output.sample_rate);
  await d.upload("final", finalWav);
  await d.event({ type: "completed", duration_ms: segmentMs * segments, sample_rate: job.output.sample_rate, size_bytes: finalWav.length });
  await sock.done;
  await poller.done;
  sock.close();
  return analyse({ sent: d.sent, messages: sock.messages, polls: poller.polls, uploads, segmentBytes: segmentWav.length, taskId, pollMs });
}

function analyse({ sent, messages, polls, uploads, segmentBytes, taskId, pollMs }) {
  const snap = messages[0];
  const after = messages.slice(1);
  let gaps = 0;
  let nonIncreasing = 0;
  let prev = snap.msg.seq;
  for (const { msg } of after) {
    if (msg.seq <= prev) nonIncreasing += 1;
    else if (msg.seq !== prev + 1) gaps += msg.seq - prev - 1;
    prev = msg.seq;
  }
  const wsFor = (e) => {
    const hit = after.find(({ msg }) =>
      e.type === "started"
        ? msg.type === "progress" && msg.stage === "started"
        : e.type === "progress"
          ? msg.type === "progress" && msg.progress === e.progress
          : e.type === "segment"
            ? msg.type === "segment" && msg.index === e.index
            : msg.type === e.type,
    );
    return hit ? hit.at - e.sent : null;
  };
  const pollFor = (e) => {
    const hit = polls.find((p) =>
      e.type === "progress"
        ? p.progress >= e.progress
        : e.type === "segment"
          ? p.segments >= e.index + 1
          : e.type === "completed"
            ? p.status === "succeeded"
            : p.status !== "queued" && p.status !== "dispatched",
    );
    return hit ? hit.at - e.sent : null;
  };
  const pick = (type, f) => sent.filter((e) => e.type === type).map(f);
  const lost = sent.filter((e) => wsFor(e) === null);
  const beforeAck = sent.filter((e) => wsFor(e) !== null && e.sent + wsFor(e) < e.acked).length;
  const clean = (xs) => xs.filter((x) => x !== null);
  return {
    taskId,
    pollMs,
    eventsSent: sent.length,
    byType: Object.fromEntries(["started", "progress", "segment", "completed"].map((t) => [t, sent.filter((e) => e.type === t).length])),
    wsMessages: messages.length,
    wsTypes: messages.reduce((acc, { msg }) => ((acc[msg.type] = (acc[msg.type] ?? 0) + 1), acc), {}),
    seqFirst: snap.msg.seq,
    seqLast: prev,
    seqGaps: gaps,
    seqNonIncreasing: nonIncreasing,
    lostEvents: lost.map((e) => `${e.type}#${e.seq}`),
    wsBeforeAck: beforeAck,
    polls: polls.length,
    pollDistinctProgress: new Set(polls.map((p) => p.progress).filter((v) => sent.some((e) => e.type === "progress" && e.progress === v)))
      .size,
    durationMs: sent.at(-1).acked - sent[0].sent,
    ws: {
      progress: summary(clean(pick("progress", wsFor))),
      segment: summary(clean(pick("segment", wsFor))),
      all: summary(clean(sent.map(wsFor))),
    },
    poll: {
      progress: summary(clean(pick("progress", pollFor))),
      segment: summary(clean(pick("segment", pollFor))),
    },
    ack: summary(sent.map((e) => e.acked - e.sent)),
    upload: { ...summary(uploads), bytes: segmentBytes },
  };
}
