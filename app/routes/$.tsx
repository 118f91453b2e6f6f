import type { LoaderFunctionArgs, MetaFunction } from "@remix-run/cloudflare";
import { data } from "@remix-run/cloudflare";
import { Link, useRouteLoaderData } from "@remix-run/react";
import type { loader as rootLoader } from "../root";

// Any address no other route matches. Being a route (not the router's own 404), it runs under the
// root loader, so a signed-in person keeps their header, and the page has a title and a 404 status.
export const meta: MetaFunction = () => [{ title: "Page not found — Utter" }];

export function loader({ request }: LoaderFunctionArgs) {
  return data({ path: new URL(request.url).pathname }, { status: 404 });
}

export default function NotFound() {
  const root = useRouteLoaderData<typeof rootLoader>("root");
  return (
    <section className="card narrow" data-testid="error-page" data-status={404}>
      <h1>Page not found</h1>
      <p>There is nothing at this address.</p>
      <p>{root?.user ? <Link to="/generate">Generate speech</Link> : <Link to="/sign-in">Sign in</Link>} · <Link to="/">Home</Link></p>
    </section>
  );
}
