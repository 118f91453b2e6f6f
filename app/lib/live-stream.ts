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

export class LiveStream {
  /** The next stream sample to hand out: everything before it has been handed out exactly once. */
  next = 0;
  framesReceived = 0;
  /** Sample just after the furthest audio received (frames or segments). */
  receivedEnd = 0;
  private readonly held = new Map<number, Held>();
  private readonly segmentStart = new Map<number, number>();
  private readonly segmentLength = new Map<number, number>();
  /** Segment artifacts whose stream position is not known yet (an earlier one is missing). */
  private readonly unplaced = new Map<number, Int16Array>();

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

  /** Where segment `index` starts in the stream, when that can be known yet. */
  segmentStartOf(index: number): number | undefined {
    const known = this.segmentStart.get(index);
    if (known !== undefined) return known;
    if (index === 0) return 0;
    const before = this.segmentStartOf(index - 1);
    const length = this.segmentLength.get(index - 1);
    return before === undefined || length === undefined ? undefined : before + length;
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
   * v1 engine, or the frames were lost).
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
    let n = 0;
    for (;;) {
      const end = this.segmentEndOf(n);
      if (end === undefined || end > this.next) return n;
      n += 1;
    }
  }

  private hold(start: number, samples: Int16Array, from: Held["from"]): void {
    const end = start + samples.length;
    if (end > this.receivedEnd) this.receivedEnd = end;
    if (samples.length === 0 || end <= this.next) return; // nothing new: already handed out
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
    for (;;) {
      const piece = this.held.get(this.next) ?? this.covering(this.next);
      if (!piece) break;
      const samples = piece.samples.subarray(this.next - piece.start);
      out.push({ start: this.next, samples, from: piece.from });
      this.next += samples.length;
    }
    // Forget what is now behind the stream's position.
    for (const [start, piece] of this.held) if (piece.start + piece.samples.length <= this.next) this.held.delete(start);
    return out;
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
