import { encodeFrameBatch } from "../worker/engine/frames";

/** One message for a set of listeners: a relayed frame (`frame` set) or a JSON message (`seq` set). */
export interface FanOutItem {
  data: string | ArrayBuffer;
  targets: WebSocket[];
  frame: number | null;
  segment: number | null;
  seq: number | null;
}

/** How a fan-out spends its object's thread; every field has a default that the tracker uses. */
export interface FanOutOptions {
  /** Sockets per turn: with frames batched, a small turn answers the engine sooner without a growing backlog. */
  chunk?: number;
  /** Yields between turns (the next macrotask). */
  pause?: () => Promise<void>;
  /** At most this many frames (≈ 0.8 s of audio at 20 frames/s, twice what the longest spacing gathers) and this many JSON messages per pass. */
  maxBatch?: number;
  /**
   * Listener sends a second the fan-out may spend (ADR 0031): a pass to n listeners starts at least
   * n / sendsPerSecond seconds after the previous one started, at most `maxSpacingMs` after it.
   * Below sendsPerSecond / 20 listeners (125 by default) this never holds a frame back at 20
   * frames/s; above, passes carry more frames each instead of coming more often. A spacing under
   * FAN_OUT_MIN_SPACING_MS (fewer than 25 listeners by default) is not kept at all.
   */
  sendsPerSecond?: number;
  maxSpacingMs?: number;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

export const FAN_OUT_SENDS_PER_SECOND = 2_500;
export const FAN_OUT_MAX_SPACING_MS = 400;
/** Spacings shorter than this are not kept. */
export const FAN_OUT_MIN_SPACING_MS = 10;

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
 *
 * Passes are also spaced by a send budget (ADR 0031): a pass to n listeners
 * starts no sooner than n / `sendsPerSecond` after the previous one. Without
 * it a large fan-out runs back to back and takes the whole thread (1,000
 * listeners: ≈ 13,000 sends a second, and the garbage they make pauses the
 * isolate often enough to delay 1 % of the engine's acknowledgements by
 * 30–60 ms); with it the passes carry more frames each, and the engine's
 * messages find the thread idle between them.
 */
export class FanOut {
  private readonly queue: FanOutItem[] = [];
  private pass: { items: FanOutItem[]; targets: WebSocket[]; pos: number } | null = null;
  private running = false;
  /** When the last pass started (per `now`); passes are spaced from it. */
  private lastPassAt = -Infinity;
  private readonly chunk: number;
  private readonly pause: () => Promise<void>;
  private readonly maxBatch: number;
  private readonly sendsPerSecond: number;
  private readonly maxSpacingMs: number;
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(
    private readonly send: (ws: WebSocket, batch: readonly FanOutItem[]) => void,
    opts: FanOutOptions = {},
  ) {
    this.chunk = opts.chunk ?? 16;
    this.pause = opts.pause ?? (() => new Promise((r) => setTimeout(r, 0)));
    this.maxBatch = opts.maxBatch ?? 16;
    this.sendsPerSecond = opts.sendsPerSecond ?? FAN_OUT_SENDS_PER_SECOND;
    this.maxSpacingMs = opts.maxSpacingMs ?? FAN_OUT_MAX_SPACING_MS;
    this.now = opts.now ?? (() => performance.now());
    this.sleep = opts.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  push(item: FanOutItem) {
    if (!item.targets.length) return;
    this.queue.push(item);
    if (!this.running) void this.run();
  }

  /** Items not yet sent to all their listeners (the pass under way counts all its items). */
  get pending(): number {
    return this.queue.length + (this.pass?.items.length ?? 0);
  }

  /** How long the next pass, to `listeners` sockets, must still wait to keep within the send budget. */
  private spacing(listeners: number): number {
    const gap = Math.min(this.maxSpacingMs, (listeners * 1000) / this.sendsPerSecond);
    // A small pass (under 25 listeners by default) is cheap: it goes as soon as it can, one frame at a time, as before.
    if (gap < FAN_OUT_MIN_SPACING_MS) return 0;
    return this.lastPassAt + gap - this.now();
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
        if (!this.pass) {
          // The send budget: a large pass waits, and takes what arrived meanwhile with it.
          const wait = this.spacing(this.queue[this.queue.length - 1]!.targets.length);
          if (wait > 0) {
            await this.sleep(wait);
            budget = this.chunk;
          }
          this.lastPassAt = this.now();
          this.pass = this.nextPass();
        }
        const pass = this.pass;
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

/**
 * What one listener is sent for a pass: its frames (one, or a batch) and its JSON messages (one, or
 * an array). When it has both, they go as one binary message, the JSON as the batch's text trailer
 * (ADR 0031): one send per listener and pass, not two.
 */
export interface PassMessages {
  frames?: string | ArrayBuffer;
  json?: string | ArrayBuffer;
}

export function messagesOf(frames: readonly FanOutItem[], json: readonly FanOutItem[]): PassMessages {
  const text = json.length > 1 ? `[${json.map((it) => it.data as string).join(",")}]` : (json[0]?.data as string | undefined);
  if (frames.length && text !== undefined) return { frames: encodeFrameBatch(frames.map((it) => it.data as ArrayBuffer), text) };
  return {
    frames: frames.length > 1 ? encodeFrameBatch(frames.map((it) => it.data as ArrayBuffer)) : frames[0]?.data,
    json: text,
  };
}
