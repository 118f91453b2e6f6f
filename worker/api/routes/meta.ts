import { Hono } from "hono";
import type { ApiEnv } from "../app";
import { documented } from "../route-doc";
import { Languages } from "../response-schemas";
import { LANGUAGES } from "../../services/languages";

/** `GET /api/openapi.json` sits in app.ts: it describes the whole app's route table. */
export const metaRoutes = new Hono<ApiEnv>().get(
  "/languages",
  documented({
    operationId: "listLanguages",
    summary: "The languages speech can be generated in",
    tag: "Meta",
    access: "public",
    responses: [{ status: 200, description: "Codes and names; `auto` detects the text's language.", json: Languages }],
    errors: [],
  }),
  (c) => c.json({ languages: LANGUAGES }),
);
