import { Hono } from "hono";
import * as z from "zod";
import type { ApiEnv } from "../app";
import { requireUser } from "../../auth/session";
import { AppError, errors } from "../../lib/errors";
import { engineLivenessForTask } from "../../services/engine-liveness";
import { cancelTask, getOwnedTask, getTaskSnapshot, listTasks, trackerFor } from "../../services/tasks";
import { serveTaskArtifact } from "../../services/artifacts";
import { queryParams } from "../validate";

/** Tasks are speech jobs or voice-design previews: a key with either scope may follow and cancel them. */
const TASK_ACCESS = ["speech", "voices:write"] as const;
/** A task's audio is also part of the history a history-scoped key may read. */
const TASK_AUDIO_ACCESS = ["speech", "voices:write", "history"] as const;
const LiveQuery = z.object({ format: z.enum(["wav", "pcm"]).default("wav") });

const TaskListQuery = z.object({
  status: z.enum(["active", "all"]).default("all"),
  cursor: z.string().regex(/^\d+$/).transform(Number).optional(),
  limit: z.coerce.number().int().min(1).max(100).default(20),
});

export const taskRoutes = new Hono<ApiEnv>()
  .get("/tasks", async (c) => {
    const ctx = c.get("ctx");
    const user = await requireUser(ctx, c.req.raw.headers, TASK_ACCESS);
    return c.json(await listTasks(ctx, user.id, queryParams(c, TaskListQuery)));
  })
  .get("/tasks/:id", async (c) => {
    const ctx = c.get("ctx");
    const user = await requireUser(ctx, c.req.raw.headers, TASK_ACCESS);
    return c.json(await getTaskSnapshot(ctx, user.id, c.req.param("id")));
  })
  .get("/tasks/:id/engine", async (c) => {
    const ctx = c.get("ctx");
    const user = await requireUser(ctx, c.req.raw.headers, TASK_ACCESS);
    return c.json(await engineLivenessForTask(ctx, user.id, c.req.param("id")));
  })
  .delete("/tasks/:id", async (c) => {
    const ctx = c.get("ctx");
    const user = await requireUser(ctx, c.req.raw.headers, TASK_ACCESS);
    return c.json(await cancelTask(ctx, user.id, c.req.param("id")));
  })
  .get("/tasks/:id/ws", async (c) => {
    const ctx = c.get("ctx");
    const user = await requireUser(ctx, c.req.raw.headers, TASK_ACCESS);
    if (c.req.header("upgrade")?.toLowerCase() !== "websocket") throw new AppError("upgrade_required", 426, "Open this URL as a WebSocket.");
    const task = await getOwnedTask(ctx, user.id, c.req.param("id"));
    // The DO double-checks the owner; its headers are set here, never taken from the client.
    const headers = new Headers({ upgrade: "websocket", "x-utter-user": user.id });
    for (const h of ["sec-websocket-key", "sec-websocket-version", "sec-websocket-protocol", "sec-websocket-extensions"]) {
      const v = c.req.header(h);
      if (v) headers.set(h, v);
    }
    return trackerFor(c.env, task.id).fetch(new Request("https://tracker.internal/listen", { headers }));
  })
  // The task's audio as one streaming body while it renders (ADR 0009): what exists, then the live frames.
  .get("/tasks/:id/live", async (c) => {
    const ctx = c.get("ctx");
    const user = await requireUser(ctx, c.req.raw.headers, TASK_ACCESS);
    const { format } = queryParams(c, LiveQuery);
    const task = await getOwnedTask(ctx, user.id, c.req.param("id"));
    return trackerFor(c.env, task.id).fetch(new Request(`https://tracker.internal/live.${format}`, { headers: { "x-utter-user": user.id } }));
  })
  .on(["GET", "HEAD"], "/tasks/:id/artifacts/:kind", async (c) => {
    const ctx = c.get("ctx");
    const user = await requireUser(ctx, c.req.raw.headers, TASK_AUDIO_ACCESS);
    return serveTaskArtifact(ctx, user.id, c.req.param("id"), c.req.param("kind"), null, c.req.raw);
  })
  .on(["GET", "HEAD"], "/tasks/:id/artifacts/:kind/:index{[0-9]{1,5}}", async (c) => {
    const ctx = c.get("ctx");
    const user = await requireUser(ctx, c.req.raw.headers, TASK_AUDIO_ACCESS);
    return serveTaskArtifact(ctx, user.id, c.req.param("id"), c.req.param("kind"), Number(c.req.param("index")), c.req.raw);
  })
  .on(["GET", "HEAD"], "/tasks/:id/segments/:index{[0-9]{1,3}}", async (c) => {
    const ctx = c.get("ctx");
    const user = await requireUser(ctx, c.req.raw.headers, TASK_ACCESS);
    return serveTaskArtifact(ctx, user.id, c.req.param("id"), "segment", Number(c.req.param("index")), c.req.raw);
  })
  .on(["GET", "HEAD"], "/tasks/:id/audio", async (c) => {
    const ctx = c.get("ctx");
    const user = await requireUser(ctx, c.req.raw.headers, TASK_ACCESS);
    const task = await getOwnedTask(ctx, user.id, c.req.param("id"));
    if (task.kind !== "design_preview") throw errors.notFound("preview");
    if (task.status !== "succeeded") throw errors.conflict("audio_not_ready", "This preview has no audio yet.");
    return serveTaskArtifact(ctx, user.id, task.id, "final", null, c.req.raw);
  });
