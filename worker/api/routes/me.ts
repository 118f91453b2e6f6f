import { Hono } from "hono";
import * as z from "zod";
import type { ApiEnv } from "../app";
import { documented } from "../route-doc";
import { Me } from "../response-schemas";
import { requireUser } from "../../auth/session";
import { getMe, updateProfile } from "../../services/account";
import { jsonBody } from "../validate";

export const UpdateMeBody = z.strictObject({
  name: z.string().trim().min(1, "must not be empty").max(100, "must be at most 100 characters"),
});

export const meRoutes = new Hono<ApiEnv>()
  .get(
    "/me",
    documented({
      operationId: "getMe",
      summary: "You: profile, plan, credit balance and limits",
      tag: "Account",
      access: "any",
      responses: [{ status: 200, description: "The caller.", json: Me }],
      errors: [],
    }),
    async (c) => {
      const ctx = c.get("ctx");
      const user = await requireUser(ctx, c.req.raw.headers, "any");
      return c.json(await getMe(ctx.db, user));
    },
  )
  .patch(
    "/me",
    documented({
      operationId: "updateMe",
      summary: "Change your display name",
      tag: "Account",
      access: "session",
      body: UpdateMeBody,
      example: { name: "Ada" },
      responses: [{ status: 200, description: "The caller as saved.", json: Me }],
      errors: [400],
    }),
    async (c) => {
      const ctx = c.get("ctx");
      const user = await requireUser(ctx, c.req.raw.headers, "session");
      const body = await jsonBody(c, UpdateMeBody);
      await updateProfile(ctx.db, user.id, body);
      return c.json(await getMe(ctx.db, { ...user, name: body.name }));
    },
  );
