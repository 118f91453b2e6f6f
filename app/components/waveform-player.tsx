import { forwardRef, useEffect, useId, useImperativeHandle, useRef, useState, type KeyboardEvent } from "react";
import type WaveSurfer from "wavesurfer.js";
import { formatClock, formatDurationWords } from "../lib/format";
import { SubtitleLinks } from "./subtitle-links";

export interface WaveformPlayerHandle {
  play(): Promise<void>;
  pause(): void;
  /** Seconds. */
  setTime(seconds: number): void;
  isReady(): boolean;
}

interface Props {
  url: string;
  /**
   * The engine's precomputed waveform (the `peaks` artifact, ADR 0023). With it wavesurfer draws
   * without fetching and decoding the file, and the <audio> element streams it with Range requests,
   * so an hour of audio is never held in memory. Missing or unreadable: the file is decoded as before.
   */
  peaksUrl?: string | null;
  /** What is playing, for screen readers ("Preview of Alice"). */
  label: string;
  /** A link to download the file, shown beside the controls. */
  downloadUrl?: string;
  /** Offered beside the WAV when the engine made one. */
  mp3DownloadUrl?: string;
  downloadName?: string;
  /** Known length, shown before the audio has loaded. */
  durationMs?: number | null;
  autoPlay?: boolean;
  height?: number;
  onReady?: (durationSeconds: number) => void;
  onFinish?: () => void;
  /** The play position as it moves (seconds), e.g. to follow the words being spoken. */
  onTime?: (seconds: number) => void;
  /** Offered beside the audio downloads: the subtitles, as SRT (a `.vtt` URL is derived from it). */
  subtitlesUrl?: string;
  testId?: string;
}

type LoadState = "loading" | "ready" | "error";

/** The `peaks` artifact as the player needs it, or null (none, not readable): then the audio is decoded. */
async function loadPeaks(peaksUrl: string | null | undefined): Promise<{ peaks: Float32Array; duration: number } | null> {
  if (!peaksUrl) return null;
  try {
    const res = await fetch(peaksUrl, { credentials: "same-origin" });
    if (!res.ok) return null;
    const body = (await res.json()) as { peaks?: unknown; length?: unknown; sample_rate?: unknown };
    const { peaks, length, sample_rate: rate } = body;
    if (!Array.isArray(peaks) || !peaks.length || typeof length !== "number" || typeof rate !== "number" || rate <= 0) return null;
    return { peaks: Float32Array.from(peaks as number[]), duration: length / rate };
  } catch {
    return null;
  }
}

/**
 * A play button, a waveform you can click or drive with the arrow keys, and
 * the time. wavesurfer.js is imported when the player mounts, so pages
 * without audio (the landing page) never download it. It plays through an
 * <audio> element, so playback streams and seeks with Range requests while
 * the waveform is still being drawn.
 */
export const WaveformPlayer = forwardRef<WaveformPlayerHandle, Props>(function WaveformPlayer(props, ref) {
  const { url, peaksUrl, label, downloadUrl, mp3DownloadUrl, downloadName, durationMs, autoPlay, height = 64, testId } = props;
  const container = useRef<HTMLDivElement>(null);
  const ws = useRef<WaveSurfer | null>(null);
  const [state, setState] = useState<LoadState>("loading");
  const [playing, setPlaying] = useState(false);
  const [time, setTime] = useState(0);
  const [duration, setDuration] = useState((durationMs ?? 0) / 1000);
  const callbacks = useRef({ onReady: props.onReady, onFinish: props.onFinish, onTime: props.onTime });
  callbacks.current = { onReady: props.onReady, onFinish: props.onFinish, onTime: props.onTime };
  const labelId = useId();

  useEffect(() => {
    let cancelled = false;
    let instance: WaveSurfer | null = null;
    setState("loading");
    setPlaying(false);
    setTime(0);
    void Promise.all([import("wavesurfer.js"), loadPeaks(peaksUrl)])
      .then(([{ default: WaveSurferCtor }, precomputed]) => {
        if (cancelled || !container.current) return;
        const styles = getComputedStyle(document.documentElement);
        instance = WaveSurferCtor.create({
          container: container.current,
          url,
          ...(precomputed ? { peaks: [precomputed.peaks], duration: precomputed.duration } : {}),
          height,
          waveColor: styles.getPropertyValue("--wave").trim() || "#4a5675",
          progressColor: styles.getPropertyValue("--accent").trim() || "#7c9cff",
          cursorColor: styles.getPropertyValue("--text").trim() || "#eef0f4",
          cursorWidth: 2,
          barWidth: 2,
          barGap: 1,
          barRadius: 2,
          normalize: true,
          dragToSeek: true,
          autoplay: autoPlay ?? false,
          fetchParams: { credentials: "same-origin" },
        });
        ws.current = instance;
        instance.on("ready", (d) => {
          setDuration(d);
          setState("ready");
          callbacks.current.onReady?.(d);
        });
        instance.on("timeupdate", (t) => {
          setTime(t);
          callbacks.current.onTime?.(t);
        });
        instance.on("play", () => setPlaying(true));
        instance.on("pause", () => setPlaying(false));
        instance.on("finish", () => {
          setPlaying(false);
          callbacks.current.onFinish?.();
        });
        instance.on("error", () => setState("error"));
      })
      .catch(() => {
        if (!cancelled) setState("error");
      });
    return () => {
      cancelled = true;
      instance?.destroy();
      ws.current = null;
    };
  }, [url, peaksUrl, height, autoPlay]);

  useImperativeHandle(
    ref,
    () => ({
      play: async () => {
        await ws.current?.play();
      },
      pause: () => ws.current?.pause(),
      setTime: (s: number) => ws.current?.setTime(s),
      isReady: () => state === "ready",
    }),
    [state],
  );

  const toggle = () => {
    const w = ws.current;
    if (!w) return;
    void w.playPause().catch(() => setState("error"));
  };

  const onKeyDown = (e: KeyboardEvent<HTMLDivElement>) => {
    const w = ws.current;
    if (!w || state !== "ready") return;
    const step = e.shiftKey ? 15 : 5;
    let to: number | null = null;
    if (e.key === "ArrowRight" || e.key === "ArrowUp") to = Math.min(duration, time + step);
    else if (e.key === "ArrowLeft" || e.key === "ArrowDown") to = Math.max(0, time - step);
    else if (e.key === "Home") to = 0;
    else if (e.key === "End") to = duration;
    else if (e.key === " " || e.key === "Enter") {
      e.preventDefault();
      toggle();
      return;
    }
    if (to !== null) {
      e.preventDefault();
      w.setTime(to);
    }
  };

  return (
    <div
      className="player"
      data-testid={testId}
      data-state={state}
      data-playing={playing ? "true" : "false"}
      data-duration={duration ? duration.toFixed(2) : undefined}
      data-time={time.toFixed(2)}
    >
      <span id={labelId} className="visually-hidden">
        {label}
      </span>
      <button type="button" className="button play-button" onClick={toggle} disabled={state !== "ready"} aria-describedby={labelId}>
        <span aria-hidden="true">{playing ? "❚❚" : "▶"}</span>
        <span className="visually-hidden">{playing ? "Pause" : "Play"}</span>
      </button>
      <div
        className="waveform"
        ref={container}
        role="slider"
        tabIndex={state === "ready" ? 0 : -1}
        aria-labelledby={labelId}
        aria-valuemin={0}
        aria-valuemax={Math.round(duration)}
        aria-valuenow={Math.round(time)}
        aria-valuetext={`${formatDurationWords(time * 1000)} of ${formatDurationWords(duration * 1000)}`}
        onKeyDown={onKeyDown}
      >
        {state === "error" ? <p className="field-error player-error">This audio could not be loaded. Try again in a moment.</p> : null}
      </div>
      <span className="player-time" aria-hidden="true">
        {formatClock(time * 1000)} / {formatClock(duration * 1000)}
      </span>
      {downloadUrl ? (
        <a className="button" href={downloadUrl} download={downloadName ?? true}>
          Download WAV
        </a>
      ) : null}
      {mp3DownloadUrl ? (
        <a className="button" href={mp3DownloadUrl} download={downloadName ? downloadName.replace(/\.wav$/, ".mp3") : true}>
          MP3
        </a>
      ) : null}
      {props.subtitlesUrl ? <SubtitleLinks srtUrl={props.subtitlesUrl} downloadName={downloadName} /> : null}
    </div>
  );
});
