import { Hono } from "hono";
import * as z from "zod";
import type { ApiEnv } from "../app";
import { requireUser } from "../../auth/session";
import { errors, parseOrThrow } from "../../lib/errors";
import { createGeneration, CreateGenerationBody, deleteGeneration, GenerationQuery, getGenerationView, getOwnedGeneration, listGenerations } from "../../services/generations";
import { ArchiveQuery, generationArchive } from "../../services/generation-archive";
import { serveGenerationAudio } from "../../services/artifacts";
import { jsonBody, queryParams } from "../validate";

const AudioQuery = z.object({ format: z.enum(["wav", "mp3"]).default("wav"), download: z.enum(["0", "1"]).optional() });

export const generationRoutes = new Hono<ApiEnv>()
  .post("/generations", async (c) => {
    const ctx = c.get("ctx");
    // The session row is checked inside the creation batch (one round trip fewer).
    const user = await requireUser(ctx, c.req.raw.headers, "speech", { verifyInBatch: true });
    const body = await jsonBody(c, CreateGenerationBody);
    return c.json(await createGeneration(ctx, user, body), 202);
  })
  .get("/generations", async (c) => {
    const ctx = c.get("ctx");
    const user = await requireUser(ctx, c.req.raw.headers, "history");
    return c.json(await listGenerations(ctx, user.id, queryParams(c, GenerationQuery)));
  })
  // Before /generations/:id, which would otherwise take "archive" for an id.
  .get("/generations/archive", async (c) => {
    const ctx = c.get("ctx");
    const user = await requireUser(ctx, c.req.raw.headers, "history");
    // `ids=a,b` from programs, `ids=a&ids=b` from the history page's checkboxes.
    const q = parseOrThrow(ArchiveQuery, { ...c.req.query(), ids: (c.req.queries("ids") ?? []).join(",") }, "query");
    const { stream, fileName } = await generationArchive(ctx, user.id, q);
    return new Response(stream, {
      headers: { "content-type": "application/zip", "content-disposition": `attachment; filename="${fileName}"`, "cache-control": "no-store" },
    });
  })
  .get("/generations/:id", async (c) => {
    const ctx = c.get("ctx");
    const user = await requireUser(ctx, c.req.raw.headers, "history");
    return c.json({ generation: await getGenerationView(ctx, user.id, c.req.param("id")) });
  })
  .delete("/generations/:id", async (c) => {
    const ctx = c.get("ctx");
    const user = await requireUser(ctx, c.req.raw.headers, "history");
    await deleteGeneration(ctx, user.id, c.req.param("id"));
    return c.body(null, 204);
  })
  .on(["GET", "HEAD"], "/generations/:id/audio", async (c) => {
    const ctx = c.get("ctx");
    const user = await requireUser(ctx, c.req.raw.headers, "history");
    const q = queryParams(c, AudioQuery);
    const g = await getOwnedGeneration(ctx, user.id, c.req.param("id"));
    if (g.status !== "succeeded") throw errors.conflict("audio_not_ready", "This generation has no audio yet.");
    return serveGenerationAudio(ctx, g, q.format, c.req.raw, q.download === "1");
  });
