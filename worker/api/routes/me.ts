import { Hono } from "hono";
import * as z from "zod";
import type { ApiEnv } from "../app";
import { requireUser } from "../../auth/session";
import { getMe, updateProfile } from "../../services/account";
import { jsonBody } from "../validate";

export const UpdateMeBody = z.strictObject({
  name: z.string().trim().min(1, "must not be empty").max(100, "must be at most 100 characters"),
});

export const meRoutes = new Hono<ApiEnv>()
  .get("/me", async (c) => {
    const ctx = c.get("ctx");
    const user = await requireUser(ctx, c.req.raw.headers, "any");
    return c.json(await getMe(ctx.db, user));
  })
  .patch("/me", async (c) => {
    const ctx = c.get("ctx");
    const user = await requireUser(ctx, c.req.raw.headers, "session");
    const body = await jsonBody(c, UpdateMeBody);
    await updateProfile(ctx.db, user.id, body);
    return c.json(await getMe(ctx.db, { ...user, name: body.name }));
  });
