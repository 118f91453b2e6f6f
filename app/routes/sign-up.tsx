import type { ActionFunctionArgs, LoaderFunctionArgs, MetaFunction } from "@remix-run/cloudflare";
import { redirect } from "@remix-run/cloudflare";
import { Form, Link, useActionData, useNavigation } from "@remix-run/react";
import { findSessionUser } from "../../worker/auth/session";
import { Field, FormError } from "../components/field";
import { authFailure, fieldErrors, redirectWithCookies, SignUpForm, limitAuthAttempt, throttledForm, type AuthFormResult } from "../lib/auth-forms.server";
export { retryAfterHeaders as headers } from "../lib/auth-forms.server";

export const meta: MetaFunction = () => [{ title: "Create your account — Utter" }];

export async function loader({ request, context }: LoaderFunctionArgs) {
  if (await findSessionUser(context.app, request.headers)) throw redirect("/");
  return null;
}

export async function action({ request, context }: ActionFunctionArgs) {
  const form = Object.fromEntries(await request.formData());
  const values = { name: String(form.name ?? ""), email: String(form.email ?? "") };
  const parsed = SignUpForm.safeParse(form);
  if (!parsed.success) return { errors: fieldErrors(parsed.error), values } as AuthFormResult;
  return throttledForm(values, async () => {
    await limitAuthAttempt(context.app, request);
    const res = await context.app.auth().api.signUpEmail({ body: parsed.data, headers: request.headers, asResponse: true });
    if (!res.ok) return authFailure(res, values);
    throw redirectWithCookies("/", res);
  });
}

export default function SignUp() {
  const data = useActionData<typeof action>();
  const busy = useNavigation().state === "submitting";
  return (
    <section className="card narrow">
      <h1>Create your account</h1>
      <Form method="post" noValidate>
        <FormError message={data?.errors.form} />
        <Field label="Name" name="name" autoComplete="name" required maxLength={100} defaultValue={data?.values.name} error={data?.errors.name} />
        <Field label="Email" name="email" type="email" autoComplete="email" required defaultValue={data?.values.email} error={data?.errors.email} />
        <Field label="Password" name="password" type="password" autoComplete="new-password" required minLength={8} hint="At least 8 characters." error={data?.errors.password} />
        <button type="submit" className="button primary" disabled={busy}>
          {busy ? "Creating account…" : "Create account"}
        </button>
      </Form>
      <p className="muted">
        Already have an account? <Link to="/sign-in">Sign in</Link>
      </p>
    </section>
  );
}
