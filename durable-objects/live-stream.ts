import { FRAME_HEADER_BYTES, type FrameHeader } from "../worker/engine/frames";
import type { ServerMessage } from "../worker/tasks/messages";
import type { StoredArtifact } from "../worker/tasks/tracker-reducer";

/** A reader this far behind (bytes queued in the stream) is cut off rather than held in memory. */
const MAX_QUEUED_BYTES = 16 * 1024 * 1024;

export interface LiveStreamOptions {
  format: "pcm" | "wav";
  sampleRate: number;
  bucket: R2Bucket;
  /** Announced segment artifacts, in index order: sent first, from R2. */
  artifacts: StoredArtifact[];
  /** Segments taken from artifacts: their frames are not sent again. */
  skip: Set<number>;
  /** Held frames of segments without artifacts, in frame order. */
  replay: ArrayBuffer[];
  ended: boolean;
  /** A segment artifact announced after the stream opened (engines without frames: v1, or frames lost). */
  artifactFor: (index: number) => StoredArtifact | undefined;
  onDone: (stream: LiveStream) => void;
}

/** The PCM of a WAV file: the bytes of its `data` chunk (engines write plain PCM WAVs). */
export function wavPcm(bytes: Uint8Array): Uint8Array {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 12;
  while (at + 8 <= bytes.byteLength) {
    const id = String.fromCharCode(bytes[at]!, bytes[at + 1]!, bytes[at + 2]!, bytes[at + 3]!);
    const size = v.getUint32(at + 4, true);
    if (id === "data") return bytes.subarray(at + 8, Math.min(bytes.byteLength, at + 8 + size));
    at += 8 + size + (size & 1);
  }
  return new Uint8Array(0);
}

/** A WAV header for a stream of unknown length (sizes 0xFFFFFFFF), PCM s16le mono. */
export function streamingWavHeader(sampleRate: number): Uint8Array {
  const h = new Uint8Array(44);
  const v = new DataView(h.buffer);
  const w = (o: number, s: string) => [...s].forEach((ch, i) => v.setUint8(o + i, ch.charCodeAt(0)));
  w(0, "RIFF");
  v.setUint32(4, 0xffffffff, true);
  w(8, "WAVE");
  w(12, "fmt ");
  v.setUint32(16, 16, true);
  v.setUint16(20, 1, true);
  v.setUint16(22, 1, true);
  v.setUint32(24, sampleRate, true);
  v.setUint32(28, sampleRate * 2, true);
  v.setUint16(32, 2, true);
  v.setUint16(34, 16, true);
  w(36, "data");
  v.setUint32(40, 0xffffffff, true);
  return h;
}

/**
 * One HTTP caller following a task's audio live (ADR 0009, for the
 * OpenAI-compatible endpoint): the announced segments from R2, then the
 * held and live frames' PCM, ending when the task does. Frames that arrive
 * while R2 is read wait in `pending`, so the order holds.
 */
export class LiveStream {
  readonly readable: ReadableStream<Uint8Array>;
  private controller!: ReadableStreamDefaultController<Uint8Array>;
  private pending: Uint8Array[] | null = [];
  private endWhenFlushed: boolean;
  private done = false;
  /** Segments whose audio this stream takes from their frames (first frame at offset 0). */
  private readonly framed = new Set<number>();
  /** Segments sent from their artifact. */
  private readonly sent = new Set<number>();
  /** Announced segment artifacts not sent yet: sent in index order, without a gap. */
  private readonly announced = new Map<number, StoredArtifact>();
  /** R2 reads and the end, one after another, so the order holds. */
  private chain: Promise<void>;

  constructor(private readonly opts: LiveStreamOptions) {
    this.endWhenFlushed = opts.ended;
    this.readable = new ReadableStream<Uint8Array>({
      start: (c) => {
        this.controller = c;
      },
      cancel: () => this.finish(false),
    });
    if (opts.format === "wav") this.controller.enqueue(streamingWavHeader(opts.sampleRate));
    for (const a of opts.artifacts) if (a.index !== null) this.sent.add(a.index);
    for (const f of opts.replay) {
      this.framed.add(new DataView(f).getUint16(2, true));
      this.pending!.push(new Uint8Array(f.slice(FRAME_HEADER_BYTES)));
    }
    this.chain = this.writeArtifacts();
  }

  /** The lowest segment index not yet accounted for (sent, framed or skipped). */
  private cursor(): number {
    let i = 0;
    while (this.sent.has(i) || this.framed.has(i) || this.opts.skip.has(i)) i++;
    return i;
  }

  /** Sends announced artifacts while the next segment in order is one of them; with `all`, the rest too. */
  private drainAnnounced(all = false) {
    this.chain = this.chain.then(async () => {
      for (;;) {
        const next = this.cursor();
        const a = this.announced.get(next) ?? (all && this.announced.size ? this.announced.get(Math.min(...this.announced.keys())) : undefined);
        if (!a || a.index === null || this.done) return;
        this.announced.delete(a.index);
        this.sent.add(a.index);
        const obj = await this.opts.bucket.get(a.key);
        if (obj) this.emit(wavPcm(new Uint8Array(await obj.arrayBuffer())));
      }
    });
  }

  private async writeArtifacts() {
    try {
      for (const a of this.opts.artifacts) {
        const obj = await this.opts.bucket.get(a.key);
        if (!obj || this.done) continue;
        this.emit(wavPcm(new Uint8Array(await obj.arrayBuffer())));
      }
      const queued = this.pending ?? [];
      this.pending = null;
      for (const p of queued) this.emit(p);
      if (this.endWhenFlushed) this.finish(true);
    } catch (err) {
      if (!this.done) this.controller.error(err);
      this.finish(false);
    }
  }

  /** Live bytes: held back while the artifacts are still being read. */
  private push(bytes: Uint8Array) {
    if (this.pending) this.pending.push(bytes);
    else this.emit(bytes);
  }

  private emit(bytes: Uint8Array) {
    if (this.done || !bytes.byteLength) return;
    if ((this.controller.desiredSize ?? 0) < -MAX_QUEUED_BYTES) {
      this.controller.error(new Error("reader too far behind"));
      this.finish(false);
      return;
    }
    this.controller.enqueue(bytes);
  }

  frame(data: ArrayBuffer, h: FrameHeader) {
    if (this.opts.skip.has(h.segment) || this.sent.has(h.segment)) return;
    // A segment is heard from its frames only from its first sample (ADR 0009); otherwise from its artifact.
    if (!this.framed.has(h.segment)) {
      if (h.segment_offset !== 0) return;
      this.framed.add(h.segment);
    }
    this.push(new Uint8Array(data.slice(FRAME_HEADER_BYTES)));
  }

  event(message: ServerMessage) {
    if (message.type === "segment") {
      if (this.framed.has(message.index) || this.sent.has(message.index) || this.opts.skip.has(message.index)) return;
      const a = this.opts.artifactFor(message.index);
      if (a) {
        this.announced.set(message.index, a);
        this.drainAnnounced();
      }
      return;
    }
    if (message.type !== "completed" && message.type !== "failed" && message.type !== "cancelled") return;
    this.drainAnnounced(true);
    this.chain = this.chain.then(() => {
      if (this.pending) this.endWhenFlushed = true;
      else this.finish(true);
    });
  }

  private finish(close: boolean) {
    if (this.done) return;
    this.done = true;
    if (close) {
      try {
        this.controller.close();
      } catch {
        // already errored or cancelled
      }
    }
    this.opts.onDone(this);
  }
}
