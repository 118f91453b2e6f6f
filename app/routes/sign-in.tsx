import type { ActionFunctionArgs, LoaderFunctionArgs, MetaFunction } from "@remix-run/cloudflare";
import { redirect } from "@remix-run/cloudflare";
import { Form, Link, useActionData, useLoaderData, useNavigation } from "@remix-run/react";
import { findSessionUser } from "../../worker/auth/session";
import { Field, FormError } from "../components/field";
import { safeRedirect } from "../lib/safe-redirect";
import { authFailure, fieldErrors, limitAuthAttempt, redirectWithCookies, SignInForm, throttledForm, type AuthFormResult } from "../lib/auth-forms.server";
export { retryAfterHeaders as headers } from "../lib/auth-forms.server";
import { guardedSignIn } from "../../worker/auth/guarded-sign-in";

export const meta: MetaFunction = () => [{ title: "Sign in — Utter" }];

export async function loader({ request, context }: LoaderFunctionArgs) {
  const redirectTo = safeRedirect(new URL(request.url).searchParams.get("redirectTo"));
  if (await findSessionUser(context.app, request.headers)) throw redirect(redirectTo);
  const cfg = context.app.config;
  return {
    redirectTo,
    providers: {
      github: Boolean(cfg.GITHUB_CLIENT_ID && cfg.GITHUB_CLIENT_SECRET),
      google: Boolean(cfg.GOOGLE_CLIENT_ID && cfg.GOOGLE_CLIENT_SECRET),
    },
  };
}

export async function action({ request, context }: ActionFunctionArgs) {
  const ctx = context.app;
  const form = Object.fromEntries(await request.formData());
  const values = { email: String(form.email ?? "") };
  const parsed = SignInForm.safeParse(form);
  if (!parsed.success) return { errors: fieldErrors(parsed.error), values } as AuthFormResult;
  return throttledForm(values, async () => {
    await limitAuthAttempt(ctx, request);
    const res = await guardedSignIn(ctx, request, parsed.data.email, () =>
      ctx.auth().api.signInEmail({ body: parsed.data, headers: request.headers, asResponse: true }),
    );
    if (!res.ok) return authFailure(res, values);
    throw redirectWithCookies(safeRedirect(form.redirectTo), res);
  });
}

export default function SignIn() {
  const data = useActionData<typeof action>();
  const { providers, redirectTo } = useLoaderData<typeof loader>();
  const busy = useNavigation().state === "submitting";
  return (
    <section className="card narrow">
      <h1>Sign in</h1>
      <Form method="post" noValidate>
        <input type="hidden" name="redirectTo" value={redirectTo} />
        <FormError message={data?.errors.form} />
        <Field label="Email" name="email" type="email" autoComplete="email" required defaultValue={data?.values.email} error={data?.errors.email} />
        <Field label="Password" name="password" type="password" autoComplete="current-password" required error={data?.errors.password} />
        <button type="submit" className="button primary" disabled={busy}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
      </Form>
      {providers.github || providers.google ? (
        <div className="oauth">
          {providers.github ? (
            <Form method="post" action="/sign-in/social">
              <input type="hidden" name="provider" value="github" />
              <button className="button" type="submit">
                Continue with GitHub
              </button>
            </Form>
          ) : null}
          {providers.google ? (
            <Form method="post" action="/sign-in/social">
              <input type="hidden" name="provider" value="google" />
              <button className="button" type="submit">
                Continue with Google
              </button>
            </Form>
          ) : null}
        </div>
      ) : null}
      <p className="muted">
        <Link to="/forgot-password">Forgot your password?</Link> · New here? <Link to="/sign-up">Create an account</Link>
      </p>
    </section>
  );
}
