import { Hono } from "hono";
import type { ApiEnv } from "../app";
import { LANGUAGES } from "../../services/languages";
import { buildOpenApi } from "../openapi";

export const metaRoutes = new Hono<ApiEnv>()
  .get("/languages", (c) => c.json({ languages: LANGUAGES }))
  .get("/openapi.json", (c) => c.json(buildOpenApi(c.get("ctx").config.VERSION)));
