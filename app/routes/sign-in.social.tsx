import type { ActionFunctionArgs } from "@remix-run/cloudflare";
import { redirect } from "@remix-run/cloudflare";
import * as z from "zod";

const Provider = z.object({ provider: z.enum(["github", "google"]) });

/** Starts an OAuth sign-in: better-auth answers with the provider's URL and a state cookie. */
export async function action({ request, context }: ActionFunctionArgs) {
  const parsed = Provider.safeParse(Object.fromEntries(await request.formData()));
  if (!parsed.success) throw redirect("/sign-in");
  const res = await context.app.auth().api.signInSocial({
    body: { provider: parsed.data.provider, callbackURL: "/" },
    headers: request.headers,
    asResponse: true,
  });
  const body = (await res.json().catch(() => ({}))) as { url?: string };
  if (!res.ok || !body.url) throw redirect("/sign-in");
  const headers = new Headers();
  for (const cookie of res.headers.getSetCookie()) headers.append("Set-Cookie", cookie);
  return redirect(body.url, { headers });
}
