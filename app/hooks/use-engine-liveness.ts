import { useEffect, useRef, useState } from "react";
import type { TaskSocketState } from "./use-task-socket";

export type EngineTrouble = "unreachable" | "lost_job" | null;

/**
 * While a task runs, notices when it has gone quiet and asks the Worker
 * whether the engine still answers for it (`GET /api/tasks/:id/engine`). A
 * crashed engine is otherwise only noticed at the Worker's heartbeat deadline
 * (60 s), with the bar frozen meanwhile. Any new task message clears it.
 */
export function useEngineLiveness(live: TaskSocketState, { quietMs = 2_000, checkEveryMs = 1_000 } = {}): EngineTrouble {
  const [trouble, setTrouble] = useState<EngineTrouble>(null);
  const lastHeard = useRef(Date.now());
  const taskId = live.task?.id ?? null;
  const active = live.task?.status === "running" || live.task?.status === "dispatched";

  useEffect(() => {
    lastHeard.current = Date.now();
    setTrouble(null);
  }, [live.seq]);

  useEffect(() => {
    if (!taskId || !active) {
      setTrouble(null);
      return;
    }
    let inFlight = false;
    let stopped = false;
    const controller = new AbortController();
    const check = async () => {
      if (inFlight || Date.now() - lastHeard.current < quietMs) return;
      inFlight = true;
      try {
        const res = await fetch(`/api/tasks/${encodeURIComponent(taskId)}/engine`, { signal: controller.signal, headers: { accept: "application/json" } });
        if (!res.ok) return;
        const body = (await res.json()) as { answering?: boolean; reason?: string };
        if (stopped) return;
        setTrouble(body.answering === false ? (body.reason === "lost_job" ? "lost_job" : "unreachable") : null);
      } catch {
        // the Worker itself is out of reach for a moment: the socket hook reports that
      } finally {
        inFlight = false;
      }
    };
    const timer = setInterval(() => void check(), checkEveryMs);
    return () => {
      stopped = true;
      clearInterval(timer);
      controller.abort();
    };
  }, [taskId, active, quietMs, checkEveryMs]);

  return trouble;
}

export function engineTroubleText(trouble: EngineTrouble): string | null {
  if (trouble === "unreachable") return "The engine is not answering, so this job may not finish. You can wait, or cancel it and get your credits back.";
  if (trouble === "lost_job") return "The engine restarted and lost this job. Cancel it to get your credits back, then try again.";
  return null;
}
