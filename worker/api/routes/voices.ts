import { Hono } from "hono";
import type { ApiEnv } from "../app";
import { requireUser } from "../../auth/session";
import { serveObject } from "../../storage/serve";
import {
  createDesignPreview,
  createVoiceFromUpload,
  deleteVoice,
  DesignPreviewBody,
  getOwnedVoice,
  listVoices,
  SaveDesignBody,
  saveDesignedVoice,
  updateVoice,
  UpdateVoiceBody,
  VoiceQuery,
  voiceDetail,
} from "../../services/voices";
import { jsonBody, queryParams } from "../validate";

export const voiceRoutes = new Hono<ApiEnv>()
  .post("/voices", async (c) => {
    const ctx = c.get("ctx");
    const user = await requireUser(ctx, c.req.raw.headers, "voices:write");
    return c.json({ voice: await createVoiceFromUpload(ctx, user, c.req.raw) }, 201);
  })
  .get("/voices", async (c) => {
    const ctx = c.get("ctx");
    const user = await requireUser(ctx, c.req.raw.headers, "voices:read");
    return c.json(await listVoices(ctx, user.id, queryParams(c, VoiceQuery)));
  })
  .post("/voices/design/preview", async (c) => {
    const ctx = c.get("ctx");
    const user = await requireUser(ctx, c.req.raw.headers, "voices:write", { verifyInBatch: true });
    return c.json(await createDesignPreview(ctx, user, await jsonBody(c, DesignPreviewBody)), 202);
  })
  .post("/voices/design", async (c) => {
    const ctx = c.get("ctx");
    const user = await requireUser(ctx, c.req.raw.headers, "voices:write");
    const { voice, created } = await saveDesignedVoice(ctx, user, await jsonBody(c, SaveDesignBody));
    return c.json({ voice }, created ? 201 : 200);
  })
  .get("/voices/:id", async (c) => {
    const ctx = c.get("ctx");
    const user = await requireUser(ctx, c.req.raw.headers, "voices:read");
    return c.json({ voice: await voiceDetail(ctx, user.id, await getOwnedVoice(ctx, user.id, c.req.param("id"))) });
  })
  .patch("/voices/:id", async (c) => {
    const ctx = c.get("ctx");
    const user = await requireUser(ctx, c.req.raw.headers, "voices:write");
    return c.json({ voice: await updateVoice(ctx, user.id, c.req.param("id"), await jsonBody(c, UpdateVoiceBody)) });
  })
  .delete("/voices/:id", async (c) => {
    const ctx = c.get("ctx");
    const user = await requireUser(ctx, c.req.raw.headers, "voices:write");
    await deleteVoice(ctx, user.id, c.req.param("id"));
    return c.body(null, 204);
  })
  .on(["GET", "HEAD"], "/voices/:id/audio", async (c) => {
    const ctx = c.get("ctx");
    const user = await requireUser(ctx, c.req.raw.headers, "voices:read");
    const v = await getOwnedVoice(ctx, user.id, c.req.param("id"));
    return serveObject(c.env.AUDIO, v.referenceKey, c.req.raw, { contentType: v.referenceMime });
  });
