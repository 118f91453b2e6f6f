import { ServerMessage } from "../tasks/messages";
import { trackerFor } from "../services/tasks";

/**
 * The Worker as a listener of its own task: a WebSocket to the task's Durable
 * Object (the same one a browser gets), read as an ordered stream of
 * messages. `next()` resolves with null once the socket closed.
 */
export class TaskFeed {
  private readonly queue: ServerMessage[] = [];
  private waiting: ((m: ServerMessage | null) => void) | null = null;
  private closed = false;

  private constructor(private readonly ws: WebSocket) {
    ws.addEventListener("message", (e) => {
      if (typeof e.data !== "string") return; // live PCM frames (protocol v2) are not read here
      const parsed = ServerMessage.safeParse(JSON.parse(e.data));
      if (parsed.success) this.push(parsed.data);
    });
    ws.addEventListener("close", () => this.end());
    ws.addEventListener("error", () => this.end());
  }

  static async open(env: Env, taskId: string, userId: string): Promise<TaskFeed> {
    const res = await trackerFor(env, taskId).fetch(new Request("https://tracker.internal/ws", { headers: { upgrade: "websocket", "x-utter-user": userId } }));
    if (!res.webSocket) throw new Error(`the task's tracker refused the socket (${res.status})`);
    res.webSocket.accept();
    return new TaskFeed(res.webSocket);
  }

  next(): Promise<ServerMessage | null> {
    const m = this.queue.shift();
    if (m) return Promise.resolve(m);
    if (this.closed) return Promise.resolve(null);
    return new Promise((resolve) => (this.waiting = resolve));
  }

  close(): void {
    try {
      this.ws.close(1000, "done");
    } catch {
      // already closed
    }
    this.end();
  }

  private push(m: ServerMessage) {
    const w = this.waiting;
    if (w) {
      this.waiting = null;
      w(m);
    } else this.queue.push(m);
  }

  private end() {
    this.closed = true;
    const w = this.waiting;
    this.waiting = null;
    w?.(null);
  }
}
