import type { LinksFunction, LoaderFunctionArgs } from "@remix-run/cloudflare";
import {
  Link,
  Links,
  Meta,
  NavLink,
  Outlet,
  Scripts,
  ScrollRestoration,
  isRouteErrorResponse,
  useRouteError,
  useRouteLoaderData,
} from "@remix-run/react";
import { findSessionUser } from "../worker/auth/session";
import { balanceWithMonthlyGrant } from "../worker/services/credits";
import { listTasks } from "../worker/services/tasks";
import { TaskDock, type DockTask } from "./components/task-dock";
import { useCspNonce } from "./lib/csp-nonce";
import { formatNumber } from "./lib/format";
import styles from "./styles/app.css?url";

export const links: LinksFunction = () => [
  { rel: "stylesheet", href: styles },
  { rel: "icon", href: "/favicon.svg", type: "image/svg+xml" },
];

export async function loader({ request, context }: LoaderFunctionArgs) {
  const user = await findSessionUser(context.app, request.headers);
  if (!user) return { user: null, credits: null, activeTasks: [] as DockTask[] };
  const ctx = context.app;
  // The monthly grant is lazy (DESIGN §6): the balance read also decides whether this month's is due.
  const [{ balance: credits }, active] = await Promise.all([balanceWithMonthlyGrant(ctx.db, user.id), listTasks(ctx, user.id, { status: "active", limit: 10 })]);
  return { user: { email: user.email, name: user.name, plan: user.plan }, credits, activeTasks: active.tasks };
}

type RootData = Awaited<ReturnType<typeof loader>>;

const APP_LINKS = [
  { to: "/generate", label: "Generate" },
  { to: "/clone", label: "Clone" },
  { to: "/design", label: "Design" },
  { to: "/voices", label: "Voices" },
  { to: "/history", label: "History" },
];

function Shell({ children, data, title }: { children: React.ReactNode; data: RootData | undefined; title?: string }) {
  const user = data?.user ?? null;
  const nonce = useCspNonce();
  return (
    <html lang="en">
      <head>
        <meta charSet="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="color-scheme" content="dark" />
        {title ? <title>{title}</title> : null}
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
          {user ? (
            <nav aria-label="Main" className="main-nav">
              <ul className="nav-links">
                {APP_LINKS.map((l) => (
                  <li key={l.to}>
                    <NavLink to={l.to} prefetch="intent">
                      {l.label}
                    </NavLink>
                  </li>
                ))}
                <li>
                  <NavLink to="/pricing">Pricing</NavLink>
                </li>
              </ul>
            </nav>
          ) : null}
          <nav aria-label="Account" className="account-nav">
            <ul className="nav-account">
              {user ? (
                <>
                  <li>
                    <NavLink
                      to="/account"
                      className="credits-badge"
                      data-testid="credit-balance"
                      aria-label={`Account: ${formatNumber(data?.credits ?? 0)} credits`}
                    >
                      {formatNumber(data?.credits ?? 0)} credits
                    </NavLink>
                  </li>
                  <li className="hide-phone">
                    <NavLink to="/account" data-testid="signed-in-as" className="muted">
                      {user.email}
                    </NavLink>
                  </li>
                  <li>
                    <Link to="/sign-out">Sign out</Link>
                  </li>
                </>
              ) : (
                <>
                  <li>
                    <NavLink to="/pricing">Pricing</NavLink>
                  </li>
                  <li>
                    <Link to="/sign-in">Sign in</Link>
                  </li>
                  <li>
                    <Link to="/sign-up" className="button">
                      Sign up
                    </Link>
                  </li>
                </>
              )}
            </ul>
          </nav>
        </header>
        <main id="main" tabIndex={-1}>
          {children}
        </main>
        {user ? <TaskDock active={data?.activeTasks ?? []} /> : null}
        <ScrollRestoration nonce={nonce} />
        <Scripts nonce={nonce} />
      </body>
    </html>
  );
}

export default function App() {
  const data = useRouteLoaderData<typeof loader>("root");
  return (
    <Shell data={data}>
      <Outlet />
    </Shell>
  );
}

export function ErrorBoundary() {
  const error = useRouteError();
  // When a page failed but the root loader did not, keep the signed-in header.
  const data = useRouteLoaderData<typeof loader>("root");
  const title = isRouteErrorResponse(error)
    ? error.status === 404
      ? "Page not found"
      : `${error.status} ${error.statusText}`
    : "Something went wrong";
  // The router's own messages ("Error: No route matches URL …") are not for people.
  const spoken = isRouteErrorResponse(error) && typeof error.data === "string" && !/^Error: /.test(error.data) ? error.data : "";
  const detail = isRouteErrorResponse(error)
    ? spoken
      ? spoken
      : error.status === 404
        ? "There is nothing at this address."
        : ""
    : "Please try again in a moment.";
  return (
    <Shell data={data} title={`${title} — Utter`}>
      <section className="card narrow" data-testid="error-page" data-status={isRouteErrorResponse(error) ? error.status : 500}>
        <h1>{title}</h1>
        <p>{detail}</p>
        <Link to="/">Back to Utter</Link>
      </section>
    </Shell>
  );
}
