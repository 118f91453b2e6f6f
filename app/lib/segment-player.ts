/**
 * Progressive playback of a task's segments (DESIGN §1 "hear it while it is
 * being made"). Each segment WAV is fetched and decoded with Web Audio and
 * scheduled on one AudioContext timeline, each starting exactly where the
 * previous one ends, so there is no audible gap between segments — unlike
 * swapping <audio> sources, which always clicks and pauses. Segments may
 * arrive in any order and while playing; they are played in index order.
 *
 * Pause/play suspend and resume the AudioContext, which freezes the whole
 * timeline, so nothing needs rescheduling.
 */

export type SegmentPlayerStatus = "idle" | "buffering" | "playing" | "paused" | "ended" | "error";

export interface SegmentPlayerSnapshot {
  status: SegmentPlayerStatus;
  /** Milliseconds heard so far. */
  positionMs: number;
  /** Milliseconds decoded and scheduled (what can be heard without waiting). */
  scheduledMs: number;
  segmentsScheduled: number;
  /** Date.now() when the first segment actually started sounding; null until then. */
  firstAudioAt: number | null;
  /** Times playback ran dry and the next segment had to start late. */
  underruns: number;
  error: string | null;
}

interface Scheduled {
  index: number;
  start: number;
  end: number;
  source: AudioBufferSourceNode;
}

/** How far ahead of "now" the first segment (and any late one) is scheduled, seconds. */
const LEAD_S = 0.06;

type AudioContextCtor = typeof AudioContext;

export class SegmentPlayer {
  private readonly ctx: AudioContext;
  private readonly out: GainNode;
  private readonly decoded = new Map<number, AudioBuffer>();
  private readonly requested = new Set<number>();
  private readonly scheduled: Scheduled[] = [];
  private nextIndex = 0;
  private timelineEnd = 0;
  private timelineStart: number | null = null;
  private total: number | null = null;
  private wantPlaying: boolean;
  private closed = false;
  private ticker: ReturnType<typeof setInterval> | undefined;
  private readonly listeners = new Set<(s: SegmentPlayerSnapshot) => void>();
  private snap: SegmentPlayerSnapshot = {
    status: "idle",
    positionMs: 0,
    scheduledMs: 0,
    segmentsScheduled: 0,
    firstAudioAt: null,
    underruns: 0,
    error: null,
  };

  /**
   * Create it inside a click handler when you can: browsers only let an
   * AudioContext start after a user gesture, and one made during the gesture
   * starts running at once.
   */
  constructor(opts: { autoplay?: boolean } = {}) {
    const Ctor: AudioContextCtor =
      window.AudioContext ?? (window as unknown as { webkitAudioContext: AudioContextCtor }).webkitAudioContext;
    this.ctx = new Ctor({ latencyHint: "playback" });
    this.out = this.ctx.createGain();
    this.out.connect(this.ctx.destination);
    this.wantPlaying = opts.autoplay ?? true;
    if (!this.wantPlaying) void this.ctx.suspend();
    this.ctx.onstatechange = () => this.refresh();
    this.ticker = setInterval(() => this.refresh(), 200);
  }

  subscribe(listener: (s: SegmentPlayerSnapshot) => void): () => void {
    this.listeners.add(listener);
    listener(this.snap);
    return () => this.listeners.delete(listener);
  }

  getSnapshot(): SegmentPlayerSnapshot {
    return this.snap;
  }

  /** Tells the player how many segments there will be (so it knows when it has played them all). */
  setTotal(total: number | null): void {
    if (total != null && total !== this.total) {
      this.total = total;
      this.refresh();
    }
  }

  /** Adds a segment; fetching and decoding run in the background. Adding the same index twice is a no-op. */
  add(segment: { index: number; url: string }): void {
    if (this.closed || this.requested.has(segment.index)) return;
    this.requested.add(segment.index);
    void this.load(segment.index, segment.url);
  }

  private async load(index: number, url: string, attempt = 0): Promise<void> {
    try {
      const res = await fetch(url, { credentials: "same-origin" });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const bytes = await res.arrayBuffer();
      if (this.closed) return;
      const buffer = await this.ctx.decodeAudioData(bytes);
      if (this.closed) return;
      this.decoded.set(index, buffer);
      this.pump();
    } catch (err) {
      if (this.closed) return;
      if (attempt < 2) {
        setTimeout(() => void this.load(index, url, attempt + 1), 400 * (attempt + 1));
        return;
      }
      this.snap = { ...this.snap, error: `Part ${index + 1} of the audio could not be played (${(err as Error).message}).` };
      this.emit();
    }
  }

  /** Schedules every decoded segment that is next in line, back to back. */
  private pump(): void {
    let buffer = this.decoded.get(this.nextIndex);
    while (buffer) {
      const now = this.ctx.currentTime;
      const earliest = now + LEAD_S;
      let start = this.timelineEnd;
      if (this.timelineStart === null || start < earliest) {
        // First segment, or the previous one already finished: start as soon as possible.
        if (this.timelineStart !== null) this.snap = { ...this.snap, underruns: this.snap.underruns + 1 };
        start = earliest;
      }
      const source = this.ctx.createBufferSource();
      source.buffer = buffer;
      source.connect(this.out);
      source.start(start);
      source.onended = () => this.refresh();
      if (this.timelineStart === null) this.timelineStart = start;
      this.timelineEnd = start + buffer.duration;
      this.scheduled.push({ index: this.nextIndex, start, end: this.timelineEnd, source });
      this.decoded.delete(this.nextIndex);
      this.nextIndex += 1;
      buffer = this.decoded.get(this.nextIndex);
    }
    this.refresh();
  }

  play(): Promise<void> {
    this.wantPlaying = true;
    if (this.snap.status === "ended") return Promise.resolve();
    return this.ctx.resume().then(() => this.refresh());
  }

  pause(): Promise<void> {
    this.wantPlaying = false;
    return this.ctx.suspend().then(() => this.refresh());
  }

  toggle(): Promise<void> {
    return this.ctx.state === "running" && this.wantPlaying ? this.pause() : this.play();
  }

  /** Seconds into the stream the listener is at (for handing over to the final file). */
  positionSeconds(): number {
    if (this.timelineStart === null) return 0;
    return Math.max(0, Math.min(this.ctx.currentTime, this.timelineEnd) - this.timelineStart);
  }

  /** True once every segment (of a known total) has been scheduled and heard. */
  get ended(): boolean {
    return this.snap.status === "ended";
  }

  private refresh(): void {
    if (this.closed) return;
    const now = this.ctx.currentTime;
    const running = this.ctx.state === "running";
    let firstAudioAt = this.snap.firstAudioAt;
    if (firstAudioAt === null && running && this.timelineStart !== null && now >= this.timelineStart) {
      firstAudioAt = Date.now() - Math.round((now - this.timelineStart) * 1000);
    }
    const allScheduled = this.total !== null && this.nextIndex >= this.total;
    let status: SegmentPlayerStatus;
    if (allScheduled && this.timelineStart !== null && now >= this.timelineEnd) status = "ended";
    else if (!this.wantPlaying || !running) status = this.timelineStart === null && this.wantPlaying ? "buffering" : "paused";
    else if (this.timelineStart === null || now >= this.timelineEnd) status = "buffering";
    else status = "playing";
    if (this.snap.error && status === "buffering") status = "error";
    const positionMs = Math.round(this.positionSeconds() * 1000);
    const scheduledMs = this.timelineStart === null ? 0 : Math.round((this.timelineEnd - this.timelineStart) * 1000);
    const changed =
      status !== this.snap.status ||
      firstAudioAt !== this.snap.firstAudioAt ||
      scheduledMs !== this.snap.scheduledMs ||
      Math.abs(positionMs - this.snap.positionMs) >= 200 ||
      this.scheduled.length !== this.snap.segmentsScheduled;
    if (!changed) return;
    this.snap = { ...this.snap, status, positionMs, scheduledMs, firstAudioAt, segmentsScheduled: this.scheduled.length };
    this.emit();
    if (status === "ended") clearInterval(this.ticker);
  }

  private emit(): void {
    for (const l of this.listeners) l(this.snap);
  }

  get disposed(): boolean {
    return this.closed;
  }

  dispose(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.ticker);
    for (const s of this.scheduled) {
      try {
        s.source.stop();
      } catch {
        // never started: nothing to stop
      }
    }
    this.listeners.clear();
    void this.ctx.close();
  }
}
