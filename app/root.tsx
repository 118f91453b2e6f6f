import type { LinksFunction, LoaderFunctionArgs } from "@remix-run/cloudflare";
import { Link, Links, Meta, Outlet, Scripts, ScrollRestoration, isRouteErrorResponse, useLoaderData, useRouteError } from "@remix-run/react";
import { findUser } from "../worker/auth/session";
import styles from "./styles/app.css?url";

export const links: LinksFunction = () => [{ rel: "stylesheet", href: styles }];

export async function loader({ request, context }: LoaderFunctionArgs) {
  const user = await findUser(context.app, request.headers);
  return { user: user ? { email: user.email, name: user.name } : null };
}

function Shell({ children, user }: { children: React.ReactNode; user: { email: string; name: string } | null }) {
  return (
    <html lang="en">
      <head>
        <meta charSet="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <Meta />
        <Links />
      </head>
      <body>
        <a className="skip-link" href="#main">
          Skip to content
        </a>
        <header className="site-header">
          <Link to="/" className="brand">
            Utter
          </Link>
          <nav aria-label="Main">
            {user ? (
              <>
                <span className="muted" data-testid="signed-in-as">
                  {user.email}
                </span>
                <Link to="/sign-out">Sign out</Link>
              </>
            ) : (
              <>
                <Link to="/sign-in">Sign in</Link>
                <Link to="/sign-up" className="button">
                  Sign up
                </Link>
              </>
            )}
          </nav>
        </header>
        <main id="main">{children}</main>
        <ScrollRestoration />
        <Scripts />
      </body>
    </html>
  );
}

export default function App() {
  const { user } = useLoaderData<typeof loader>();
  return (
    <Shell user={user}>
      <Outlet />
    </Shell>
  );
}

export function ErrorBoundary() {
  const error = useRouteError();
  const title = isRouteErrorResponse(error) ? `${error.status} ${error.statusText}` : "Something went wrong";
  const detail = isRouteErrorResponse(error) ? (typeof error.data === "string" ? error.data : "") : "Please try again in a moment.";
  return (
    <Shell user={null}>
      <section className="card narrow">
        <h1>{title}</h1>
        <p>{detail}</p>
        <Link to="/">Back to Utter</Link>
      </section>
    </Shell>
  );
}
