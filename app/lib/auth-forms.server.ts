import { data, redirect, type HeadersFunction } from "@remix-run/cloudflare";
import * as z from "zod";
import type { RequestContext } from "../../worker/context";
import { AppError } from "../../worker/lib/errors";
import { clientIp, enforceRateLimit } from "../../worker/lib/rate-limit";

export type FieldErrors = Partial<Record<"name" | "email" | "password" | "form", string>>;
export interface AuthFormResult {
  errors: FieldErrors;
  values: { name?: string; email?: string };
  notice?: string;
}

const Email = z.email("Enter a valid email address.").max(254);
const Password = z.string().min(8, "Use at least 8 characters.").max(128, "Use at most 128 characters.");

export const SignUpForm = z.object({
  name: z.string().trim().min(1, "Tell us your name.").max(100, "Use at most 100 characters."),
  email: Email,
  password: Password,
});
export const SignInForm = z.object({ email: Email, password: z.string().min(1, "Enter your password.") });
export const ForgotForm = z.object({ email: Email });
export const ResetForm = z.object({ token: z.string().min(1), password: Password });

export function fieldErrors(error: z.ZodError): FieldErrors {
  const out: FieldErrors = {};
  for (const issue of error.issues) {
    const key = (issue.path[0] as keyof FieldErrors | undefined) ?? "form";
    out[key] ??= issue.message;
  }
  return out;
}

/** Copies better-auth's Set-Cookie headers onto a redirect. */
export function redirectWithCookies(to: string, from: Response): Response {
  const headers = new Headers();
  for (const cookie of from.headers.getSetCookie()) headers.append("Set-Cookie", cookie);
  return redirect(to, { headers });
}

/** better-auth answers errors as JSON `{code, message}`; turn them into form errors. */
export async function authFailure(res: Response, values: AuthFormResult["values"]): Promise<AuthFormResult> {
  let body: { code?: string; message?: string } = {};
  try {
    body = (await res.json()) as typeof body;
  } catch {
    // not JSON: fall through to the generic message
  }
  const code = body.code ?? "";
  if (code.includes("ALREADY_EXISTS")) return { errors: { email: "An account with this email already exists. Sign in instead?" }, values };
  if (code === "INVALID_EMAIL_OR_PASSWORD" || res.status === 401) return { errors: { form: "That email and password do not match." }, values };
  if (code.includes("PASSWORD_TOO_SHORT")) return { errors: { password: "Use at least 8 characters." }, values };
  if (code.includes("INVALID_EMAIL")) return { errors: { email: "Enter a valid email address." }, values };
  if (code.includes("INVALID_TOKEN")) return { errors: { form: "This reset link has expired or was already used. Ask for a new one." }, values };
  return { errors: { form: body.message ?? "Something went wrong. Please try again." }, values };
}

/** The same per-IP limit as the auth API (worker/lib/rate-limit.ts); throws its 429 AppError when exceeded. */
export async function limitAuthAttempt(ctx: RequestContext, request: Request): Promise<void> {
  const ip = clientIp(request);
  if (ip) await enforceRateLimit(ctx.env.AUTH_LIMITER, `auth:${ip}`);
}

/**
 * Runs an auth form's work; a 429 from the per-IP limit or the per-account
 * throttle becomes the form's error with status 429 and Retry-After, as the API answers.
 */
export async function throttledForm<T extends AuthFormResult>(values: AuthFormResult["values"], work: () => Promise<T>) {
  try {
    return await work();
  } catch (err) {
    if (err instanceof AppError && err.status === 429) {
      return data<AuthFormResult>({ errors: { form: err.message }, values }, { status: 429, headers: err.headers });
    }
    throw err;
  }
}

/** A route's `headers`: the action's Retry-After reaches the browser with its 429 (Remix drops action headers otherwise). */
export const retryAfterHeaders: HeadersFunction = ({ actionHeaders }) => {
  const out = new Headers();
  const retryAfter = actionHeaders.get("Retry-After");
  if (retryAfter) out.set("Retry-After", retryAfter);
  return out;
};

export type { RequestContext };
