import { useEffect, useRef, useState } from "react";
import type WaveSurfer from "wavesurfer.js";
import type RecordPlugin from "wavesurfer.js/dist/plugins/record.js";
import { formatClock } from "../lib/format";
import { WaveformPlayer } from "./waveform-player";

export interface Recording {
  file: File;
  durationMs: number;
  url: string;
}

type Phase = "idle" | "starting" | "recording" | "done" | "error";

/** The recording format: WEBM/Opus where the browser can (Chromium, Firefox), otherwise whatever it records. */
function pickMimeType(): string | undefined {
  if (typeof MediaRecorder === "undefined") return undefined;
  for (const t of ["audio/webm;codecs=opus", "audio/webm", "audio/ogg;codecs=opus", "audio/mp4"]) {
    if (MediaRecorder.isTypeSupported(t)) return t;
  }
  return undefined;
}

function extensionFor(mime: string): string {
  if (mime.includes("webm")) return "webm";
  if (mime.includes("ogg")) return "ogg";
  if (mime.includes("mp4")) return "m4a";
  return "webm";
}

function micErrorMessage(err: unknown): string {
  const name = (err as { name?: string })?.name;
  if (name === "NotAllowedError" || name === "SecurityError") {
    return "Utter may not use your microphone. Allow it in your browser's site settings, then press Record again.";
  }
  if (name === "NotFoundError" || name === "OverconstrainedError") return "No microphone was found. Plug one in, or upload a file instead.";
  if (name === "NotReadableError") return "Your microphone is busy in another app. Close it there and try again.";
  return "Recording could not start in this browser. Upload a file instead.";
}

/**
 * Records a reference clip in the browser: MediaRecorder (via wavesurfer's
 * Record plugin) with a live waveform and a timer. The clip must be 10 s to
 * 5 min (DESIGN §1): Stop unlocks at the minimum and recording stops by
 * itself at the maximum.
 */
export function Recorder({ minMs, maxMs, onChange }: { minMs: number; maxMs: number; onChange: (rec: Recording | null) => void }) {
  const waveRef = useRef<HTMLDivElement>(null);
  const tools = useRef<{ ws: WaveSurfer; record: RecordPlugin } | null>(null);
  const [phase, setPhase] = useState<Phase>("idle");
  const [elapsed, setElapsed] = useState(0);
  const [error, setError] = useState<string | null>(null);
  const [recording, setRecording] = useState<Recording | null>(null);
  const elapsedRef = useRef(0);
  // Our own clock rather than the plugin's requestAnimationFrame one, which stops in background tabs.
  const timer = useRef<ReturnType<typeof setInterval>>();
  const onChangeRef = useRef(onChange);
  onChangeRef.current = onChange;
  const stopButton = useRef<HTMLButtonElement>(null);
  const recordButton = useRef<HTMLButtonElement>(null);

  useEffect(
    () => () => {
      clearInterval(timer.current);
      tools.current?.record.stopMic();
      tools.current?.ws.destroy();
      tools.current = null;
    },
    [],
  );
  useEffect(() => () => (recording ? URL.revokeObjectURL(recording.url) : undefined), [recording]);

  async function ensureTools() {
    if (tools.current) return tools.current;
    const [{ default: WaveSurferCtor }, { default: RecordPluginCtor }] = await Promise.all([
      import("wavesurfer.js"),
      import("wavesurfer.js/dist/plugins/record.js"),
    ]);
    const styles = getComputedStyle(document.documentElement);
    const ws = WaveSurferCtor.create({
      container: waveRef.current!,
      height: 72,
      waveColor: styles.getPropertyValue("--accent").trim() || "#7c9cff",
      progressColor: styles.getPropertyValue("--accent").trim() || "#7c9cff",
      barWidth: 2,
      barGap: 1,
      barRadius: 2,
    });
    const mimeType = pickMimeType();
    const record = ws.registerPlugin(
      RecordPluginCtor.create({ mimeType, scrollingWaveform: true, scrollingWaveformWindow: 6, renderRecordedAudio: false }),
    );
    record.on("record-end", (blob) => {
      clearInterval(timer.current);
      const durationMs = elapsedRef.current;
      record.stopMic();
      const type = blob.type || mimeType || "audio/webm";
      const file = new File([blob], `recording.${extensionFor(type)}`, { type });
      const rec: Recording = { file, durationMs, url: URL.createObjectURL(blob) };
      setRecording(rec);
      setPhase("done");
      onChangeRef.current(rec);
      // Focus moves off the Stop button (now gone) to the result.
      requestAnimationFrame(() => recordButton.current?.focus());
    });
    tools.current = { ws, record };
    return tools.current;
  }

  async function start() {
    setError(null);
    setPhase("starting");
    setRecording(null);
    onChangeRef.current(null);
    elapsedRef.current = 0;
    setElapsed(0);
    try {
      if (typeof MediaRecorder === "undefined" || !navigator.mediaDevices?.getUserMedia) {
        throw Object.assign(new Error("unsupported"), { name: "NotSupportedError" });
      }
      const { record } = await ensureTools();
      await record.startRecording({ echoCancellation: false, noiseSuppression: false, autoGainControl: false });
      const startedAt = performance.now();
      clearInterval(timer.current);
      timer.current = setInterval(() => {
        const ms = performance.now() - startedAt;
        elapsedRef.current = ms;
        setElapsed(ms);
        if (ms >= maxMs && record.isRecording()) record.stopRecording();
      }, 100);
      setPhase("recording");
      requestAnimationFrame(() => stopButton.current?.focus());
    } catch (err) {
      tools.current?.record.stopMic();
      setPhase("error");
      setError(micErrorMessage(err));
    }
  }

  function stop() {
    const rec = tools.current?.record;
    if (rec?.isRecording()) rec.stopRecording();
  }

  const canStop = elapsed >= minMs;
  const remainingToMin = Math.max(0, Math.ceil((minMs - elapsed) / 1000));

  return (
    <div className="recorder" data-testid="recorder" data-phase={phase} data-elapsed-ms={Math.round(elapsed)}>
      {/* The live waveform; once recording stops, the whole clip is shown in a player instead. */}
      <div className={`recorder-wave${phase === "recording" ? " live" : ""}`} ref={waveRef} aria-hidden="true" hidden={phase === "done"} />
      {recording && phase === "done" ? (
        <WaveformPlayer
          url={recording.url}
          label="Your recording"
          durationMs={recording.durationMs}
          height={72}
          testId="recording-playback"
        />
      ) : null}
      <div className="recorder-bar">
        {phase === "recording" ? (
          <>
            <span className="rec-dot" aria-hidden="true" />
            <span className="recorder-time" role="timer" aria-live="off" aria-label={`Recorded ${Math.floor(elapsed / 1000)} seconds`}>
              {formatClock(elapsed)} / {formatClock(maxMs)}
            </span>
            <button
              ref={stopButton}
              type="button"
              className="button primary"
              onClick={stop}
              disabled={!canStop}
              aria-describedby="recorder-hint"
            >
              Stop recording
            </button>
          </>
        ) : (
          <button ref={recordButton} type="button" className="button primary" onClick={start} disabled={phase === "starting"}>
            {phase === "starting" ? "Starting the microphone…" : recording ? "Record again" : "Start recording"}
          </button>
        )}
      </div>
      <p id="recorder-hint" className="hint" aria-live="polite">
        {phase === "recording"
          ? canStop
            ? "Keep going for a closer clone, or stop when you are ready. Recording stops by itself at 5 minutes."
            : `Keep talking: you can stop in ${remainingToMin} s (a voice needs at least 10 seconds).`
          : phase === "done" && recording
            ? `Recorded ${formatClock(recording.durationMs)}. Listen to it, or record again.`
            : "Read a few sentences in your normal voice, somewhere quiet. 10 seconds to 5 minutes."}
      </p>
      {error ? (
        <p className="form-error" role="alert">
          {error}
        </p>
      ) : null}
    </div>
  );
}
