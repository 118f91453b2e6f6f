import { Hono } from "hono";
import type { ApiEnv } from "../app";
import { requireUser } from "../../auth/session";
import { getMe } from "../../services/account";

export const meRoutes = new Hono<ApiEnv>().get("/me", async (c) => {
  const ctx = c.get("ctx");
  const user = await requireUser(ctx, c.req.raw.headers);
  return c.json(await getMe(ctx.db, user));
});
