/**
 * The streaming input every format parser reads from.
 *
 * A parser is a generator that runs as far as the bytes received so far allow and yields when it
 * needs more (`yield* feed.peek(n)`, `yield* feed.skip(n)`). The inspector pushes each chunk of the
 * upload in and resumes the parser only when what it waits for has arrived, so skipping a large
 * body (an MP4 `mdat`, a WAV `data` chunk) costs one subtraction per chunk and copies nothing.
 *
 * Memory stays bounded: a chunk is read in place; only the few bytes of a header that straddles
 * two chunks are copied into `carry`, and when the parser yields, the unread rest of the chunk
 * (smaller than what the parser asked for, at most MAX_PEEK) is copied so the caller's chunk is
 * never retained.
 */
export type Parser<T> = Generator<void, T, void>;

/** The largest contiguous read a parser may ask for. */
export const MAX_PEEK = 1 << 16;

const EMPTY = new Uint8Array(0);

export class ByteFeed {
  /** Bytes pushed so far. */
  received = 0;
  /** Offset, from the start of the stream, of the next byte the parser has not consumed. */
  position = 0;
  /** No more bytes will come. */
  ended = false;

  // Owned bytes carried over from earlier chunks: the unread ones are carry[carryAt, carryEnd).
  // Bytes are only ever appended past carryEnd, never moved or overwritten, so a view handed to
  // the parser stays intact until it yields; a full buffer is replaced, not compacted.
  private carry: Uint8Array = EMPTY;
  private carryAt = 0;
  private carryEnd = 0;
  private chunk: Uint8Array = EMPTY;
  private chunkAt = 0;
  /** Bytes consumed (skipped) that have not arrived yet. */
  private pendingSkip = 0;
  /** Contiguous bytes the suspended parser waits for. */
  private want = 0;

  /** Adds a chunk. The chunk is read in place until `release()`, so the caller must not reuse its buffer before then. */
  push(chunk: Uint8Array): void {
    this.received += chunk.length;
    let at = 0;
    if (this.pendingSkip > 0) {
      at = Math.min(this.pendingSkip, chunk.length);
      this.pendingSkip -= at;
    }
    this.chunk = chunk;
    this.chunkAt = at;
  }

  end(): void {
    this.ended = true;
  }

  /** Whether resuming the parser can make progress. */
  get ready(): boolean {
    return this.ended || (this.pendingSkip === 0 && this.available >= this.want);
  }

  /** Copies the unread rest of the current chunk so the caller's buffer is not retained. */
  release(): void {
    if (this.chunk.length > this.chunkAt) this.appendToCarry(this.chunk.subarray(this.chunkAt));
    this.chunk = EMPTY;
    this.chunkAt = 0;
  }

  /** Lets go of every held byte, once the parser needs no more. */
  discard(): void {
    this.chunk = this.carry = EMPTY;
    this.chunkAt = this.carryAt = this.carryEnd = 0;
  }

  /** Every byte consumed so far has arrived (no skip is waiting for more input). */
  get settled(): boolean {
    return this.pendingSkip === 0;
  }

  /** Bytes held (in chunk or carry) that the parser has not consumed. */
  get available(): number {
    return this.carryEnd - this.carryAt + (this.chunk.length - this.chunkAt);
  }

  /** Bytes retained between pushes: what a test can check to prove memory stays bounded. */
  get retainedBytes(): number {
    return this.carry.length;
  }

  /** `n` contiguous unconsumed bytes (a view, valid until the parser next yields), or null if fewer are held. */
  tryPeek(n: number): Uint8Array | null {
    const carried = this.carryEnd - this.carryAt;
    if (carried === 0) {
      return this.chunk.length - this.chunkAt >= n ? this.chunk.subarray(this.chunkAt, this.chunkAt + n) : null;
    }
    if (carried < n) {
      // A read straddling the carry and the chunk: move just the missing bytes into the carry.
      const fromChunk = n - carried;
      if (this.chunk.length - this.chunkAt < fromChunk) return null;
      this.appendToCarry(this.chunk.subarray(this.chunkAt, this.chunkAt + fromChunk));
      this.chunkAt += fromChunk;
    }
    return this.carry.subarray(this.carryAt, this.carryAt + n);
  }

  /** Consumes `n` bytes: those held now, and the rest as they arrive. */
  advance(n: number): void {
    this.position += n;
    const carried = this.carryEnd - this.carryAt;
    if (carried > 0) {
      const d = Math.min(n, carried);
      this.carryAt += d;
      n -= d;
      if (this.carryAt === this.carryEnd) {
        this.carry = EMPTY; // dropped, not reused: the parser may still hold a view of it
        this.carryAt = this.carryEnd = 0;
      }
    }
    const d = Math.min(n, this.chunk.length - this.chunkAt);
    this.chunkAt += d;
    this.pendingSkip += n - d;
  }

  private appendToCarry(bytes: Uint8Array): void {
    if (this.carryEnd + bytes.length > this.carry.length) {
      const held = this.carry.subarray(this.carryAt, this.carryEnd);
      // Grow geometrically, so a header arriving a byte at a time costs linear time, not quadratic.
      const next = new Uint8Array(Math.max(held.length + bytes.length, 2 * held.length, 64));
      next.set(held);
      this.carry = next;
      this.carryAt = 0;
      this.carryEnd = held.length;
    }
    this.carry.set(bytes, this.carryEnd);
    this.carryEnd += bytes.length;
  }

  /** `n` contiguous bytes without consuming them; null if the stream ends first. */
  *peek(n: number): Parser<Uint8Array | null> {
    if (n > MAX_PEEK) throw new RangeError(`peek(${n}) exceeds MAX_PEEK`);
    for (;;) {
      const view = this.tryPeek(n);
      if (view) return view;
      if (this.ended) return null;
      this.want = n;
      yield;
    }
  }

  /** Up to `n` contiguous bytes: exactly `n` unless the stream ends first (then maybe none). */
  *peekUpTo(n: number): Parser<Uint8Array> {
    const view = yield* this.peek(n);
    return view ?? this.tryPeek(this.available) ?? EMPTY;
  }

  /** `n` bytes, consumed; null if the stream ends first. */
  *read(n: number): Parser<Uint8Array | null> {
    const view = yield* this.peek(n);
    if (view) this.advance(n);
    return view;
  }

  /** Consumes `n` bytes; false if the stream ended before all of them arrived. */
  *skip(n: number): Parser<boolean> {
    this.advance(n);
    while (this.pendingSkip > 0) {
      if (this.ended) return false;
      this.want = 0;
      yield;
    }
    return true;
  }

  /** Consumes everything up to the end of the stream; returns how many bytes that was. */
  *skipToEnd(): Parser<number> {
    const from = this.position;
    while (!this.ended) {
      this.advance(this.available);
      this.want = 1;
      yield;
    }
    this.advance(this.available);
    this.position = this.received;
    return this.received - from;
  }
}
