/**
 * Progressive playback of a task (DESIGN §1 "hear it while it is being made").
 * Audio arrives as live frames over the task socket (engine protocol v2) and
 * as segment WAVs (every engine); `LiveStream` turns both into one gapless
 * stream of samples, and each run of samples it hands out is scheduled on one
 * AudioContext timeline exactly where the previous one ends, so there is no
 * audible gap — unlike swapping <audio> sources, which always clicks and
 * pauses. A segment WAV is fetched only when the frames did not bring all of
 * its audio (a v1 engine sends none; a reconnect may lose some), so a v1
 * engine's segments play exactly as before.
 *
 * Pause/play suspend and resume the AudioContext, which freezes the whole
 * timeline, so nothing needs rescheduling.
 *
 * Memory is bounded by a window, not by the length of the job (ADR 0028): an
 * engine renders far faster than real time, so an hour-long job would otherwise
 * leave most of an hour of decoded audio scheduled ahead of the listener. At
 * most WINDOW_S is scheduled ahead of the play position, at most HOLD_S more of
 * frames is held, and frames beyond that are dropped: their segment artifact
 * (durable, a few MB) is fetched when playback nears it (`LivePlayout`).
 */
import { decodeLiveFrames, LivePlayout, pcmFromWav, StreamPeaks, type PlayoutSizes } from "./live-stream";

export type SegmentPlayerStatus = "idle" | "buffering" | "playing" | "paused" | "ended" | "error";

export interface SegmentPlayerSnapshot {
  status: SegmentPlayerStatus;
  /** Milliseconds heard so far. */
  positionMs: number;
  /** Milliseconds decoded and scheduled (what can be heard without waiting). */
  scheduledMs: number;
  segmentsScheduled: number;
  /** Live frames received over the socket (0 for an engine that only uploads segments). */
  framesReceived: number;
  /** What the first audible audio came from. */
  firstAudioFrom: "frame" | "segment" | null;
  /** Milliseconds of audio received so far (frames or segments), heard or not. */
  receivedMs: number;
  /** Date.now() when the first segment actually started sounding; null until then. */
  firstAudioAt: number | null;
  /** Times playback ran dry and the next segment had to start late. */
  underruns: number;
  error: string | null;
}

interface Scheduled {
  start: number;
  end: number;
  source: AudioBufferSourceNode;
}

/** How far ahead of "now" the first audio (and any late one) is scheduled, seconds. */
const LEAD_S = 0.06;
/** The Worker asks every engine for 24 kHz (worker/queue/dispatch.ts); segment WAVs say their own rate. */
export const DEFAULT_STREAM_RATE = 24_000;
/** One waveform bar per 50 ms of audio. */
const PEAK_SECONDS = 0.05;
/** Seconds of audio scheduled on the AudioContext ahead of the play position, at most. */
export const WINDOW_S = 20;
/** Seconds of live frames held beyond what is scheduled, at most; later frames are dropped and fetched back as their segment. */
export const HOLD_S = 30;
/** A segment artifact the stream needs is fetched once it starts within this many seconds of what is scheduled. */
export const FETCH_AHEAD_S = 30;

const sizesAt = (rate: number): PlayoutSizes => ({
  windowSamples: WINDOW_S * rate,
  holdSamples: HOLD_S * rate,
  fetchAheadSamples: FETCH_AHEAD_S * rate,
});

type AudioContextCtor = typeof AudioContext;

/**
 * One entry of the player's opt-in trace, for benchmarks (`bench/player-latency.mjs`):
 * a page sets `globalThis.__UTTER_PLAYER_TRACE__ = []` before the player exists, and
 * the player pushes one entry per live frame it receives and per segment WAV it
 * fetched and scheduled. Times are epoch milliseconds on the page's clock
 * (`performance.timeOrigin + performance.now()`). Off (and free) unless the array is there.
 */
export interface PlayerTraceEntry {
  kind: "frame" | "segment";
  /** The frame's number, or the segment's index. */
  index: number;
  /** A frame: when it reached the player. A segment: when the player was told about it (its `segment` message). */
  receivedAt: number;
  /** When the player had scheduled its audio (AudioBufferSourceNode.start called). */
  scheduledAt: number;
  /** Samples scheduled by this call (0 when it only filled the buffer, e.g. a frame after a gap). */
  samples: number;
}

function traceSink(): PlayerTraceEntry[] | null {
  const t = (globalThis as { __UTTER_PLAYER_TRACE__?: unknown }).__UTTER_PLAYER_TRACE__;
  return Array.isArray(t) ? (t as PlayerTraceEntry[]) : null;
}

const traceNow = (): number => performance.timeOrigin + performance.now();

export class SegmentPlayer {
  private readonly ctx: AudioContext;
  private readonly out: GainNode;
  private readonly playout = new LivePlayout(sizesAt(DEFAULT_STREAM_RATE));
  private readonly stream = this.playout.stream;
  /** Announced segment artifacts not yet played out (trimmed as the stream moves past them). */
  private readonly known = new Map<number, string>();
  /** When each segment was announced, only while tracing (see PlayerTraceEntry). */
  private readonly announcedAt = new Map<number, number>();
  private readonly scheduled: Scheduled[] = [];
  private rate = DEFAULT_STREAM_RATE;
  private rateFixed = false;
  private peaks = new StreamPeaks(Math.round(PEAK_SECONDS * DEFAULT_STREAM_RATE));
  private firstFrom: "frame" | "segment" | null = null;
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
    framesReceived: 0,
    firstAudioFrom: null,
    receivedMs: 0,
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
    this.ctx.onstatechange = () => this.tick();
    this.ticker = setInterval(() => this.tick(), 200);
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

  /** The live stream's sample rate, when the task says it (frames carry none; default 24 kHz). */
  setSampleRate(rate: number): void {
    if (!this.rateFixed && rate >= 8000 && rate <= 48000) this.useRate(rate);
  }

  private useRate(rate: number): void {
    this.rateFixed = true;
    if (rate === this.rate) return;
    this.rate = rate;
    this.peaks = new StreamPeaks(Math.round(PEAK_SECONDS * rate));
    this.playout.resize(sizesAt(rate));
  }

  /**
   * Adds a segment artifact; it is fetched (in the background) only if the live
   * frames did not bring all of its audio. Adding the same index twice is a no-op.
   */
  add(segment: { index: number; url: string }): void {
    if (this.closed || !this.playout.announce(segment.index)) return;
    this.known.set(segment.index, segment.url);
    if (traceSink()) this.announcedAt.set(segment.index, traceNow());
    this.fetchWhatIsMissing();
  }

  /** A binary message from the task socket: one live frame or a batch of them (anything else is ignored). */
  addFrame(data: ArrayBuffer): void {
    if (this.closed) return;
    const trace = traceSink();
    const receivedAt = trace ? traceNow() : 0;
    const frames = decodeLiveFrames(data);
    if (!frames.length) return;
    // Frames carry no rate: once one has played, the stream's rate is settled.
    this.rateFixed = true;
    for (const frame of frames) {
      this.peaks.add(frame.streamOffset, frame.samples);
      const samples = this.enqueue(this.playout.addFrame(frame));
      trace?.push({ kind: "frame", index: frame.frame, receivedAt, scheduledAt: traceNow(), samples });
    }
    this.tick();
  }

  /** Peaks (0..1) of the audio received so far, one per 50 ms of stream: the live waveform. */
  waveform(): readonly number[] {
    return this.peaks.peaks;
  }

  /** Tops the timeline up to the window ahead of the play position, and fetches the artifacts that are due. */
  private tick(): void {
    if (this.closed) return;
    const ahead = this.timelineStart === null ? 0 : Math.max(0, this.timelineEnd - this.ctx.currentTime);
    // Top up in steps of a second or more (or at once when nothing is ahead), not a sliver per tick.
    if (this.timelineStart === null || ahead <= WINDOW_S - 1) this.enqueue(this.playout.pump(Math.round(ahead * this.rate)));
    this.fetchWhatIsMissing();
    this.refresh();
  }

  private fetchWhatIsMissing(): void {
    const done = this.stream.segmentsDone();
    for (const index of this.known.keys()) {
      if (index >= done) continue;
      this.known.delete(index);
      this.announcedAt.delete(index);
    }
    for (const index of this.playout.toFetch()) {
      const url = this.known.get(index);
      if (url !== undefined) void this.load(index, url);
    }
  }

  private async load(index: number, url: string, attempt = 0): Promise<void> {
    try {
      const res = await fetch(url, { credentials: "same-origin" });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const bytes = await res.arrayBuffer();
      if (this.closed) return;
      const samples = await this.segmentSamples(bytes);
      if (this.closed) return;
      const scheduled = this.enqueue(this.playout.addSegment(index, samples));
      const trace = traceSink();
      if (trace) {
        const scheduledAt = traceNow();
        trace.push({ kind: "segment", index, receivedAt: this.announcedAt.get(index) ?? scheduledAt, scheduledAt, samples: scheduled });
      }
      this.tick();
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

  /** A segment WAV as samples at the stream's rate (our engines write 16-bit PCM; anything else goes through Web Audio). */
  private async segmentSamples(bytes: ArrayBuffer): Promise<Int16Array> {
    const pcm = pcmFromWav(bytes);
    if (pcm && (pcm.sampleRate === this.rate || !this.rateFixed)) {
      if (!this.rateFixed) this.useRate(pcm.sampleRate);
      return pcm.samples;
    }
    const buffer = await this.ctx.decodeAudioData(bytes);
    const channel = buffer.getChannelData(0);
    const length = Math.round((channel.length * this.rate) / buffer.sampleRate);
    const out = new Int16Array(length);
    for (let i = 0; i < length; i++) {
      const v = channel[Math.min(channel.length - 1, Math.floor((i * buffer.sampleRate) / this.rate))] ?? 0;
      out[i] = Math.max(-32768, Math.min(32767, Math.round(v * 32767)));
    }
    return out;
  }

  /** Schedules runs of samples the stream handed out, back to back on the timeline; returns how many samples. */
  private enqueue(chunks: { start: number; samples: Int16Array; from: "frame" | "segment" }[]): number {
    let count = 0;
    for (const chunk of chunks) {
      if (chunk.samples.length === 0) continue;
      count += chunk.samples.length;
      if (chunk.from === "segment") this.peaks.add(chunk.start, chunk.samples);
      const now = this.ctx.currentTime;
      const earliest = now + LEAD_S;
      let start = this.timelineEnd;
      if (this.timelineStart === null || start < earliest) {
        // First audio, or the previous run already finished: start as soon as possible.
        if (this.timelineStart !== null) this.snap = { ...this.snap, underruns: this.snap.underruns + 1 };
        start = earliest;
      }
      const buffer = this.ctx.createBuffer(1, chunk.samples.length, this.rate);
      const data = buffer.getChannelData(0);
      for (let i = 0; i < chunk.samples.length; i++) data[i] = chunk.samples[i]! / 32768;
      const source = this.ctx.createBufferSource();
      source.buffer = buffer;
      source.connect(this.out);
      source.start(start);
      source.onended = () => this.tick();
      if (this.timelineStart === null) {
        this.timelineStart = start;
        this.firstFrom = chunk.from;
      }
      this.timelineEnd = start + buffer.duration;
      this.scheduled.push({ start, end: this.timelineEnd, source });
      // Sources that have finished need no reference (long texts make thousands of frames).
      while (this.scheduled.length > 64 && this.scheduled[0]!.end < now) this.scheduled.shift();
    }
    this.refresh();
    return count;
  }

  play(): Promise<void> {
    this.wantPlaying = true;
    if (this.snap.status === "ended") return Promise.resolve();
    return this.ctx.resume().then(() => this.tick());
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

  /** True once all the audio (of a known number of segments) has been scheduled and heard. */
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
    const streamEnd = this.total === null ? undefined : this.total === 0 ? 0 : this.stream.segmentEndOf(this.total - 1);
    const allScheduled = streamEnd !== undefined && this.stream.next >= streamEnd;
    let status: SegmentPlayerStatus;
    if (allScheduled && this.timelineStart !== null && now >= this.timelineEnd) status = "ended";
    else if (!this.wantPlaying || !running) status = this.timelineStart === null && this.wantPlaying ? "buffering" : "paused";
    else if (this.timelineStart === null || now >= this.timelineEnd) status = "buffering";
    else status = "playing";
    if (this.snap.error && status === "buffering") status = "error";
    const positionMs = Math.round(this.positionSeconds() * 1000);
    const scheduledMs = this.timelineStart === null ? 0 : Math.round((this.timelineEnd - this.timelineStart) * 1000);
    const segmentsScheduled = this.stream.segmentsDone();
    const framesReceived = this.stream.framesReceived;
    const receivedMs = Math.round((this.stream.receivedEnd / this.rate) * 1000);
    const changed =
      status !== this.snap.status ||
      firstAudioAt !== this.snap.firstAudioAt ||
      scheduledMs !== this.snap.scheduledMs ||
      Math.abs(positionMs - this.snap.positionMs) >= 200 ||
      segmentsScheduled !== this.snap.segmentsScheduled ||
      framesReceived !== this.snap.framesReceived ||
      receivedMs !== this.snap.receivedMs;
    if (!changed) return;
    this.snap = {
      ...this.snap,
      status,
      positionMs,
      scheduledMs,
      firstAudioAt,
      segmentsScheduled,
      framesReceived,
      receivedMs,
      firstAudioFrom: firstAudioAt === null ? null : this.firstFrom,
    };
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
