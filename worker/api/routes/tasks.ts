import { Hono } from "hono";
import * as z from "zod";
import type { ApiEnv } from "../app";
import { documented, rangedAudio, undocumented } from "../route-doc";
import { EngineLivenessBody, TaskList, TaskSnapshot } from "../response-schemas";
import { requireUser } from "../../auth/session";
import { AppError, errors } from "../../lib/errors";
import { engineLivenessForTask } from "../../services/engine-liveness";
import { cancelTask, getOwnedTask, getTaskSnapshot, listTasks, openLiveAudio, trackerFor, trackerInitOf } from "../../services/tasks";
import { serveTaskArtifact } from "../../services/artifacts";
import { queryParams } from "../validate";
import { ARTIFACT_KIND_NAMES, ARTIFACT_REGISTRY } from "../../engine/artifacts";
import { upgradeHeaders } from "../../lib/websocket-upgrade";

/** Tasks are speech jobs or voice-design previews: a key with either scope may follow and cancel them. */
const TASK_ACCESS = ["speech", "voices:write"] as const;
/** A task's audio is also part of the history a history-scoped key may read. */
const TASK_AUDIO_ACCESS = ["speech", "voices:write", "history"] as const;
/** The artifact kinds a task may have, indexed (segments) or not, from the registry (ADR 0009). */
const kindsWhere = (indexed: boolean) => ARTIFACT_KIND_NAMES.filter((k) => ARTIFACT_REGISTRY.kinds[k].indexed === indexed);
const LiveQuery = z.object({ format: z.enum(["wav", "pcm"]).default("wav") });

const TaskListQuery = z.object({
  status: z.enum(["active", "all"]).default("all"),
  cursor: z.string().regex(/^\d+$/).transform(Number).optional(),
  limit: z.coerce.number().int().min(1).max(100).default(20),
});

export const taskRoutes = new Hono<ApiEnv>()
  .get(
    "/tasks",
    documented({
      operationId: "listTasks",
      summary: "Your tasks, newest first",
      tag: "Tasks",
      access: TASK_ACCESS,
      query: TaskListQuery,
      responses: [{ status: 200, description: "A page of tasks.", json: TaskList }],
      errors: [400],
    }),
    async (c) => {
      const ctx = c.get("ctx");
      const user = await requireUser(ctx, c.req.raw.headers, TASK_ACCESS);
      return c.json(await listTasks(ctx, user.id, queryParams(c, TaskListQuery)));
    },
  )
  .get(
    "/tasks/:id",
    documented({
      operationId: "getTask",
      summary: "A task's snapshot",
      description:
        "The same as the WebSocket's first message: the task, its segments and artifacts so far, and where the live stream stands.",
      tag: "Tasks",
      access: TASK_ACCESS,
      responses: [{ status: 200, description: "The snapshot.", json: TaskSnapshot }],
      errors: [404],
    }),
    async (c) => {
      const ctx = c.get("ctx");
      const user = await requireUser(ctx, c.req.raw.headers, TASK_ACCESS);
      return c.json(await getTaskSnapshot(ctx, user.id, c.req.param("id")));
    },
  )
  .get(
    "/tasks/:id/engine",
    documented({
      operationId: "getTaskEngineLiveness",
      summary: "Whether the engine still answers for this running task",
      tag: "Tasks",
      access: TASK_ACCESS,
      responses: [{ status: 200, description: "The engine's state for this task.", json: EngineLivenessBody }],
      errors: [404],
    }),
    async (c) => {
      const ctx = c.get("ctx");
      const user = await requireUser(ctx, c.req.raw.headers, TASK_ACCESS);
      return c.json(await engineLivenessForTask(ctx, user.id, c.req.param("id")));
    },
  )
  .delete(
    "/tasks/:id",
    documented({
      operationId: "cancelTask",
      summary: "Cancel a task",
      description: "Credits for the parts already delivered are kept; the rest are released.",
      tag: "Tasks",
      access: TASK_ACCESS,
      responses: [{ status: 200, description: "The snapshot after the cancel.", json: TaskSnapshot }],
      errors: [404, 409],
    }),
    async (c) => {
      const ctx = c.get("ctx");
      const user = await requireUser(ctx, c.req.raw.headers, TASK_ACCESS);
      return c.json(await cancelTask(ctx, user.id, c.req.param("id")));
    },
  )
  .get(
    "/tasks/:id/ws",
    undocumented("a WebSocket, which OpenAPI cannot describe: its messages are in the Tasks tag, DESIGN §5 and ADR 0009"),
    async (c) => {
      const ctx = c.get("ctx");
      const user = await requireUser(ctx, c.req.raw.headers, TASK_ACCESS);
      if (c.req.header("upgrade")?.toLowerCase() !== "websocket")
        throw new AppError("upgrade_required", 426, "Open this URL as a WebSocket.");
      const task = await getOwnedTask(ctx, user.id, c.req.param("id"));
      // The DO double-checks the owner; its headers are set here, never taken from the client.
      const headers = upgradeHeaders(c.req.raw.headers, { "x-utter-user": user.id, "x-utter-init": JSON.stringify(trackerInitOf(task)) });
      return trackerFor(c.env, task.id).fetch(new Request("https://tracker.internal/listen", { headers }));
    },
  )
  // The task's audio as one streaming body while it renders (ADR 0009): what exists, then the live frames.
  .get(
    "/tasks/:id/live",
    documented({
      operationId: "streamTaskAudio",
      summary: "Hear a task while it renders",
      description:
        "One streaming body: the audio so far, then the live frames as the engine makes them, until the task ends. WAV with a streaming header, or raw PCM (s16le mono).",
      tag: "Tasks",
      access: TASK_ACCESS,
      query: LiveQuery,
      responses: [{ status: 200, description: "The audio, streamed.", media: [{ type: "audio/wav" }, { type: "audio/pcm" }] }],
      errors: [400, 404, 409],
    }),
    async (c) => {
      const ctx = c.get("ctx");
      const user = await requireUser(ctx, c.req.raw.headers, TASK_ACCESS);
      const { format } = queryParams(c, LiveQuery);
      return openLiveAudio(ctx, user.id, c.req.param("id"), format);
    },
  )
  .on(
    ["GET", "HEAD"],
    "/tasks/:id/artifacts/:kind",
    documented({
      operationId: "getTaskArtifact",
      summary: "An artifact of the task without an index",
      tag: "Tasks",
      access: TASK_AUDIO_ACCESS,
      params: { kind: { description: "The artifact's kind.", schema: { type: "string", enum: kindsWhere(false) } } },
      ...rangedAudio(["audio/wav", "audio/mpeg"]),
      errors: [404, 416],
    }),
    async (c) => {
      const ctx = c.get("ctx");
      const user = await requireUser(ctx, c.req.raw.headers, TASK_AUDIO_ACCESS);
      return serveTaskArtifact(ctx, user.id, c.req.param("id"), c.req.param("kind"), null, c.req.raw);
    },
  )
  .on(
    ["GET", "HEAD"],
    "/tasks/:id/artifacts/:kind/:index{[0-9]{1,5}}",
    documented({
      operationId: "getTaskIndexedArtifact",
      summary: "An indexed artifact of the task (a segment)",
      tag: "Tasks",
      access: TASK_AUDIO_ACCESS,
      params: {
        kind: { description: "The artifact's kind.", schema: { type: "string", enum: kindsWhere(true) } },
        index: { description: "The part's index, from 0.", schema: { type: "string", pattern: "^[0-9]{1,5}$" } },
      },
      ...rangedAudio(["audio/wav"]),
      errors: [404, 416],
    }),
    async (c) => {
      const ctx = c.get("ctx");
      const user = await requireUser(ctx, c.req.raw.headers, TASK_AUDIO_ACCESS);
      return serveTaskArtifact(ctx, user.id, c.req.param("id"), c.req.param("kind"), Number(c.req.param("index")), c.req.raw);
    },
  )
  .on(
    ["GET", "HEAD"],
    "/tasks/:id/segments/:index{[0-9]{1,3}}",
    documented({
      operationId: "getTaskSegment",
      summary: "A finished segment's WAV",
      description: "The protocol v1 address of `GET /api/tasks/{id}/artifacts/segment/{index}`.",
      tag: "Tasks",
      access: TASK_ACCESS,
      params: { index: { description: "The segment's index, from 0.", schema: { type: "string", pattern: "^[0-9]{1,3}$" } } },
      ...rangedAudio(["audio/wav"]),
      errors: [404, 416],
    }),
    async (c) => {
      const ctx = c.get("ctx");
      const user = await requireUser(ctx, c.req.raw.headers, TASK_ACCESS);
      return serveTaskArtifact(ctx, user.id, c.req.param("id"), "segment", Number(c.req.param("index")), c.req.raw);
    },
  )
  .on(
    ["GET", "HEAD"],
    "/tasks/:id/audio",
    documented({
      operationId: "getDesignPreviewAudio",
      summary: "A design preview's audio",
      tag: "Voices",
      access: TASK_ACCESS,
      ...rangedAudio(["audio/wav"]),
      errors: [404, 409, 416],
    }),
    async (c) => {
      const ctx = c.get("ctx");
      const user = await requireUser(ctx, c.req.raw.headers, TASK_ACCESS);
      const task = await getOwnedTask(ctx, user.id, c.req.param("id"));
      if (task.kind !== "design_preview") throw errors.notFound("preview");
      if (task.status !== "succeeded") throw errors.conflict("audio_not_ready", "This preview has no audio yet.");
      return serveTaskArtifact(ctx, user.id, task.id, "final", null, c.req.raw);
    },
  );
