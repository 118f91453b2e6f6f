import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { EngineEvent, type TaskState } from "../../../worker/engine/protocol.ts";
import { CallbackError, type CallbackClient } from "../callback-client.ts";
import { createEventSender } from "../event-sender.ts";
import { JobStopped } from "../job-errors.ts";
import { silentLogger } from "../log.ts";

/** A turn of the event loop: long enough for a sender that does not wait its turn to start another request. */
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** A client that records each posted event and answers after `turns` turns of the event loop with the given state (no timers). */
function recordingClient(
  opts: { turns?: number; state?: (event: EngineEvent) => TaskState; fail?: (event: EngineEvent) => Error | undefined } = {},
) {
  const posted: EngineEvent[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const client: CallbackClient = {
    async request(_method, _url, body) {
      const event = EngineEvent.parse(JSON.parse(String(body?.bytes)));
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      for (let i = 0; i < (opts.turns ?? 1); i++) await turn();
      inFlight--;
      const failure = opts.fail?.(event);
      if (failure) throw failure;
      posted.push(event);
      const state = opts.state?.(event) ?? "running";
      return { status: 200, contentType: "application/json", body: new TextEncoder().encode(JSON.stringify({ accepted: true, state })) };
    },
  };
  return { client, posted, maxInFlight: () => maxInFlight };
}

const base = { jobId: "job_1", eventsUrl: "http://worker.test/events", log: silentLogger };

describe("event sender", () => {
  it("sends one event at a time with seq 0, 1, 2… in the order they were queued, heartbeats included", async () => {
    const rec = recordingClient({ turns: 3 });
    const sender = createEventSender({ ...base, client: rec.client, onStop() {} });
    const sends = [sender.send({ type: "started", segments_total: 3 })];
    sender.heartbeat();
    for (let i = 0; i < 3; i++) sends.push(sender.send({ type: "progress", progress: i / 3, stage: "synthesizing" }));
    await Promise.all(sends); // the first heartbeat has gone out, so the next one is not skipped
    sender.heartbeat();
    sends.push(sender.send({ type: "completed", duration_ms: 10, sample_rate: 24000, size_bytes: 100 }));
    await Promise.all(sends);
    assert.equal(rec.maxInFlight(), 1);
    assert.deepEqual(
      rec.posted.map((e) => e.seq),
      [0, 1, 2, 3, 4, 5, 6],
    );
    assert.deepEqual(
      rec.posted.map((e) => e.type),
      ["started", "heartbeat", "progress", "progress", "progress", "heartbeat", "completed"],
    );
  });

  it("skips a heartbeat while another is still waiting to go out", async () => {
    const rec = recordingClient({ turns: 5 });
    const sender = createEventSender({ ...base, client: rec.client, onStop() {} });
    const started = sender.send({ type: "started" });
    sender.heartbeat();
    sender.heartbeat();
    sender.heartbeat();
    await started;
    await sender.idle();
    assert.deepEqual(
      rec.posted.map((e) => e.type),
      ["started", "heartbeat"],
    );
  });

  it("refuses to send an event the protocol schema rejects, and sends nothing for it", async () => {
    const rec = recordingClient();
    const sender = createEventSender({ ...base, client: rec.client, onStop() {} });
    await assert.rejects(sender.send({ type: "progress", progress: 1.5, stage: "synthesizing" }), /invalid progress event/);
    await assert.rejects(sender.send({ type: "segment", index: -1, duration_ms: 5 }), /invalid segment event/);
    await sender.send({ type: "started" });
    assert.deepEqual(
      rec.posted.map((e) => [e.type, e.seq]),
      [["started", 0]],
    );
  });

  it("stops when an ack reports a terminal task state, and drops everything after", async () => {
    const rec = recordingClient({ state: (e) => (e.type === "progress" ? "cancelled" : "running") });
    const stops: string[] = [];
    const sender = createEventSender({ ...base, client: rec.client, onStop: (reason) => stops.push(reason) });
    await sender.send({ type: "started" });
    await sender.send({ type: "progress", progress: 0.1, stage: "synthesizing" });
    assert.equal(await sender.send({ type: "heartbeat" }), undefined);
    assert.equal(await sender.send({ type: "failed", error: { code: "internal", message: "x", retryable: false } }), undefined);
    assert.deepEqual(stops, ["the task is already cancelled"]);
    assert.deepEqual(
      rec.posted.map((e) => e.type),
      ["started", "progress"],
    );
  });

  it("stops without another event when the Worker refuses the token or the job (401/403/409)", async () => {
    for (const status of [401, 403, 409]) {
      const rec = recordingClient({ fail: (e) => (e.type === "progress" ? new CallbackError(`status ${status}`, status) : undefined) });
      const stops: string[] = [];
      const sender = createEventSender({ ...base, client: rec.client, onStop: (reason) => stops.push(reason) });
      await sender.send({ type: "started" });
      await assert.rejects(sender.send({ type: "progress", progress: 0.5, stage: "synthesizing" }), JobStopped);
      assert.equal(await sender.send({ type: "failed", error: { code: "internal", message: "x", retryable: true } }), undefined);
      assert.equal(stops.length, 1);
    }
  });

  it("sends nothing after the terminal event, not even a queued heartbeat", async () => {
    const rec = recordingClient({ turns: 2 });
    const sender = createEventSender({ ...base, client: rec.client, onStop() {} });
    const done = sender.send({ type: "failed", error: { code: "generation_failed", message: "boom", retryable: true } });
    sender.heartbeat();
    await done;
    await sender.send({ type: "progress", progress: 1, stage: "late" });
    assert.deepEqual(
      rec.posted.map((e) => e.type),
      ["failed"],
    );
  });

  it("lets the job report failed when its completed event could not be delivered", async () => {
    const rec = recordingClient({ fail: (e) => (e.type === "completed" ? new Error("network down") : undefined) });
    const sender = createEventSender({ ...base, client: rec.client, onStop() {} });
    await assert.rejects(sender.send({ type: "completed", duration_ms: 1, sample_rate: 24000, size_bytes: 44 }));
    await sender.send({ type: "failed", error: { code: "internal", message: "could not deliver", retryable: true } });
    assert.deepEqual(
      rec.posted.map((e) => [e.type, e.seq]),
      [["failed", 1]],
    );
  });
});
