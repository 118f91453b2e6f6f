import { data } from "@remix-run/cloudflare";
import { AppError } from "../../worker/lib/errors";

/** What an action answers when a service refused: the same shape as the API's errors. */
export interface ActionFailure {
  ok: false;
  error: { code: string; message: string; details?: unknown };
}

/**
 * Runs a service call from a loader; an AppError (404 for another user's id,
 * 409, …) becomes an error response the route's error boundary shows in
 * words, instead of a 500.
 */
export async function orErrorResponse<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (err) {
    if (err instanceof AppError) throw data(err.message, { status: err.status });
    throw err;
  }
}

/** Runs a service call from an action; an AppError becomes `{ok:false, error}` with its HTTP status. */
export async function actionResult<T>(work: Promise<T>) {
  try {
    return { ok: true as const, value: await work };
  } catch (err) {
    if (err instanceof AppError) {
      const failure: ActionFailure = {
        ok: false,
        error: { code: err.code, message: err.message, ...(err.details === undefined ? {} : { details: err.details }) },
      };
      return data(failure, { status: err.status, headers: err.headers });
    }
    throw err;
  }
}

export function failure(code: string, message: string, status = 400) {
  const body: ActionFailure = { ok: false, error: { code, message } };
  return data(body, { status });
}
