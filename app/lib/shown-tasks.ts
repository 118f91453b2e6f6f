import { useEffect, useSyncExternalStore } from "react";

/**
 * Which tasks the current page already shows in full (the generate and design
 * pages), so the task dock does not show them a second time.
 */
const shown = new Map<string, number>();
const listeners = new Set<() => void>();
let version = 0;

function notify() {
  version += 1;
  for (const l of listeners) l();
}

export function useShowTask(taskId: string | null | undefined): void {
  useEffect(() => {
    if (!taskId) return;
    shown.set(taskId, (shown.get(taskId) ?? 0) + 1);
    notify();
    return () => {
      const n = (shown.get(taskId) ?? 1) - 1;
      if (n <= 0) shown.delete(taskId);
      else shown.set(taskId, n);
      notify();
    };
  }, [taskId]);
}

/** Re-renders when the set changes; call isTaskShown during render. */
export function useShownTasksVersion(): number {
  return useSyncExternalStore(
    (l) => {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    () => version,
    () => 0,
  );
}

export function isTaskShown(taskId: string): boolean {
  return shown.has(taskId);
}
