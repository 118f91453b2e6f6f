import { redirect } from "@remix-run/cloudflare";
import * as z from "zod";
import type { RequestContext } from "../../worker/context";
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
  if (res.status === 429) return { errors: { form: "Too many attempts. Wait a minute and try again." }, values };
  return { errors: { form: body.message ?? "Something went wrong. Please try again." }, values };
}

/** The same per-IP limit as the auth API (worker/lib/rate-limit.ts); false when exceeded. */
export async function allowAuthAttempt(ctx: RequestContext, request: Request): Promise<boolean> {
  const ip = clientIp(request);
  if (!ip) return true;
  try {
    await enforceRateLimit(ctx.env.AUTH_LIMITER, `auth:${ip}`);
    return true;
  } catch {
    return false;
  }
}

export const TOO_MANY_ATTEMPTS = "Too many attempts. Wait a minute and try again.";

export type { RequestContext };
