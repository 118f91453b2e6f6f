/**
 * The live audio of a task as one gapless stream of samples (engine protocol
 * v2, ADR 0009), independent of Web Audio so it can be tested in Node.
 *
 * Audio reaches the browser two ways: binary frames relayed live from the
 * engine (a 16-byte header — segment, frame number, offset in the segment,
 * offset in the stream — then PCM s16le mono), and segment artifacts (WAV)
 * announced by `segment` messages and listed in every snapshot. Both describe
 * the same samples at the same stream positions: segment i starts where the
 * frames say (`stream_offset − segment_offset`), or right after segment i−1.
 *
 * `LiveStream` keeps whatever has arrived, in stream coordinates, and hands
 * out only what continues exactly where the last handed-out piece ended: so
 * frames out of order, duplicated, resent after a reconnect, or overlapping a
 * segment artifact are played once, in order, with no gap and no repeat. A
 * hole (frames lost while the socket was down) waits until the segment
 * artifact that covers it is fetched; `needsSegment` says which ones to fetch.
 * An engine that only speaks v1 sends no frames: every segment is then needed,
 * and the stream is the segments back to back, as before.
 */

import { decodeFrame, frameSamples, framesOfMessage } from "../../worker/engine/frames.ts";

export interface LiveFrame {
  segment: number;
  frame: number;
  segmentOffset: number;
  streamOffset: number;
  lastInSegment: boolean;
  samples: Int16Array;
}

/** Decodes one binary frame with the protocol's codec; null for anything it refuses (ignored, never played). */
export function decodeLiveFrame(data: ArrayBuffer | Uint8Array): LiveFrame | null {
  const decoded = decodeFrame(data);
  if (!decoded.ok) return null;
  const h = decoded.header;
  return {
    segment: h.segment,
    frame: h.frame,
    segmentOffset: h.segment_offset,
    streamOffset: h.stream_offset,
    lastInSegment: h.last_in_segment,
    samples: frameSamples(data),
  };
}

/** The frames of one binary socket message: one frame, or a batch of them (ADR 0027); those refused are left out. */
export function decodeLiveFrames(data: ArrayBuffer): LiveFrame[] {
  const out: LiveFrame[] = [];
  for (const bytes of framesOfMessage(data) ?? []) {
    const frame = decodeLiveFrame(bytes);
    if (frame) out.push(frame);
  }
  return out;
}

/** PCM of a WAV file as 16-bit mono (16-bit PCM or 32-bit float, first channel); null when it is neither. */
export function pcmFromWav(bytes: ArrayBuffer): { sampleRate: number; samples: Int16Array } | null {
  const view = new DataView(bytes);
  const tag = (at: number) => String.fromCharCode(view.getUint8(at), view.getUint8(at + 1), view.getUint8(at + 2), view.getUint8(at + 3));
  if (bytes.byteLength < 12 || tag(0) !== "RIFF" || tag(8) !== "WAVE") return null;
  let format: { code: number; channels: number; rate: number; bits: number } | null = null;
  for (let at = 12; at + 8 <= bytes.byteLength;) {
    const id = tag(at);
    const size = view.getUint32(at + 4, true);
    const body = at + 8;
    if (id === "fmt " && size >= 16) {
      format = {
        code: view.getUint16(body, true),
        channels: view.getUint16(body + 2, true),
        rate: view.getUint32(body + 4, true),
        bits: view.getUint16(body + 14, true),
      };
    } else if (id === "data" && format && format.channels >= 1) {
      const length = Math.min(size, bytes.byteLength - body);
      const frameBytes = (format.bits / 8) * format.channels;
      const count = Math.floor(length / frameBytes);
      const samples = new Int16Array(count);
      if (format.code === 1 && format.bits === 16) {
        for (let i = 0; i < count; i++) samples[i] = view.getInt16(body + i * frameBytes, true);
      } else if (format.code === 3 && format.bits === 32) {
        for (let i = 0; i < count; i++)
          samples[i] = Math.max(-32768, Math.min(32767, Math.round(view.getFloat32(body + i * frameBytes, true) * 32767)));
      } else return null;
      return { sampleRate: format.rate, samples };
    }
    at = body + size + (size % 2);
  }
  return null;
}

/** A run of samples ready to play, at `start` in the stream. */
export interface StreamChunk {
  start: number;
  samples: Int16Array;
  from: "frame" | "segment";
}

interface Held {
  start: number;
  samples: Int16Array;
  from: "frame" | "segment";
}

export interface LiveStreamOptions {
  /**
   * At most this much frame audio (samples) is held beyond the hand-out position; a frame that
   * starts past it is dropped (its position is still recorded), and its segment artifact brings
   * it back when playback nears it. Default: no limit.
   */
  holdSamples?: number;
  /** Hand out nothing at or beyond this stream sample until `allow` moves it. Default: no limit. */
  handOutTo?: number;
}

export class LiveStream {
  /** The next stream sample to hand out: everything before it has been handed out exactly once. */
  next = 0;
  framesReceived = 0;
  /** Frames whose samples were dropped because they lay beyond `holdSamples` (their segment is fetched later). */
  framesDropped = 0;
  /** Sample just after the furthest audio received (frames or segments). */
  receivedEnd = 0;
  holdSamples: number;
  /** Nothing at or beyond this stream sample is handed out (the player's window). */
  private limit: number;
  private readonly held = new Map<number, Held>();
  private readonly segmentStart = new Map<number, number>();
  private readonly segmentLength = new Map<number, number>();
  /** Segment artifacts whose stream position is not known yet (an earlier one is missing). */
  private readonly unplaced = new Map<number, Int16Array>();
  /** Segments before this one have all been handed out. */
  private done = 0;

  constructor(opts: LiveStreamOptions = {}) {
    this.holdSamples = opts.holdSamples ?? Infinity;
    this.limit = opts.handOutTo ?? Infinity;
  }

  addFrame(frame: LiveFrame): StreamChunk[] {
    this.framesReceived += 1;
    this.segmentStart.set(frame.segment, frame.streamOffset - frame.segmentOffset);
    if (frame.lastInSegment) this.segmentLength.set(frame.segment, frame.segmentOffset + frame.samples.length);
    this.hold(frame.streamOffset, frame.samples, "frame");
    this.place();
    return this.drain();
  }

  addSegment(index: number, samples: Int16Array): StreamChunk[] {
    this.segmentLength.set(index, samples.length);
    this.unplaced.set(index, samples);
    this.place();
    return this.drain();
  }

  /** Lets the stream hand out audio up to stream sample `end` (exclusive); returns what continues the stream up to there. */
  allow(end: number): StreamChunk[] {
    this.limit = end;
    return this.drain();
  }

  /** Samples held and not handed out yet (frames, placed and unplaced segment artifacts). */
  heldSamples(): number {
    let n = 0;
    for (const piece of this.held.values()) n += piece.start + piece.samples.length - Math.max(piece.start, this.next);
    for (const samples of this.unplaced.values()) n += samples.length;
    return n;
  }

  /** Where segment `index` starts in the stream, when that can be known yet. */
  segmentStartOf(index: number): number | undefined {
    const known = this.segmentStart.get(index);
    if (known !== undefined) return known;
    if (index === 0) return 0;
    // Walk back to the nearest segment whose start is known, then forward over the lengths (remembered).
    let from = index - 1;
    while (from > 0 && !this.segmentStart.has(from)) from -= 1;
    let at = this.segmentStart.get(from) ?? 0;
    for (let i = from; i < index; i++) {
      const length = this.segmentLength.get(i);
      if (length === undefined) return undefined;
      at += length;
      this.segmentStart.set(i + 1, at);
    }
    return at;
  }

  /** End of segment `index` in the stream, when known. */
  segmentEndOf(index: number): number | undefined {
    const start = this.segmentStartOf(index);
    const length = this.segmentLength.get(index);
    return start === undefined || length === undefined ? undefined : start + length;
  }

  /**
   * Whether segment `index`'s artifact must be fetched: its audio is not all
   * handed out or held already. True when that cannot be known (no frames: a
   * v1 engine, or the frames were lost), and when frames of it were dropped.
   */
  needsSegment(index: number): boolean {
    const start = this.segmentStartOf(index);
    const end = this.segmentEndOf(index);
    if (start === undefined || end === undefined) return true;
    let at = Math.max(start, this.next);
    while (at < end) {
      const piece = this.held.get(at) ?? this.covering(at);
      if (!piece) return true;
      at = piece.start + piece.samples.length;
    }
    return false;
  }

  /** How many segments, from the first, have been handed out entirely. */
  segmentsDone(): number {
    for (;;) {
      const end = this.segmentEndOf(this.done);
      if (end === undefined || end > this.next) return this.done;
      this.done += 1;
    }
  }

  private hold(start: number, samples: Int16Array, from: Held["from"]): void {
    const end = start + samples.length;
    if (end > this.receivedEnd) this.receivedEnd = end;
    if (samples.length === 0 || end <= this.next) return; // nothing new: already handed out
    if (from === "frame" && start >= this.next + this.holdSamples) {
      this.framesDropped += 1; // too far ahead of the listener: its segment artifact brings it back
      return;
    }
    const existing = this.held.get(start);
    if (existing && existing.samples.length >= samples.length) return; // a duplicate
    this.held.set(start, { start, samples, from });
  }

  private place(): void {
    for (const [index, samples] of this.unplaced) {
      const start = this.segmentStartOf(index);
      if (start === undefined) continue;
      this.unplaced.delete(index);
      this.hold(start, samples, "segment");
    }
  }

  /** A held piece that starts before `at` and runs past it (a resend or artifact overlapping what was played). */
  private covering(at: number): Held | undefined {
    for (const piece of this.held.values()) if (piece.start < at && piece.start + piece.samples.length > at) return piece;
    return undefined;
  }

  private drain(): StreamChunk[] {
    const out: StreamChunk[] = [];
    while (this.next < this.limit) {
      const piece = this.held.get(this.next) ?? this.covering(this.next);
      if (!piece) break;
      const samples = piece.samples.subarray(this.next - piece.start, Math.min(piece.samples.length, this.limit - piece.start));
      out.push({ start: this.next, samples, from: piece.from });
      this.next += samples.length;
    }
    // Forget what is now behind the stream's position.
    if (out.length) for (const [start, piece] of this.held) if (piece.start + piece.samples.length <= this.next) this.held.delete(start);
    return out;
  }
}

export interface PlayoutSizes {
  /** Audio scheduled ahead of the play position, at most (samples). */
  windowSamples: number;
  /** Frame audio held beyond the hand-out position, at most (samples); later frames are dropped. */
  holdSamples: number;
  /** A segment artifact the stream needs is fetched once it starts within this of the hand-out position (samples). */
  fetchAheadSamples: number;
}

/**
 * The live player's rules without Web Audio (ADR 0028): what to schedule, what to fetch.
 * Memory is bounded by a window, not by the length of the job: at most `windowSamples`
 * are scheduled ahead of the play position (`pump`, given how much is still ahead), at
 * most `holdSamples` of frames are held beyond that (later frames are dropped, positions
 * kept), and a segment artifact is fetched only when it is needed (a hole, dropped frames,
 * a v1 engine) and playback nears it (`toFetch`) — a v1 stream whose next position is not
 * known yet is fetched one segment ahead of the last one placed.
 */
export class LivePlayout {
  readonly stream: LiveStream;
  private sizes: PlayoutSizes;
  /** Announced segments not yet known to be handed out, and whether each is fetched (or known not to need it). */
  private readonly pending = new Map<number, "waiting" | "requested" | "covered">();

  constructor(sizes: PlayoutSizes) {
    this.sizes = sizes;
    this.stream = new LiveStream({ holdSamples: sizes.holdSamples, handOutTo: sizes.windowSamples });
  }

  /** New sizes (the stream's rate changed). */
  resize(sizes: PlayoutSizes): void {
    this.sizes = sizes;
    this.stream.holdSamples = sizes.holdSamples;
  }

  /** A segment artifact exists; false when it was announced before or has been played already. */
  announce(index: number): boolean {
    if (this.pending.has(index) || index < this.stream.segmentsDone()) return false;
    this.pending.set(index, "waiting");
    return true;
  }

  addFrame(frame: LiveFrame): StreamChunk[] {
    return this.stream.addFrame(frame);
  }

  addSegment(index: number, samples: Int16Array): StreamChunk[] {
    return this.stream.addSegment(index, samples);
  }

  /** What to schedule now, given `aheadSamples` scheduled and not yet heard: the stream up to the window. */
  pump(aheadSamples: number): StreamChunk[] {
    const room = this.sizes.windowSamples - Math.max(0, aheadSamples);
    return this.stream.allow(this.stream.next + Math.max(0, Math.floor(room)));
  }

  /** Segments to fetch now, each returned once (the player retries a failed fetch itself). */
  toFetch(): number[] {
    const done = this.stream.segmentsDone();
    const horizon = this.stream.next + this.sizes.fetchAheadSamples;
    const out: number[] = [];
    for (const [index, state] of this.pending) {
      if (index < done) {
        this.pending.delete(index); // played: nothing more to do for it
        continue;
      }
      if (state !== "waiting" || !this.near(index, horizon)) continue;
      if (!this.stream.needsSegment(index)) {
        this.pending.set(index, "covered"); // held pieces only leave by being handed out: it stays covered
        continue;
      }
      this.pending.set(index, "requested");
      out.push(index);
    }
    return out;
  }

  private near(index: number, horizon: number): boolean {
    const start = this.stream.segmentStartOf(index);
    if (start !== undefined) return start < horizon;
    // Its position waits on an earlier artifact (v1): fetch it beside the one before it, no further.
    const before = this.stream.segmentStartOf(index - 1);
    return before !== undefined && before < horizon;
  }
}

/** Peak level (0..1) per bin of `binSamples` samples: the live waveform of what has arrived. */
export class StreamPeaks {
  readonly peaks: number[] = [];
  readonly binSamples: number;
  constructor(binSamples: number) {
    this.binSamples = binSamples;
  }

  add(start: number, samples: Int16Array): void {
    for (let i = 0; i < samples.length; i++) {
      const bin = Math.floor((start + i) / this.binSamples);
      while (this.peaks.length <= bin) this.peaks.push(0);
      const level = Math.abs(samples[i]!) / 32768;
      if (level > this.peaks[bin]!) this.peaks[bin] = level;
    }
  }
}
