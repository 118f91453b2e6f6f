import { describe, expect, it } from "vitest";
import { FanOut, type FanOutItem } from "../../durable-objects/fan-out";

describe("fan-out queue", () => {
  it("sends every item to its listeners in order, a chunk at a time, with room for other work between chunks", async () => {
    const sockets = Array.from({ length: 150 }, (_, i) => ({ id: i }) as unknown as WebSocket);
    const got = new Map<WebSocket, string[]>();
    const log: string[] = [];
    let releases: (() => void)[] = [];
    const fan = new FanOut(
      (ws, item) => {
        const list = got.get(ws) ?? [];
        list.push(String(item.data));
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
});
