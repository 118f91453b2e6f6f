import { Link, isRouteErrorResponse, useRouteError } from "@remix-run/react";

/**
 * A page's error boundary: renders inside the layout (header, nav, jobs stay)
 * and says what happened in words. Loaders turn service errors (404 for an id
 * that is not yours, …) into responses whose body is the sentence to show.
 */
export function RouteErrorBoundary() {
  const error = useRouteError();
  const status = isRouteErrorResponse(error) ? error.status : 500;
  const message =
    isRouteErrorResponse(error) && typeof error.data === "string" && error.data
      ? error.data
      : status === 404
        ? "There is nothing at this address."
        : "Something went wrong on our side. Please try again in a moment.";
  const title = status === 404 ? "Not found" : status === 403 ? "Not allowed" : "Something went wrong";
  return (
    <section className="card narrow" data-testid="error-page" data-status={status}>
      <h1>{title}</h1>
      <p>{message}</p>
      <p>
        <Link to="/voices">Your voices</Link> · <Link to="/">Home</Link>
      </p>
    </section>
  );
}
