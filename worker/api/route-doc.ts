/**
 * Each route carries its own OpenAPI description, as a middleware registered
 * with it (`documented({...})`); `buildOpenApi` walks the app's route table and
 * reads them back, so a route cannot exist without the document knowing it
 * (test/integration/openapi.test.ts fails on one that is neither documented
 * nor listed as deliberately left out with `undocumented(why)`).
 */
import type { MiddlewareHandler } from "hono";
import type * as z from "zod";
import type { Access } from "../auth/scopes";

export type Tag =
  "Account" | "Voices" | "Speech" | "Tasks" | "History" | "Credits" | "Billing" | "API keys" | "OpenAI-compatible" | "MCP" | "Meta";

export interface MultipartField {
  type: "string";
  format?: "binary";
  description: string;
  required?: boolean;
}

export interface SuccessResponse {
  /** A 2xx, or another status this operation answers with a body of its own (health's 503). */
  status: number;
  description: string;
  /** A JSON body, described by the zod schema the handler's service is checked against (response-schemas.ts). */
  json?: z.ZodType;
  /** Bodies that are not JSON: audio, archives, event streams. */
  media?: { type: string; description?: string }[];
}

export interface RouteDoc {
  operationId: string;
  summary: string;
  description?: string;
  tag: Tag;
  /** Who may call it: the API-key scope (or scopes), any caller, a browser session only, or no one in particular. */
  access: Access | "public" | "stripe-signature";
  /** Only an API key as the bearer will do (`/v1`, `/mcp`): a browser session is not accepted. */
  keyOnly?: true;
  body?: z.ZodType;
  /** A body that is not JSON (multipart, a webhook's raw bytes). */
  multipart?: Record<string, MultipartField>;
  rawBody?: { type: string; description: string };
  query?: z.ZodObject;
  /** Path parameters, when they are not plain ids (a kind, an index). */
  params?: Record<string, { description: string; schema?: Record<string, unknown> }>;
  headers?: Record<string, { description: string; required?: boolean }>;
  responses: SuccessResponse[];
  /** The error statuses this operation answers besides those every protected one does (401, 403, 429). */
  errors: number[];
  /** `/v1` answers in OpenAI's error shape, every other route in Utter's. */
  errorShape?: "utter" | "openai";
  /** A JSON body for the curl example (the schema's own example otherwise). */
  example?: unknown;
}

export interface LeftOut {
  undocumented: string;
}

const DOCS = new WeakMap<object, RouteDoc | LeftOut>();

/** The route's description; does nothing at request time. */
export function documented(doc: RouteDoc): MiddlewareHandler {
  const passThrough: MiddlewareHandler = async (_c, next) => {
    await next();
  };
  DOCS.set(passThrough, doc);
  return passThrough;
}

/** A route deliberately absent from the public document, and why (it is still counted by the completeness test). */
export function undocumented(why: string): MiddlewareHandler {
  const passThrough: MiddlewareHandler = async (_c, next) => {
    await next();
  };
  DOCS.set(passThrough, { undocumented: why });
  return passThrough;
}

/** Hono wraps a sub-app's handlers when that app has its own error handler; the original is kept on the wrapper. */
const COMPOSED = "__COMPOSED_HANDLER";

export function routeDocOf(handler: unknown): RouteDoc | LeftOut | undefined {
  let h = handler as Record<string, unknown> | undefined;
  while (h && typeof h === "function" && COMPOSED in h) h = h[COMPOSED] as Record<string, unknown>;
  return h ? DOCS.get(h) : undefined;
}

export function isLeftOut(doc: RouteDoc | LeftOut): doc is LeftOut {
  return "undocumented" in doc;
}

/** An audio body served with Range support: the headers and the 200/206 answers. */
export function rangedAudio(types: readonly string[], what = "The audio."): Pick<RouteDoc, "headers" | "responses"> {
  const media = types.map((type) => ({ type }));
  return {
    headers: { Range: { description: "bytes=start-end" } },
    responses: [
      { status: 200, description: what, media },
      { status: 206, description: "The requested range.", media },
    ],
  };
}
