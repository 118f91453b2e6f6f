import type { ContentfulStatusCode } from "hono/utils/http-status";
import * as z from "zod";

/** The one error shape every endpoint answers with (DESIGN §8). */
export const ApiErrorBody = z.object({
  error: z.object({
    code: z.string(),
    message: z.string(),
    details: z.unknown().optional(),
  }),
});
export type ApiErrorBody = z.infer<typeof ApiErrorBody>;

/** A known failure: a stable code, an HTTP status and a sentence a person understands. */
export class AppError extends Error {
  readonly code: string;
  readonly status: ContentfulStatusCode;
  readonly details: unknown;
  readonly headers: Record<string, string>;

  constructor(code: string, status: ContentfulStatusCode, message: string, details?: unknown, headers: Record<string, string> = {}) {
    super(message);
    this.name = "AppError";
    this.code = code;
    this.status = status;
    this.details = details;
    this.headers = headers;
  }

  toBody(): ApiErrorBody {
    return { error: { code: this.code, message: this.message, ...(this.details === undefined ? {} : { details: this.details }) } };
  }
}

export const errors = {
  unauthorized: (message = "Sign in to continue.") => new AppError("unauthorized", 401, message),
  forbidden: (message = "You are not allowed to do that.") => new AppError("forbidden", 403, message),
  notFound: (what = "resource") => new AppError("not_found", 404, `That ${what} does not exist.`),
  conflict: (code: string, message: string, details?: unknown) => new AppError(code, 409, message, details),
  invalid: (message: string, details?: unknown) => new AppError("invalid_request", 400, message, details),
  rateLimited: (retryAfterSeconds: number) =>
    new AppError("rate_limited", 429, `Too many requests. Try again in ${retryAfterSeconds} seconds.`, { retry_after: retryAfterSeconds }, {
      "Retry-After": String(retryAfterSeconds),
    }),
};

/** Turns zod issues into a 400 that names every bad field. */
export function validationError(error: z.ZodError, where = "body"): AppError {
  const fields = error.issues.map((issue) => ({
    field: issue.path.map(String).join(".") || where,
    message: issue.message,
  }));
  const first = fields[0];
  const message = first ? `Invalid ${first.field}: ${first.message}` : `Invalid ${where}.`;
  return new AppError("invalid_request", 400, message, { fields });
}

/** Parses `input` with `schema` or throws the 400 that names the bad field. */
export function parseOrThrow<S extends z.ZodType>(schema: S, input: unknown, where = "body"): z.infer<S> {
  const result = schema.safeParse(input);
  if (!result.success) throw validationError(result.error, where);
  return result.data;
}
