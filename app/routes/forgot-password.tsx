import type { ActionFunctionArgs, MetaFunction } from "@remix-run/cloudflare";
import { Form, Link, useActionData, useNavigation } from "@remix-run/react";
import { Field, FormError } from "../components/field";
import { fieldErrors, ForgotForm, limitAuthAttempt, throttledForm, type AuthFormResult } from "../lib/auth-forms.server";
export { retryAfterHeaders as headers } from "../lib/auth-forms.server";

export const meta: MetaFunction = () => [{ title: "Reset your password — Utter" }];

export async function action({ request, context }: ActionFunctionArgs) {
  const form = Object.fromEntries(await request.formData());
  const values = { email: String(form.email ?? "") };
  const parsed = ForgotForm.safeParse(form);
  if (!parsed.success) return { errors: fieldErrors(parsed.error), values } as AuthFormResult;
  return throttledForm(values, async (): Promise<AuthFormResult> => {
    await limitAuthAttempt(context.app, request);
    await context.app.auth().api.requestPasswordReset({
      body: { email: parsed.data.email, redirectTo: "/reset-password" },
      headers: request.headers,
      asResponse: true,
    });
    // Same answer whether or not the account exists, so the form cannot be used to probe emails.
    return { errors: {}, values, notice: "If an account exists for that email, we have sent a link to reset its password. It works for one hour." };
  });
}

export default function ForgotPassword() {
  const data = useActionData<typeof action>();
  const busy = useNavigation().state === "submitting";
  return (
    <section className="card narrow">
      <h1>Reset your password</h1>
      {data?.notice ? (
        <p className="notice" role="status">
          {data.notice}
        </p>
      ) : null}
      <Form method="post" noValidate>
        <FormError message={data?.errors.form} />
        <Field label="Email" name="email" type="email" autoComplete="email" required defaultValue={data?.values.email} error={data?.errors.email} />
        <button type="submit" className="button primary" disabled={busy}>
          {busy ? "Sending…" : "Send reset link"}
        </button>
      </Form>
      <p className="muted">
        Remembered it? <Link to="/sign-in">Sign in</Link>
      </p>
    </section>
  );
}
