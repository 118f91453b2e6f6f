import { AppError } from "../lib/errors";

/**
 * OpenAI's error shape, for `/v1` (clients written for OpenAI read `error.message`
 * and branch on the status and `error.type`/`code`).
 */
export interface OpenAiErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

export class OpenAiError extends Error {
  constructor(
    readonly status: 400 | 401 | 402 | 403 | 404 | 409 | 413 | 429 | 500 | 502 | 503,
    readonly type: string,
    message: string,
    readonly param: string | null = null,
    readonly code: string | null = null,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }

  toBody(): OpenAiErrorBody {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

/** Utter's own errors from the shared services, in OpenAI's words. */
export function fromAppError(err: AppError): OpenAiError {
  const status = err.status as OpenAiError["status"];
  const type =
    status === 401
      ? "authentication_error"
      : status === 403
        ? "permission_error"
        : status === 404
          ? "not_found_error"
          : status === 402
            ? "insufficient_quota"
            : status === 429
              ? "rate_limit_error"
              : status >= 500
                ? "server_error"
                : "invalid_request_error";
  const code = status === 402 ? "insufficient_quota" : err.code;
  const details = err.details && typeof err.details === "object" ? ` ${JSON.stringify(err.details)}` : "";
  return new OpenAiError(status, type, `${err.message}${status === 402 ? details : ""}`, null, code, err.headers);
}
