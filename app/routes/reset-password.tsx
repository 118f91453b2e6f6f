import type { ActionFunctionArgs, LoaderFunctionArgs, MetaFunction } from "@remix-run/cloudflare";
import { Form, Link, useActionData, useLoaderData, useNavigation } from "@remix-run/react";
import { Field, FormError } from "../components/field";
import { authFailure, fieldErrors, ResetForm, type AuthFormResult } from "../lib/auth-forms.server";

export const meta: MetaFunction = () => [{ title: "Choose a new password — Utter" }];

export async function loader({ request, context }: LoaderFunctionArgs) {
  const url = new URL(request.url);
  const token = url.searchParams.get("token") ?? "";
  const error = url.searchParams.get("error");
  if (!token || error) return { token: "", spent: true };
  // A link used once (or expired) is spent: say so instead of showing a form that can only fail.
  // The same lookup better-auth makes when the link is opened from the mail.
  const auth = await context.app.auth().$context;
  const found = await auth.internalAdapter.findVerificationValue(`reset-password:${token}`);
  return { token, spent: !found || found.expiresAt < new Date() };
}

export async function action({ request, context }: ActionFunctionArgs): Promise<AuthFormResult> {
  const form = Object.fromEntries(await request.formData());
  const parsed = ResetForm.safeParse(form);
  if (!parsed.success) return { errors: fieldErrors(parsed.error), values: {} };
  const res = await context.app.auth().api.resetPassword({
    body: { newPassword: parsed.data.password, token: parsed.data.token },
    headers: request.headers,
    asResponse: true,
  });
  if (!res.ok) return authFailure(res, {});
  return { errors: {}, values: {}, notice: "Your password has been changed. Sign in with the new one." };
}

export default function ResetPassword() {
  const { token, spent } = useLoaderData<typeof loader>();
  const data = useActionData<typeof action>();
  const busy = useNavigation().state === "submitting";
  if (data?.notice) {
    return (
      <section className="card narrow">
        <h1>Password changed</h1>
        <p role="status">{data.notice}</p>
        <Link className="button primary" to="/sign-in">
          Sign in
        </Link>
      </section>
    );
  }
  if (spent) {
    return (
      <section className="card narrow" data-testid="reset-link-spent">
        <h1>This link has been used</h1>
        <p role="status">This reset link has been used or has expired; each link works once, for an hour.</p>
        <p className="actions">
          <Link className="button primary" to="/forgot-password">
            Ask for a new link
          </Link>
          <Link className="button" to="/sign-in">
            Sign in
          </Link>
        </p>
      </section>
    );
  }
  return (
    <section className="card narrow">
      <h1>Choose a new password</h1>
      <Form method="post" noValidate>
        <input type="hidden" name="token" value={token} />
        <FormError message={data?.errors.form} />
        <Field label="New password" name="password" type="password" autoComplete="new-password" required minLength={8} hint="At least 8 characters." error={data?.errors.password} />
        <button type="submit" className="button primary" disabled={busy || !token}>
          {busy ? "Saving…" : "Save new password"}
        </button>
      </Form>
    </section>
  );
}
