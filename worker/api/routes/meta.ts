import { Hono } from "hono";
import type { ApiEnv } from "../app";
import { LANGUAGES } from "../../services/languages";

export const metaRoutes = new Hono<ApiEnv>().get("/languages", (c) => c.json({ languages: LANGUAGES }));
