/** One message for a set of listeners: a relayed frame (`frame` set) or a JSON message (`seq` set). */
export interface FanOutItem {
  data: string | ArrayBuffer;
  targets: WebSocket[];
  frame: number | null;
  segment: number | null;
  seq: number | null;
}

/**
 * Sends each item to its listeners in order, `chunk` sockets at a time,
 * yielding between chunks so the Durable Object can take the engine's next
 * message (and answer it) in the middle of a large fan-out (issue 16: the
 * engine's acknowledgements must not wait for 1,000 sends). Every listener
 * still gets the items in the order they were pushed. The first chunk goes
 * out at once, inside `push`.
 */
export class FanOut {
  private readonly queue: FanOutItem[] = [];
  private pos = 0;
  private running = false;

  constructor(
    private readonly send: (ws: WebSocket, item: FanOutItem) => void,
    private readonly chunk = 64,
    private readonly pause: () => Promise<void> = () => new Promise((r) => setTimeout(r, 0)),
  ) {}

  push(item: FanOutItem) {
    if (!item.targets.length) return;
    this.queue.push(item);
    if (!this.running) void this.run();
  }

  get pending(): number {
    return this.queue.length;
  }

  private async run() {
    this.running = true;
    try {
      let budget = this.chunk;
      while (this.queue.length) {
        const item = this.queue[0]!;
        while (this.pos < item.targets.length && budget > 0) {
          this.send(item.targets[this.pos++]!, item);
          budget--;
        }
        if (this.pos >= item.targets.length) {
          this.queue.shift();
          this.pos = 0;
        }
        if (budget <= 0 && this.queue.length) {
          await this.pause();
          budget = this.chunk;
        }
      }
    } finally {
      this.running = false;
    }
  }
}
