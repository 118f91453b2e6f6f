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
 *
 * Items that queue up while a fan-out is under way go out together (ADR
 * 0027): a pass takes what waits at the head of the queue (up to `maxBatch`
 * frames and `maxBatch` JSON messages) and hands it to `send` at once, which
 * sends each listener one message for the frames and one for the JSON
 * messages, in that order. So a JSON message never reaches a listener before
 * a frame relayed before it, though frames may pass JSON messages queued
 * before them; frames keep their order, and JSON messages theirs. With few
 * listeners a pass ends before the next item arrives and every pass is one
 * item; with many, the number of sends per second stays what the object can
 * do, instead of a backlog that grows for as long as the engine streams.
 */
export class FanOut {
  private readonly queue: FanOutItem[] = [];
  private pass: { items: FanOutItem[]; targets: WebSocket[]; pos: number } | null = null;
  private running = false;

  constructor(
    private readonly send: (ws: WebSocket, batch: readonly FanOutItem[]) => void,
    /** Sockets per turn: with frames batched, a small turn answers the engine sooner without a growing backlog. */
    private readonly chunk = 16,
    private readonly pause: () => Promise<void> = () => new Promise((r) => setTimeout(r, 0)),
    /** At most this many frames (≈ 0.4 s of audio at 20 frames/s) and this many JSON messages per pass. */
    private readonly maxBatch = 8,
  ) {}

  push(item: FanOutItem) {
    if (!item.targets.length) return;
    this.queue.push(item);
    if (!this.running) void this.run();
  }

  /** Items not yet sent to all their listeners (the pass under way counts all its items). */
  get pending(): number {
    return this.queue.length + (this.pass?.items.length ?? 0);
  }

  /** Takes the next pass off the head of the queue: up to `maxBatch` frames and `maxBatch` JSON messages, in order. */
  private nextPass() {
    const items: FanOutItem[] = [];
    let frames = 0;
    let json = 0;
    for (let next = this.queue[0]; next; next = this.queue[0]) {
      if (next.frame !== null ? frames >= this.maxBatch : json >= this.maxBatch) break;
      if (next.frame !== null) frames++;
      else json++;
      items.push(this.queue.shift()!);
    }
    // A listener that joined during these items has a snapshot covering the earlier ones (the DO
    // skips what a snapshot covered); one that left is not in the latest list.
    return { items, targets: items[items.length - 1]!.targets, pos: 0 };
  }

  private async run() {
    this.running = true;
    try {
      let budget = this.chunk;
      while (this.pass || this.queue.length) {
        const pass = (this.pass ??= this.nextPass());
        while (pass.pos < pass.targets.length && budget > 0) {
          this.send(pass.targets[pass.pos++]!, pass.items);
          budget--;
        }
        if (pass.pos >= pass.targets.length) this.pass = null;
        if (budget <= 0 && (this.pass || this.queue.length)) {
          await this.pause();
          budget = this.chunk;
        }
      }
    } finally {
      this.running = false;
    }
  }
}
