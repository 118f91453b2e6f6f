import { useEffect, useRef, useState } from "react";
import { engineTroubleText, useEngineLiveness } from "../hooks/use-engine-liveness";
import type { TaskSocketState } from "../hooks/use-task-socket";
import { apiFetch, describeError } from "../lib/api";
import { announcement, describeTask } from "../lib/task-words";
import { isTerminal } from "../lib/task-state";

export { describeTask } from "../lib/task-words";

export function ProgressBar({ value, label, testId }: { value: number; label: string; testId?: string }) {
  const pct = Math.round(Math.max(0, Math.min(1, value)) * 100);
  return (
    <div
      className="progress"
      role="progressbar"
      aria-label={label}
      aria-valuemin={0}
      aria-valuemax={100}
      aria-valuenow={pct}
      data-testid={testId}
      data-progress={pct}
    >
      <div className="progress-fill" style={{ width: `${pct}%` }} />
    </div>
  );
}

/**
 * Progress bar, stage, a polite live region for screen readers, the error in
 * words, and a Cancel button while the task can still be cancelled.
 */
export function TaskProgress({ live, label, onCancelled }: { live: TaskSocketState; label: string; onCancelled?: () => void }) {
  const task = live.task;
  const [cancelling, setCancelling] = useState(false);
  const [cancelError, setCancelError] = useState<string | null>(null);
  const [spoken, setSpoken] = useState("");
  const lastSpoken = useRef("");
  const engineTrouble = engineTroubleText(useEngineLiveness(live));

  useEffect(() => {
    const text = announcement(live);
    if (text && text !== lastSpoken.current) {
      lastSpoken.current = text;
      setSpoken(text);
    }
  }, [live]);

  async function cancel() {
    if (!task) return;
    setCancelling(true);
    setCancelError(null);
    try {
      await apiFetch(`/api/tasks/${encodeURIComponent(task.id)}`, { method: "DELETE" });
      onCancelled?.();
    } catch (err) {
      setCancelError(describeError(err));
    } finally {
      setCancelling(false);
    }
  }

  const status = task?.status ?? "connecting";
  const done = isTerminal(task);
  return (
    <div className={`task-progress status-${status}`} data-testid="task-progress" data-status={status} data-transport={live.transport}>
      <div className="task-progress-head">
        <span className="task-status">{describeTask(live)}</span>
        {live.transport === "reconnecting" ? <span className="muted small">Reconnecting…</span> : null}
        {live.transport === "polling" ? <span className="muted small">Live updates unavailable; checking every few seconds.</span> : null}
        {task && !done ? (
          <button type="button" className="button small" onClick={cancel} disabled={cancelling}>
            {cancelling ? "Cancelling…" : "Cancel"}
          </button>
        ) : null}
      </div>
      <ProgressBar value={task?.progress ?? 0} label={label} testId="task-progress-bar" />
      <p className="visually-hidden" aria-live="polite" aria-atomic="true" data-testid="task-announcer">
        {spoken}
      </p>
      {task?.status === "failed" && task.error ? (
        <p className="form-error" role="alert">
          {task.error.message}
          {task.error.retryable ? " You can try again." : ""}
        </p>
      ) : null}
      {engineTrouble && !done ? (
        <p className="form-error" role="alert" data-testid="engine-trouble">
          {engineTrouble}
        </p>
      ) : null}
      {live.error ? (
        <p className="form-error" role="alert">
          {live.error}
        </p>
      ) : null}
      {cancelError ? (
        <p className="form-error" role="alert">
          {cancelError}
        </p>
      ) : null}
    </div>
  );
}
