import type { ActionFunctionArgs, LoaderFunctionArgs, MetaFunction } from "@remix-run/cloudflare";
import { redirect } from "@remix-run/cloudflare";
import { Form } from "@remix-run/react";
import { findSessionUser } from "../../worker/auth/session";
import { redirectWithCookies } from "../lib/auth-forms.server";

export const meta: MetaFunction = () => [{ title: "Sign out — Utter" }];

export async function loader({ request, context }: LoaderFunctionArgs) {
  if (!(await findSessionUser(context.app, request.headers))) throw redirect("/");
  return null;
}

export async function action({ request, context }: ActionFunctionArgs) {
  const res = await context.app.auth().api.signOut({ headers: request.headers, asResponse: true });
  return redirectWithCookies("/", res);
}

export default function SignOut() {
  return (
    <section className="card narrow">
      <h1>Sign out</h1>
      <p>You can sign back in at any time; your voices and history stay here.</p>
      <Form method="post">
        <button type="submit" className="button primary">
          Sign out
        </button>
      </Form>
    </section>
  );
}
