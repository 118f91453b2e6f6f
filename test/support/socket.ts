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

/** Opens the task socket as the browser would and collects every message, validated. */
export async function openTaskSocket(taskId: string, cookie: string) {
  const res = await upgrade(taskId, cookie);
  if (res.status !== 101 || !res.webSocket) throw new Error(`socket refused: ${res.status}`);
  const socket = res.webSocket;
  socket.accept();
  const messages: ServerMessage[] = [];
  const waiters: (() => void)[] = [];
  socket.addEventListener("message", (e) => {
    messages.push(ServerMessage.parse(JSON.parse(String(e.data))));
    for (const w of waiters.splice(0)) w();
  });
  return {
    status: 101,
    response: res,
    socket,
    messages,
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
