import { describe, expect, it } from "vitest";
import { FanOut, type FanOutItem } from "../../durable-objects/fan-out";

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
      64,
      () => {
        log.push("pause");
        return new Promise<void>((r) => releases.push(r));
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
      64,
      () => new Promise<void>((r) => releases.push(r)),
      4,
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
});
