import { Link } from "@remix-run/react";
import { useEffect, useState } from "react";
import type { listTasks } from "../../worker/services/tasks";
import { useTaskSocket } from "../hooks/use-task-socket";
import { isTaskShown, useShownTasksVersion } from "../lib/shown-tasks";
import { statusLabel } from "../lib/format";
import { isTerminal } from "../lib/task-state";
import { describeTask, ProgressBar } from "./task-progress";

export type DockTask = Awaited<ReturnType<typeof listTasks>>["tasks"][number];

/** How long a finished job stays in the dock (so its "done" is seen) before it leaves. */
const LINGER_MS = 15_000;

function taskHref(task: DockTask): string {
  return task.kind === "design_preview" ? `/design?task=${encodeURIComponent(task.id)}` : `/generate?task=${encodeURIComponent(task.id)}`;
}

function DockItem({
  task,
  onDone,
  onDismiss,
}: {
  task: DockTask;
  onDone: (id: string, text: string) => void;
  onDismiss: (id: string) => void;
}) {
  const live = useTaskSocket(task.id);
  const status = live.task?.status ?? task.status;
  const finished = isTerminal(live.task);
  useEffect(() => {
    if (finished) onDone(task.id, `${task.kind === "design_preview" ? "Voice preview" : "Speech"}: ${describeTask(live)}`);
    // Only when it becomes finished.
  }, [finished]);
  const title = task.kind === "design_preview" ? "Voice preview" : task.voice_name ? `Speech · ${task.voice_name}` : "Speech";
  return (
    <li className={`dock-item status-${status}`} data-task-id={task.id} data-status={status}>
      <div className="dock-item-head">
        <strong>{title}</strong>
        <span className="dock-text" title={task.text_preview}>
          {task.text_preview}
        </span>
      </div>
      <ProgressBar value={live.task?.progress ?? 0} label={`${title} progress`} />
      <div className="dock-item-foot">
        <span className="small">{live.task ? describeTask(live) : statusLabel(task.status)}</span>
        <span className="dock-actions">
          <Link to={taskHref(task)}>{finished && status === "succeeded" ? "Listen" : "Open"}</Link>
          {finished ? (
            <button type="button" className="link-button" onClick={() => onDismiss(task.id)}>
              Dismiss
            </button>
          ) : null}
        </span>
      </div>
    </li>
  );
}

/**
 * The signed-in user's running jobs, on every page. The list comes from the
 * root loader (which re-runs after every navigation and action, so a job
 * started anywhere appears); each entry follows its task over the socket.
 */
export function TaskDock({ active }: { active: DockTask[] }) {
  const [known, setKnown] = useState<DockTask[]>(active);
  const [open, setOpen] = useState(true);
  const [spoken, setSpoken] = useState("");
  const [finishedIds, setFinishedIds] = useState<Set<string>>(() => new Set(active.filter((t) => isTerminal(t)).map((t) => t.id)));
  useShownTasksVersion();

  useEffect(() => {
    setKnown((prev) => {
      const ids = new Set(prev.map((t) => t.id));
      const added = active.filter((t) => !ids.has(t.id));
      return added.length ? [...added, ...prev] : prev;
    });
  }, [active]);

  const dismiss = (id: string) => setKnown((prev) => prev.filter((t) => t.id !== id));
  const onDone = (id: string, text: string) => {
    setFinishedIds((prev) => new Set(prev).add(id));
    setSpoken(text);
    setTimeout(() => dismiss(id), LINGER_MS);
  };

  const visible = known.filter((t) => !isTaskShown(t.id));
  const running = visible.filter((t) => !finishedIds.has(t.id)).length;
  return (
    <aside className="task-dock" aria-label="Your jobs" data-testid="task-dock" hidden={visible.length === 0}>
      <p className="visually-hidden" aria-live="polite">
        {spoken}
      </p>
      {visible.length ? (
        <>
          <button type="button" className="dock-toggle" aria-expanded={open} aria-controls="dock-list" onClick={() => setOpen((o) => !o)}>
            {running ? `Jobs running (${running})` : `Jobs (${visible.length})`} <span aria-hidden="true">{open ? "▾" : "▴"}</span>
          </button>
          <ul id="dock-list" className="dock-list" hidden={!open}>
            {visible.map((t) => (
              <DockItem key={t.id} task={t} onDone={onDone} onDismiss={dismiss} />
            ))}
          </ul>
        </>
      ) : null}
    </aside>
  );
}
