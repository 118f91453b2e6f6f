import { describe, expect, it } from "vitest";
import { FanOut, messagesOf, type FanOutItem } from "../../durable-objects/fan-out";
import { encodeFrame, listenerBinaryOf } from "../../worker/engine/frames";

describe("fan-out queue", () => {
  it("sends every item to its listeners in order, a chunk at a time, with room for other work between chunks", async () => {
    const sockets = Array.from({ length: 150 }, (_, i) => ({ id: i }) as unknown as WebSocket);
    const got = new Map<WebSocket, string[]>();
    const log: string[] = [];
    let releases: (() => void)[] = [];
    const fan = new FanOut(
      (ws, batch) => {
        const list = got.get(ws) ?? [];
        list.push(...batch.map((item) => String(item.data)));
        got.set(ws, list);
        log.push("send");
      },
      {
        chunk: 64,
        pause: () => {
          log.push("pause");
          return new Promise<void>((r) => releases.push(r));
        },
      },
    );
    const item = (data: string, targets = sockets): FanOutItem => ({ data, targets, frame: null, segment: null, seq: 1 });
    fan.push(item("a"));
    // The first chunk went out inside push; the rest waits for the pause.
    expect(log.filter((l) => l === "send")).toHaveLength(64);
    // Work arriving now (an engine message, its ack) runs before the rest of the fan-out.
    log.push("ack");
    fan.push(item("b", sockets.slice(0, 10)));
    expect(log.filter((l) => l === "send")).toHaveLength(64);
    while (fan.pending) {
      const r = releases;
      releases = [];
      for (const f of r) f();
      await Promise.resolve();
      await new Promise((r2) => setTimeout(r2, 0));
    }
    expect(log.indexOf("ack")).toBe(65); // 64 sends, the pause, then the ack
    for (const [i, ws] of sockets.entries()) expect(got.get(ws)).toEqual(i < 10 ? ["a", "b"] : ["a"]);
  });

  it("sends what queued during a pass together: up to maxBatch frames and maxBatch JSON messages, a prefix of the queue", async () => {
    const sockets = Array.from({ length: 100 }, (_, i) => ({ id: i }) as unknown as WebSocket);
    const got = new Map<WebSocket, string[][]>();
    let releases: (() => void)[] = [];
    const fan = new FanOut(
      (ws, batch) => {
        const list = got.get(ws) ?? [];
        list.push(batch.map((item) => String(item.data)));
        got.set(ws, list);
      },
      { chunk: 64, pause: () => new Promise<void>((r) => releases.push(r)), maxBatch: 4 },
    );
    const frame = (n: number): FanOutItem => ({ data: `f${n}`, targets: sockets, frame: n, segment: 0, seq: null });
    const json = (seq: number): FanOutItem => ({ data: `j${seq}`, targets: sockets, frame: null, segment: null, seq });
    fan.push(frame(0)); // 64 listeners get it at once; the pass pauses
    for (const n of [1, 2, 3, 4, 5]) fan.push(frame(n));
    fan.push(json(9));
    fan.push(frame(6));
    fan.push(json(10));
    while (fan.pending) {
      const r = releases;
      releases = [];
      for (const f of r) f();
      await new Promise((r2) => setTimeout(r2, 0));
    }
    // Everything after f0 waited behind its pass: the next pass stops at the 4th frame; the one after
    // takes the rest, frames and JSON messages in their order (the tracker sends the frames first).
    for (const ws of sockets) expect(got.get(ws)).toEqual([["f0"], ["f1", "f2", "f3", "f4"], ["f5", "j9", "f6", "j10"]]);
  });

  it("sends a frame alone when nothing else waits", () => {
    const sockets = Array.from({ length: 3 }, (_, i) => ({ id: i }) as unknown as WebSocket);
    const sizes: number[] = [];
    const fan = new FanOut((_ws, batch) => sizes.push(batch.length));
    for (let n = 0; n < 5; n++) fan.push({ data: `f${n}`, targets: sockets, frame: n, segment: 0, seq: null });
    expect(sizes).toEqual(Array.from({ length: 15 }, () => 1));
    expect(fan.pending).toBe(0);
  });

  it("spaces passes by the send budget: a large pass waits and takes what arrived meanwhile; a small one never waits", async () => {
    let t = 1_000;
    const sleeps: number[] = [];
    let wake: (() => void) | null = null;
    const got: string[][] = [];
    const make = (listeners: number) => {
      const sockets = Array.from({ length: listeners }, (_, i) => ({ id: i }) as unknown as WebSocket);
      const fan = new FanOut((ws, batch) => ws === sockets[0] && got.push(batch.map((it) => String(it.data))), {
        chunk: 100_000,
        pause: () => Promise.resolve(),
        sendsPerSecond: 5_000,
        maxSpacingMs: 400,
        now: () => t,
        sleep: (ms) => {
          sleeps.push(ms);
          return new Promise<void>((r) => (wake = r));
        },
      });
      const frame = (n: number): FanOutItem => ({ data: `f${n}`, targets: sockets, frame: n, segment: 0, seq: null });
      return { fan, frame };
    };
    const settle = () => new Promise((r) => setTimeout(r, 0));

    // 1,000 listeners: passes at least 200 ms apart.
    const big = make(1_000);
    big.fan.push(big.frame(0)); // the first pass goes at once
    expect(got).toEqual([["f0"]]);
    t += 50;
    big.fan.push(big.frame(1)); // 50 ms later: waits the remaining 150 ms
    await settle();
    expect(sleeps).toEqual([150]);
    expect(got).toHaveLength(1);
    for (const n of [2, 3]) {
      t += 50;
      big.fan.push(big.frame(n));
    }
    t += 50;
    wake!();
    await settle();
    // One pass with the three frames that waited.
    expect(got).toEqual([["f0"], ["f1", "f2", "f3"]]);
    t += 500;
    big.fan.push(big.frame(4)); // long after the last pass: no wait
    await settle();
    expect(got[2]).toEqual(["f4"]);
    expect(sleeps).toEqual([150]);

    // 100 listeners: a 20 ms spacing, shorter than 50 ms between frames, so no pass ever waits.
    got.length = 0;
    sleeps.length = 0;
    const small = make(100);
    for (let n = 0; n < 5; n++) {
      small.fan.push(small.frame(n));
      await settle();
      t += 50;
    }
    expect(got).toEqual([0, 1, 2, 3, 4].map((n) => [`f${n}`]));
    expect(sleeps).toEqual([]);

    // 100,000 listeners: the spacing is capped (400 ms, not 20 s).
    const huge = make(100_000);
    huge.fan.push(huge.frame(0));
    huge.fan.push(huge.frame(1));
    await settle();
    expect(sleeps).toEqual([400]);
  });

  it("builds one message per listener and pass: frames with the JSON as the batch's trailer when it has both (ADR 0031)", () => {
    const frame = (n: number): FanOutItem => ({
      data: encodeFrame({ segment: 0, frame: n, segment_offset: n * 4, stream_offset: n * 4 }, [n, n, n, n]).buffer,
      targets: [],
      frame: n,
      segment: 0,
      seq: null,
    });
    const json = (seq: number): FanOutItem => ({ data: JSON.stringify({ type: "progress", seq, progress: 0.1, stage: "x" }), targets: [], frame: null, segment: null, seq });
    const bytes = (d: unknown) => [...new Uint8Array(d as ArrayBuffer)];

    // Both: one binary message, the frames in order, then the JSON (an array when several).
    const both = messagesOf([frame(0), frame(1)], [json(5), json(6)]);
    expect(both.json).toBeUndefined();
    const parts = listenerBinaryOf(both.frames as ArrayBuffer)!;
    expect(parts.frames.map((f) => [...f])).toEqual([bytes(frame(0).data), bytes(frame(1).data)]);
    expect(JSON.parse(parts.text!)).toEqual([JSON.parse(json(5).data as string), JSON.parse(json(6).data as string)]);
    // One frame and one message: still one binary message (a batch of one, with its trailer).
    const one = listenerBinaryOf(messagesOf([frame(3)], [json(7)]).frames as ArrayBuffer)!;
    expect(one.frames).toHaveLength(1);
    expect(one.text).toBe(json(7).data);
    // Frames alone and JSON alone are as before: a frame as it is, a batch, a text message.
    expect(messagesOf([frame(0)], [])).toEqual({ frames: frame(0).data, json: undefined });
    expect(listenerBinaryOf(messagesOf([frame(0), frame(1)], []).frames as ArrayBuffer)!.text).toBeNull();
    expect(messagesOf([], [json(5)])).toEqual({ frames: undefined, json: json(5).data });
  });
});
