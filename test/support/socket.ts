import { exports } from "cloudflare:workers";
import { listenerBinaryOf } from "../../worker/engine/frames";
import { ListenerText, ServerMessage } from "../../worker/tasks/messages";
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

/**
 * Opens the task socket as the browser would and collects every message (validated) and every
 * binary frame; a batch message (ADR 0027) is split into its frames and its text trailer (ADR 0031),
 * counted in `binaryMessages`.
 */
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
  const binaryMessages = { count: 0, batches: 0 };
  const textBatches = { count: 0 };
  const closed: { code: number | null } = { code: null };
  const waiters: (() => void)[] = [];
  socket.addEventListener("message", (e) => {
    const got: Received[] = [];
    const onText = (raw: string) => {
      // One message, or several as an array (ADR 0027).
      const text = ListenerText.parse(JSON.parse(raw));
      const list: ServerMessage[] = Array.isArray(text) ? text : [text];
      if (list.length > 1) textBatches.count++;
      for (const message of list) {
        messages.push(message);
        got.push({ kind: "json", message });
      }
    };
    if (typeof e.data === "string") onText(e.data);
    else {
      const parts = listenerBinaryOf(e.data as ArrayBuffer);
      if (!parts) throw new Error("a malformed frame batch");
      binaryMessages.count++;
      if (parts.frames.length > 1) binaryMessages.batches++;
      for (const bytes of parts.frames) {
        frames.push(bytes);
        got.push({ kind: "frame", bytes });
      }
      // The pass's JSON messages, after its frames (ADR 0031).
      if (parts.text !== null) onText(parts.text);
    }
    for (const r of got) {
      received.push(r);
      opts.onReceive?.(r);
    }
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
    binaryMessages,
    textBatches,
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
