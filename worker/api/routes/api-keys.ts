import { Hono, type Context } from "hono";
import type { ApiEnv } from "../app";
import { documented } from "../route-doc";
import { ApiKeyList, CreatedApiKey } from "../response-schemas";
import { requireUser } from "../../auth/session";
import { createApiKey, CreateKeyBody, deleteApiKey, listApiKeys } from "../../services/api-keys";
import { jsonBody } from "../validate";

/** Keys are managed with a browser session only: a leaked key must not mint more keys. */
function requireSessionUser(c: Context<ApiEnv>) {
  return requireUser(c.get("ctx"), c.req.raw.headers, "session");
}

export const apiKeyRoutes = new Hono<ApiEnv>()
  .get(
    "/keys",
    documented({
      operationId: "listApiKeys",
      summary: "Your API keys",
      tag: "API keys",
      access: "session",
      responses: [{ status: 200, description: "The keys (their secrets are never shown again).", json: ApiKeyList }],
      errors: [],
    }),
    async (c) => {
      const user = await requireSessionUser(c);
      return c.json({ keys: await listApiKeys(c.get("ctx").db, user.id) });
    },
  )
  .post(
    "/keys",
    documented({
      operationId: "createApiKey",
      summary: "Create an API key",
      description: "Scopes: speech, voices:read, voices:write, history (all four if left out). The secret is in this answer only.",
      tag: "API keys",
      access: "session",
      body: CreateKeyBody,
      example: { name: "My script", scopes: ["speech", "voices:read"] },
      responses: [{ status: 201, description: "The key, with its secret.", json: CreatedApiKey }],
      errors: [400],
    }),
    async (c) => {
      const user = await requireSessionUser(c);
      const body = await jsonBody(c, CreateKeyBody);
      return c.json({ key: await createApiKey(c.get("ctx").db, user.id, body.name, body.scopes) }, 201);
    },
  )
  .delete(
    "/keys/:id",
    documented({
      operationId: "revokeApiKey",
      summary: "Revoke an API key",
      tag: "API keys",
      access: "session",
      responses: [{ status: 204, description: "Revoked: the key stops working at once." }],
      errors: [404],
    }),
    async (c) => {
      const user = await requireSessionUser(c);
      await deleteApiKey(c.get("ctx").db, user.id, c.req.param("id"));
      return c.body(null, 204);
    },
  );
