import type { FrameHeader } from "../worker/engine/frames";

interface SegmentFrames {
  /** True when the first frame held is the segment's first sample: only then can a listener play it from frames. */
  fromZero: boolean;
  frames: { n: number; data: ArrayBuffer }[];
  bytes: number;
}

/**
 * The live frames of segments that have no announced artifact yet, in
 * memory only, so a listener joining mid-segment hears that segment from its
 * start (ADR 0009: snapshot, then replay, then the live tail). Dropped per
 * segment once its artifact is announced; bounded in total, oldest segment
 * first. Lost when the object is evicted: a segment then resumes with
 * `fromZero` false and listeners take it from its artifact instead.
 */
export class ReplayBuffer {
  private readonly segments = new Map<number, SegmentFrames>();
  private total = 0;
  constructor(private readonly maxBytes = 32 * 1024 * 1024) {}

  add(h: FrameHeader, data: ArrayBuffer) {
    let seg = this.segments.get(h.segment);
    if (!seg) {
      seg = { fromZero: h.segment_offset === 0, frames: [], bytes: 0 };
      this.segments.set(h.segment, seg);
    }
    seg.frames.push({ n: h.frame, data });
    seg.bytes += data.byteLength;
    this.total += data.byteLength;
    while (this.total > this.maxBytes && this.segments.size > 1) {
      const oldest = Math.min(...this.segments.keys());
      this.drop(oldest);
    }
  }

  drop(index: number) {
    const seg = this.segments.get(index);
    if (!seg) return;
    this.total -= seg.bytes;
    this.segments.delete(index);
  }

  /** Frames to replay, in frame order: every held segment from its first sample, except those the listener gets as artifacts. */
  frames(skip: (segment: number) => boolean): { n: number; data: ArrayBuffer }[] {
    const out: { n: number; data: ArrayBuffer }[] = [];
    for (const [index, seg] of this.segments) {
      if (!seg.fromZero || skip(index)) continue;
      out.push(...seg.frames);
    }
    return out.sort((a, b) => a.n - b.n);
  }

  get bytes() {
    return this.total;
  }
}
