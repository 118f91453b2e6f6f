import type { MetaFunction } from "@remix-run/cloudflare";
import { Link } from "@remix-run/react";
import { useEffect, useRef, useState } from "react";
import { mountApiReference, OPENAPI_URL } from "../lib/api-reference";

export const meta: MetaFunction = () => [
  { title: "API reference — Utter" },
  {
    name: "description",
    content: "Every Utter API operation with its parameters, responses and a curl example, from the OpenAPI document.",
  },
];

type State = "loading" | "ready" | "failed";

/** The interactive API reference: open to everyone, rendered in the browser from the served OpenAPI document. */
export default function ApiReference() {
  const mount = useRef<HTMLDivElement>(null);
  const [state, setState] = useState<State>("loading");
  useEffect(() => {
    let unmount: (() => void) | undefined;
    let gone = false;
    const el = mount.current;
    if (!el) return;
    mountApiReference(el).then(
      (down) => {
        if (gone) down();
        else {
          unmount = down;
          setState("ready");
        }
      },
      () => !gone && setState("failed"),
    );
    return () => {
      gone = true;
      unmount?.();
    };
  }, []);
  return (
    <div className="page api-reference-page">
      <h1>API reference</h1>
      <p className="muted">
        Every operation of Utter’s HTTP API, with a curl example for each. Programs sign in with an API key as{" "}
        <code>Authorization: Bearer utr_…</code> (make one on your <Link to="/account/keys">API keys</Link> page). The same description as
        JSON: <a href={OPENAPI_URL}>{OPENAPI_URL}</a>. OpenAI-compatible speech lives under <code>/v1</code>, and agents can use the MCP
        server at <code>/mcp</code>.
      </p>
      {state === "loading" ? (
        <p className="muted" role="status">
          Loading the reference…
        </p>
      ) : null}
      {state === "failed" ? (
        <p className="form-error" role="alert">
          The reference could not be shown here. The document itself is at <a href={OPENAPI_URL}>{OPENAPI_URL}</a>.
        </p>
      ) : null}
      <noscript>
        <p>
          The interactive reference needs JavaScript. The document itself is at <a href={OPENAPI_URL}>{OPENAPI_URL}</a>.
        </p>
      </noscript>
      {/* Scalar owns everything inside; React never renders children here. */}
      <div ref={mount} className="api-reference" data-testid="api-reference" data-state={state} />
    </div>
  );
}
