import { exports } from "cloudflare:workers";
import { ServerMessage } from "../../worker/tasks/messages";
import { ORIGIN } from "./http";

function upgrade(taskId: string, cookie: string) {
  return exports.default.fetch(new Request(`${ORIGIN}/api/tasks/${taskId}/ws`, { headers: { upgrade: "websocket", cookie, origin: ORIGIN } }));
}

/** Attempts the upgrade and returns only the status (for refusal tests). */
export async function socketStatus(taskId: string, cookie: string): Promise<number> {
  const res = await upgrade(taskId, cookie);
  res.webSocket?.accept();
  res.webSocket?.close(1000, "done");
  return res.status;
}

/** One thing a listener received, in arrival order: a JSON message or a binary frame. */
export type Received = { kind: "json"; message: ServerMessage } | { kind: "frame"; bytes: Uint8Array };

/** Opens the task socket as the browser would and collects every message (validated) and every binary frame. */
export async function openTaskSocket(taskId: string, cookie: string, opts: { onReceive?: (r: Received) => void } = {}) {
  const res = await upgrade(taskId, cookie);
  if (res.status !== 101 || !res.webSocket) throw new Error(`socket refused: ${res.status}`);
  const socket = res.webSocket;
  // Binary frames as ArrayBuffers (workerd's default is Blob), so they are handled in arrival order.
  socket.binaryType = "arraybuffer";
  socket.accept();
  const messages: ServerMessage[] = [];
  const frames: Uint8Array[] = [];
  const received: Received[] = [];
  const closed: { code: number | null } = { code: null };
  const waiters: (() => void)[] = [];
  socket.addEventListener("message", (e) => {
    let r: Received;
    if (typeof e.data === "string") {
      const message = ServerMessage.parse(JSON.parse(e.data));
      messages.push(message);
      r = { kind: "json", message };
    } else {
      const bytes = new Uint8Array(e.data as ArrayBuffer);
      frames.push(bytes);
      r = { kind: "frame", bytes };
    }
    received.push(r);
    opts.onReceive?.(r);
    for (const w of waiters.splice(0)) w();
  });
  socket.addEventListener("close", (e) => {
    closed.code = e.code;
    for (const w of waiters.splice(0)) w();
  });
  return {
    status: 101,
    response: res,
    socket,
    messages,
    frames,
    received,
    closed,
    /** Asks the tracker for a fresh snapshot, as the browser does after a gap. */
    requestSnapshot() {
      socket.send(JSON.stringify({ type: "snapshot" }));
    },
    async waitForFrames(n: number, timeoutMs = 5000) {
      const started = Date.now();
      while (frames.length < n) {
        if (Date.now() - started > timeoutMs) throw new Error(`only ${frames.length} of ${n} frames arrived`);
        await new Promise<void>((r) => {
          waiters.push(r);
          setTimeout(r, 50);
        });
      }
      return frames;
    },
    async waitFor(pred: (m: ServerMessage) => boolean, timeoutMs = 5000): Promise<ServerMessage> {
      const started = Date.now();
      for (;;) {
        const hit = messages.find(pred);
        if (hit) return hit;
        if (Date.now() - started > timeoutMs) throw new Error(`no matching socket message; got ${JSON.stringify(messages.map((m) => m.type))}`);
        await new Promise<void>((r) => {
          waiters.push(r);
          setTimeout(r, 50);
        });
      }
    },
    close() {
      socket.close(1000, "done");
    },
  };
}
