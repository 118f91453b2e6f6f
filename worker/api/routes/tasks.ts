import { Hono } from "hono";
import * as z from "zod";
import type { ApiEnv } from "../app";
import { requireUser } from "../../auth/session";
import { AppError, errors } from "../../lib/errors";
import { engineLivenessForTask } from "../../services/engine-liveness";
import { cancelTask, getOwnedTask, getTaskSnapshot, listTasks, trackerFor } from "../../services/tasks";
import { audioKeys } from "../../storage/keys";
import { serveObject } from "../../storage/serve";
import { queryParams } from "../validate";

/** Tasks are speech jobs or voice-design previews: a key with either scope may follow and cancel them. */
const TASK_ACCESS = ["speech", "voices:write"] as const;

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
    // The DO double-checks the owner; the header is set here, never taken from the client.
    const headers = new Headers(c.req.raw.headers);
    headers.set("x-utter-user", user.id);
    return trackerFor(c.env, task.id).fetch(new Request(c.req.raw.url, { headers }));
  })
  .on(["GET", "HEAD"], "/tasks/:id/segments/:index{[0-9]{1,3}}", async (c) => {
    const ctx = c.get("ctx");
    const user = await requireUser(ctx, c.req.raw.headers, TASK_ACCESS);
    const task = await getOwnedTask(ctx, user.id, c.req.param("id"));
    return serveObject(c.env.AUDIO, audioKeys.segment(user.id, task.id, Number(c.req.param("index"))), c.req.raw, {
      contentType: "audio/wav",
    });
  })
  .on(["GET", "HEAD"], "/tasks/:id/audio", async (c) => {
    const ctx = c.get("ctx");
    const user = await requireUser(ctx, c.req.raw.headers, TASK_ACCESS);
    const task = await getOwnedTask(ctx, user.id, c.req.param("id"));
    if (task.kind !== "design_preview") throw errors.notFound("preview");
    if (task.status !== "succeeded") throw errors.conflict("audio_not_ready", "This preview has no audio yet.");
    return serveObject(c.env.AUDIO, audioKeys.preview(user.id, task.id), c.req.raw, { contentType: "audio/wav" });
  });
