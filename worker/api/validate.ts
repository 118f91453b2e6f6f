import type { Context } from "hono";
import type * as z from "zod";
import { AppError, parseOrThrow } from "../lib/errors";

/** Reads a JSON body and validates it; a body that is not JSON is a 400 too. */
export async function jsonBody<S extends z.ZodType>(c: Context, schema: S): Promise<z.infer<S>> {
  let raw: unknown;
  try {
    raw = await c.req.json();
  } catch {
    throw new AppError("invalid_json", 400, "The request body must be valid JSON.");
  }
  return parseOrThrow(schema, raw, "body");
}

export function queryParams<S extends z.ZodType>(c: Context, schema: S): z.infer<S> {
  return parseOrThrow(schema, c.req.query(), "query");
}
