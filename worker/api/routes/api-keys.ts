import { Hono, type Context } from "hono";
import type { ApiEnv } from "../app";
import { requireUser } from "../../auth/session";
import { createApiKey, CreateKeyBody, deleteApiKey, listApiKeys } from "../../services/api-keys";
import { jsonBody } from "../validate";

/** Keys are managed with a browser session only: a leaked key must not mint more keys. */
function requireSessionUser(c: Context<ApiEnv>) {
  return requireUser(c.get("ctx"), c.req.raw.headers, "session");
}

export const apiKeyRoutes = new Hono<ApiEnv>()
  .get("/keys", async (c) => {
    const user = await requireSessionUser(c);
    return c.json({ keys: await listApiKeys(c.get("ctx").db, user.id) });
  })
  .post("/keys", async (c) => {
    const user = await requireSessionUser(c);
    const body = await jsonBody(c, CreateKeyBody);
    return c.json({ key: await createApiKey(c.get("ctx").db, user.id, body.name, body.scopes) }, 201);
  })
  .delete("/keys/:id", async (c) => {
    const user = await requireSessionUser(c);
    await deleteApiKey(c.get("ctx").db, user.id, c.req.param("id"));
    return c.body(null, 204);
  });
