import { stageLabel, statusLabel } from "./format";
import type { TaskView } from "./task-state";

/** What the words about a task need: the task, and the sentence for when we lost track of it. */
export type TaskWords = { task: TaskView | null; error: string | null };

/** One sentence describing where a task is, for the live region and the label. */
export function describeTask(live: TaskWords): string {
  const task = live.task;
  if (!task) return live.error ?? "Connecting…";
  switch (task.status) {
    case "queued":
      return "Waiting for a free engine…";
    case "dispatched":
      return "Starting the engine…";
    case "running": {
      const stage = stageLabel(task.stage);
      return `${stage || "Working"}… ${Math.round(task.progress * 100)}%`;
    }
    case "succeeded":
      return "Done.";
    case "failed":
      return `${task.error?.message ?? "This job failed."}${chargeSentence(task)}`;
    case "cancelled":
      return task.charge?.credits ? `Cancelled.${chargeSentence(task)}` : "Cancelled. Your credits were returned.";
    default:
      return statusLabel(task.status);
  }
}

/**
 * A stopped task keeps the credits of the audio it delivered (DESIGN §6): say so, in the words the
 * ledger uses, rather than promise a full refund.
 */
function chargeSentence(task: TaskView): string {
  const c = task.charge;
  if (!c?.credits) return "";
  const parts = c.parts_total ? `${c.parts_delivered} of ${c.parts_total} parts` : `${c.parts_delivered} parts`;
  return ` Charged ${c.credits} of ${c.of} credits for the ${parts} you received; the rest was returned.`;
}

/** What the aria-live region says: status changes and every quarter, not every percent. */
export function announcement(live: TaskWords): string {
  const task = live.task;
  if (!task) return "";
  if (task.status !== "running") return describeTask(live);
  // The quarter the bar shows: from its rounded percent, so 24.6 % reads "25 %" in both.
  const quarter = Math.floor(Math.round(task.progress * 100) / 25) * 25;
  return `${stageLabel(task.stage) || "Working"}, ${quarter}% done.`;
}
