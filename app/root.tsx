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
import { formatNumber } from "./lib/format";
import styles from "./styles/app.css?url";

export const links: LinksFunction = () => [{ rel: "stylesheet", href: styles }];

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

function Shell({ children, data }: { children: React.ReactNode; data: RootData | undefined }) {
  const user = data?.user ?? null;
  return (
    <html lang="en">
      <head>
        <meta charSet="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="color-scheme" content="dark" />
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
        <ScrollRestoration />
        <Scripts />
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
  const detail = isRouteErrorResponse(error)
    ? typeof error.data === "string" && error.data
      ? error.data
      : error.status === 404
        ? "There is nothing at this address."
        : ""
    : "Please try again in a moment.";
  return (
    <Shell data={data}>
      <section className="card narrow" data-testid="error-page" data-status={isRouteErrorResponse(error) ? error.status : 500}>
        <h1>{title}</h1>
        <p>{detail}</p>
        <Link to="/">Back to Utter</Link>
      </section>
    </Shell>
  );
}
