/**
 * Browser-side helpers for the JSON API. Every error the API sends has the
 * shape `{"error":{"code","message","details"?}}` (DESIGN §8); the message is
 * written for people, so it is what the UI shows.
 */
export class ApiError extends Error {
  readonly code: string;
  readonly status: number;
  readonly details: unknown;
  constructor(code: string, status: number, message: string, details?: unknown) {
    super(message);
    this.name = "ApiError";
    this.code = code;
    this.status = status;
    this.details = details;
  }
}

const NETWORK_MESSAGE = "We could not reach Utter. Check your connection and try again.";

/** Builds an ApiError from a parsed body (or none) and the HTTP status. */
export function apiErrorFrom(status: number, body: unknown): ApiError {
  const err = (body as { error?: { code?: unknown; message?: unknown; details?: unknown } } | null)?.error;
  if (err && typeof err.message === "string") {
    return new ApiError(typeof err.code === "string" ? err.code : "error", status, err.message, err.details);
  }
  if (status === 401) return new ApiError("unauthorized", 401, "Your session has ended. Sign in again to continue.");
  if (status === 413) return new ApiError("payload_too_large", 413, "This file is too large to upload.");
  if (status === 429) return new ApiError("rate_limited", 429, "Too many requests. Wait a moment and try again.");
  if (status >= 500) return new ApiError("server_error", status, "Something went wrong on our side. Please try again in a moment.");
  return new ApiError("error", status, `The request failed (HTTP ${status}).`);
}

export async function readApiError(res: Response): Promise<ApiError> {
  let body: unknown = null;
  try {
    body = await res.json();
  } catch {
    // not JSON (a proxy error page, an empty body): fall back to a message by status
  }
  return apiErrorFrom(res.status, body);
}

/** fetch + JSON with the API's error shape turned into an ApiError. */
export async function apiFetch<T>(url: string, init?: RequestInit): Promise<T> {
  let res: Response;
  try {
    res = await fetch(url, { credentials: "same-origin", ...init, headers: { accept: "application/json", ...init?.headers } });
  } catch (err) {
    if ((err as Error)?.name === "AbortError") throw err;
    throw new ApiError("network", 0, NETWORK_MESSAGE);
  }
  if (!res.ok) throw await readApiError(res);
  if (res.status === 204) return undefined as T;
  return (await res.json()) as T;
}

/** A sentence for any error, for showing in the UI. */
export function describeError(err: unknown): string {
  if (err instanceof ApiError) return err.message;
  if (err instanceof TypeError) return NETWORK_MESSAGE;
  if (err instanceof Error && err.message) return err.message;
  return "Something went wrong. Please try again.";
}

export interface UploadProgress {
  loaded: number;
  total: number;
}

/**
 * POSTs a FormData with XMLHttpRequest, which (unlike fetch) reports upload
 * progress. Resolves with the parsed JSON body; rejects with an ApiError.
 */
export function uploadForm<T>(
  url: string,
  form: FormData,
  opts: { onProgress?: (p: UploadProgress) => void; signal?: AbortSignal } = {},
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", url);
    xhr.responseType = "text";
    xhr.setRequestHeader("accept", "application/json");
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) opts.onProgress?.({ loaded: e.loaded, total: e.total });
    };
    xhr.onload = () => {
      let body: unknown = null;
      try {
        body = xhr.responseText ? JSON.parse(xhr.responseText) : null;
      } catch {
        // not JSON
      }
      if (xhr.status >= 200 && xhr.status < 300) resolve(body as T);
      else reject(apiErrorFrom(xhr.status, body));
    };
    xhr.onerror = () => reject(new ApiError("network", 0, "The upload was interrupted. Check your connection and try again."));
    xhr.onabort = () => reject(new DOMException("Upload cancelled", "AbortError"));
    opts.signal?.addEventListener("abort", () => xhr.abort(), { once: true });
    xhr.send(form);
  });
}
