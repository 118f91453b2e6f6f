import type { RequestContext } from "../context";
import { getTaskSnapshot } from "./tasks";

/**
 * Is the engine still there for this task? The page asks when a running task
 * has gone quiet for a few seconds (app/hooks/use-engine-liveness.ts): the
 * Worker would otherwise only notice at the heartbeat deadline (60 s), and the
 * person would watch a frozen bar. The engine's `/health` answers within the
 * probe's timeout or it is not answering; an engine that answers but reports
 * no active job (the development engine says how many it runs) while this task
 * is running has lost it, e.g. it crashed and was restarted.
 */
export type EngineLiveness = {
  task_status: string;
  answering: boolean;
  reason: "ok" | "not_running" | "unreachable" | "lost_job";
};

const PROBE_TIMEOUT_MS = 2_000;

export async function engineLivenessForTask(ctx: RequestContext, userId: string, taskId: string, fetcher: typeof fetch = fetch): Promise<EngineLiveness> {
  const { task } = await getTaskSnapshot(ctx, userId, taskId);
  const status = task.status;
  if (status !== "dispatched" && status !== "running") return { task_status: status, answering: true, reason: "not_running" };
  let body: unknown;
  try {
    const res = await fetcher(`${ctx.config.ENGINE_URL.replace(/\/+$/, "")}/health`, {
      headers: { authorization: `Bearer ${ctx.config.ENGINE_TOKEN}` },
      signal: AbortSignal.timeout(PROBE_TIMEOUT_MS),
    });
    if (!res.ok) return { task_status: status, answering: false, reason: "unreachable" };
    body = await res.json().catch(() => null);
  } catch (err) {
    ctx.log.info("engine.liveness_probe_failed", { task_id: taskId, error: err instanceof Error ? err.message : String(err) });
    return { task_status: status, answering: false, reason: "unreachable" };
  }
  const activeJobs = typeof body === "object" && body !== null && "active_jobs" in body ? (body as { active_jobs: unknown }).active_jobs : undefined;
  if (status === "running" && activeJobs === 0) return { task_status: status, answering: false, reason: "lost_job" };
  return { task_status: status, answering: true, reason: "ok" };
}
