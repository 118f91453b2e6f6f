import { Hono } from "hono";
import * as z from "zod";
import type { ApiEnv } from "../app";
import { requireUser } from "../../auth/session";
import { errors } from "../../lib/errors";
import { createGeneration, CreateGenerationBody, deleteGeneration, GenerationQuery, getGenerationView, getOwnedGeneration, listGenerations } from "../../services/generations";
import { serveGenerationAudio } from "../../services/artifacts";
import { jsonBody, queryParams } from "../validate";

const AudioQuery = z.object({ format: z.enum(["wav", "mp3"]).default("wav"), download: z.enum(["0", "1"]).optional() });

export const generationRoutes = new Hono<ApiEnv>()
  .post("/generations", async (c) => {
    const ctx = c.get("ctx");
    const user = await requireUser(ctx, c.req.raw.headers);
    const body = await jsonBody(c, CreateGenerationBody);
    return c.json(await createGeneration(ctx, user, body), 202);
  })
  .get("/generations", async (c) => {
    const ctx = c.get("ctx");
    const user = await requireUser(ctx, c.req.raw.headers);
    return c.json(await listGenerations(ctx, user.id, queryParams(c, GenerationQuery)));
  })
  .get("/generations/:id", async (c) => {
    const ctx = c.get("ctx");
    const user = await requireUser(ctx, c.req.raw.headers);
    return c.json({ generation: await getGenerationView(ctx, user.id, c.req.param("id")) });
  })
  .delete("/generations/:id", async (c) => {
    const ctx = c.get("ctx");
    const user = await requireUser(ctx, c.req.raw.headers);
    await deleteGeneration(ctx, user.id, c.req.param("id"));
    return c.body(null, 204);
  })
  .on(["GET", "HEAD"], "/generations/:id/audio", async (c) => {
    const ctx = c.get("ctx");
    const user = await requireUser(ctx, c.req.raw.headers);
    const q = queryParams(c, AudioQuery);
    const g = await getOwnedGeneration(ctx, user.id, c.req.param("id"));
    if (g.status !== "succeeded") throw errors.conflict("audio_not_ready", "This generation has no audio yet.");
    return serveGenerationAudio(ctx, g, q.format, c.req.raw, q.download === "1");
  });
