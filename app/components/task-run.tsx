import { useNavigation, useRevalidator } from "@remix-run/react";
import { useEffect, useRef, useState, type ReactNode } from "react";
import { useLateMp3 } from "../hooks/use-late-mp3";
import { useTaskSocket } from "../hooks/use-task-socket";
import { formatClock } from "../lib/format";
import { SegmentPlayer, type SegmentPlayerSnapshot } from "../lib/segment-player";
import { useShowTask } from "../lib/shown-tasks";
import { isTerminal, type TaskResult, type TaskSnapshot } from "../lib/task-state";
import { LiveWaveform } from "./live-waveform";
import { TaskProgress } from "./task-progress";
import { SpokenWords } from "./spoken-words";
import { WaveformPlayer, type WaveformPlayerHandle } from "./waveform-player";

function usePlayerSnapshot(player: SegmentPlayer | null): SegmentPlayerSnapshot | null {
  const [snap, setSnap] = useState<SegmentPlayerSnapshot | null>(() => player?.getSnapshot() ?? null);
  useEffect(() => {
    if (!player) {
      setSnap(null);
      return;
    }
    return player.subscribe(setSnap);
  }, [player]);
  return snap;
}

interface Props {
  taskId: string;
  initial?: TaskSnapshot | null;
  /** A player made during the click that started the task (so audio may start without another click). */
  player?: SegmentPlayer | null;
  /** Play segments as they arrive (speech); design previews only have the final file. */
  progressive: boolean;
  label: string;
  finalLabel: string;
  /** Offer a WAV download of the finished file. */
  download?: boolean;
  /** Called once when the task reaches a terminal state. */
  onSettled?: (status: string) => void;
  /** Start the finished file by itself (design previews the user just asked for). */
  autoPlayFinal?: boolean;
  /** Shown under the finished player (e.g. "save this voice"). */
  children?: (result: TaskResult) => ReactNode;
  /** Move focus to the run when it appears (the Generate button is disabled meanwhile, which drops focus). */
  focusOnStart?: boolean;
}

/**
 * One task, live: progress (socket with polling fallback), the audio playing
 * as it arrives (live frames from a v2 engine, else the segments back to back)
 * with a waveform of what has arrived, then the finished file in a normal
 * player with a waveform and a download. When the finished file is ready
 * while the live stream is still playing, playback moves over to it at the
 * same position.
 */
export function TaskRun({
  taskId,
  initial,
  player: given,
  progressive,
  label,
  finalLabel,
  download,
  autoPlayFinal,
  onSettled,
  children,
  focusOnStart,
}: Props) {
  useShowTask(taskId);
  // Live frames go straight to the player (engine protocol v2); the ref outlives renders.
  const playerRef = useRef<SegmentPlayer | null>(null);
  const live = useTaskSocket(taskId, { initial, onFrame: (frame) => playerRef.current?.addFrame(frame) });
  const task = live.task;
  const startedDone = useRef(isTerminal(initial?.task));
  const [player, setPlayer] = useState<SegmentPlayer | null>(null);
  playerRef.current = player;
  const snap = usePlayerSnapshot(player);
  const [completedAt, setCompletedAt] = useState<number | null>(null);
  const [firstAudioAt, setFirstAudioAt] = useState<number | null>(null);
  const [firstSegmentAt, setFirstSegmentAt] = useState<number | null>(null);
  const [handedOver, setHandedOver] = useState(false);
  const [handoverMs, setHandoverMs] = useState<number | null>(null);
  /** What the live stream was doing when the final file took over (a played-out stream restarts from 0). */
  const [handoverState, setHandoverState] = useState<string | null>(null);
  const finalRef = useRef<WaveformPlayerHandle>(null);
  const [finalTime, setFinalTime] = useState(0);
  const sectionRef = useRef<HTMLElement>(null);
  useEffect(() => {
    if (focusOnStart) sectionRef.current?.focus();
    // Once, when the run appears.
  }, []);

  // The live player belongs to this run: made here (or adopted from the click) and closed on the way out.
  useEffect(() => {
    if (!progressive || startedDone.current) return;
    const p = given && !given.disposed ? given : new SegmentPlayer({ autoplay: true });
    setPlayer(p);
    return () => p.dispose();
  }, [given, progressive]);

  useEffect(() => {
    if (live.segments.length > 0 && firstSegmentAt === null && !startedDone.current) setFirstSegmentAt(Date.now());
    if (!player) return;
    for (const s of live.segments) player.add(s);
  }, [player, live.segments, firstSegmentAt]);

  useEffect(() => {
    if (!player || !task) return;
    if (task.segments_total != null) player.setTotal(task.segments_total);
    else if (task.status === "succeeded") player.setTotal(live.segments.length);
    if (task.status === "failed" || task.status === "cancelled") void player.pause();
  }, [player, task, live.segments.length]);

  useEffect(() => {
    if (snap?.firstAudioAt && !firstAudioAt) setFirstAudioAt(snap.firstAudioAt);
  }, [snap?.firstAudioAt, firstAudioAt]);

  useEffect(() => {
    if (task?.status === "succeeded" && completedAt === null && !startedDone.current) setCompletedAt(Date.now());
  }, [task?.status, completedAt]);

  const terminal = isTerminal(task);
  const settledRef = useRef(onSettled);
  settledRef.current = onSettled;
  const revalidator = useRevalidator();
  const revalidateRef = useRef(revalidator.revalidate);
  revalidateRef.current = revalidator.revalidate;
  const navigation = useNavigation();
  const [revalidateWhenIdle, setRevalidateWhenIdle] = useState(false);
  useEffect(() => {
    if (terminal && task) settledRef.current?.(task.status);
    // The loaders run again, so the header's credit badge shows what a cancel or failure gave back.
    if (terminal && task && !startedDone.current) setRevalidateWhenIdle(true);
    // Once, when the task settles.
  }, [terminal]);
  useEffect(() => {
    // Not in the middle of a navigation (the generate page puts the task in its URL as it starts):
    // revalidating then aborts that navigation, whose fetch the router reports as an AbortError.
    if (!revalidateWhenIdle || navigation.state !== "idle") return;
    setRevalidateWhenIdle(false);
    revalidateRef.current();
  }, [revalidateWhenIdle, navigation.state]);

  const result = task?.status === "succeeded" ? task.result : null;
  const hasMp3 = useLateMp3(download ? result?.generation_id : null, result?.formats?.includes("mp3") ?? false);
  const downloadName = result ? `utter-${result.generation_id ?? taskId}.wav` : undefined;

  /** The finished file is ready: carry on from where the live stream is, in the normal player. */
  const handOver = () => {
    if (!player) return;
    const state = player.getSnapshot().status;
    const position = player.positionSeconds();
    const wasPlaying = state === "playing" || state === "buffering";
    void player.pause();
    setHandedOver(true);
    setHandoverMs(Math.round(position * 1000));
    setHandoverState(state);
    if (state !== "ended" && position > 0) finalRef.current?.setTime(position);
    if (wasPlaying) {
      finalRef.current?.play().catch(() => {
        // the browser refused to play without a click: the player shows its Play button
      });
    }
    // The stream's job is done: free its AudioContext and decoded buffers.
    player.dispose();
  };

  const showLive = progressive && player && snap && !handedOver && task?.status !== "cancelled";
  const liveLabel = !snap
    ? ""
    : snap.status === "buffering"
      ? snap.scheduledMs === 0
        ? "The first sentences will play as soon as they are ready…"
        : "Waiting for the next part…"
      : snap.status === "paused"
        ? "Paused"
        : snap.status === "ended"
          ? "Played everything so far"
          : "Playing as it is being made";

  return (
    <section
      ref={sectionRef}
      tabIndex={-1}
      className="task-run card"
      aria-label={label}
      data-testid="task-run"
      data-task-id={taskId}
      data-status={task?.status ?? "connecting"}
      data-first-segment-at={firstSegmentAt ?? undefined}
      data-first-audio-at={firstAudioAt ?? undefined}
      data-completed-at={completedAt ?? undefined}
      data-segments-scheduled={snap?.segmentsScheduled ?? 0}
      data-frames-received={snap?.framesReceived ?? 0}
      data-first-audio-from={snap?.firstAudioFrom ?? undefined}
      data-underruns={snap?.underruns ?? 0}
      data-handed-over={handedOver ? "true" : "false"}
      data-handover-position-ms={handoverMs ?? undefined}
      data-handover-state={handoverState ?? undefined}
    >
      <TaskProgress live={live} label={label} />
      {showLive ? (
        <div className="live-player" data-testid="live-player" data-state={snap.status}>
          <button
            type="button"
            className="button play-button"
            onClick={() => void player.toggle()}
            disabled={snap.status === "ended"}
            aria-label={snap.status === "playing" || snap.status === "buffering" ? "Pause the live audio" : "Play the live audio"}
          >
            <span aria-hidden="true">{snap.status === "playing" || snap.status === "buffering" ? "❚❚" : "▶"}</span>
          </button>
          <div className="live-meta">
            <span>{liveLabel}</span>
            <span className="muted small">
              {/* Ready: what has arrived (ADR 0028 schedules only a window of it ahead of the listener). */}
              {formatClock(snap.positionMs)} heard · {formatClock(Math.max(snap.scheduledMs, snap.receivedMs))} ready
              {task?.segments_total ? ` · part ${Math.min(snap.segmentsScheduled, task.segments_total)} of ${task.segments_total}` : ""}
            </span>
          </div>
          {snap.receivedMs > 0 ? <LiveWaveform peaks={player.waveform()} heardBars={Math.floor(snap.positionMs / 50)} /> : null}
          {snap.error ? (
            <p className="form-error" role="alert">
              {snap.error}
            </p>
          ) : null}
        </div>
      ) : null}
      {result ? (
        <div className="final" data-testid="final">
          <h3 className="final-title">{finalLabel}</h3>
          <WaveformPlayer
            ref={finalRef}
            url={result.audio_url}
            peaksUrl={result.generation_id ? `/api/tasks/${taskId}/artifacts/peaks` : null}
            label={finalLabel}
            durationMs={result.duration_ms}
            downloadUrl={download ? `${result.audio_url}?download=1` : undefined}
            mp3DownloadUrl={download && hasMp3 ? `${result.audio_url}?format=mp3&download=1` : undefined}
            downloadName={downloadName}
            autoPlay={autoPlayFinal && !startedDone.current}
            onReady={progressive ? handOver : undefined}
            onTime={result.generation_id ? setFinalTime : undefined}
            testId="final-player"
          />
          {result.generation_id ? (
            <SpokenWords url={`/api/tasks/${encodeURIComponent(taskId)}/artifacts/alignment`} time={finalTime} />
          ) : null}
          {children?.(result)}
        </div>
      ) : null}
    </section>
  );
}
