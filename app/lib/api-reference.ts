// The interactive API reference (docs/api.md, "The API reference page"): Scalar's standalone browser bundle from
// node_modules, which Vite copies into the client build as a hashed asset, so the
// Worker serves it from its own origin (script-src 'self') and nothing comes from
// outside at run time. The package exports no subpath for the bundle, hence the path.
import scalarBundleUrl from "../../node_modules/@scalar/api-reference/dist/browser/standalone.js?url";

/** Where the page reads the document the Worker serves (worker/api/openapi.ts). */
export const OPENAPI_URL = "/api/openapi.json";

/** The little of Scalar's browser API the page uses (its types live in a transitive package). */
type ScalarInstance = { destroy: () => void };
type ScalarGlobal = { createApiReference: (el: Element, config: Record<string, unknown>) => ScalarInstance };
type ScalarWindow = Window & { Scalar?: ScalarGlobal; __zod_globalConfig?: Record<string, unknown> };

/**
 * Scalar's settings. Everything that would reach another origin is off: its web
 * fonts (the app's own system fonts instead), telemetry, the "Ask AI" agent,
 * the MCP and developer-tools buttons, and the request proxy (none is set, so
 * "Test request" calls this origin directly, which connect-src 'self' allows).
 */
export const SCALAR_CONFIG: Record<string, unknown> = {
  url: OPENAPI_URL,
  layout: "modern",
  theme: "default",
  forceDarkModeState: "dark",
  hideDarkModeToggle: true,
  withDefaultFonts: false,
  telemetry: false,
  agent: { disabled: true },
  mcp: { disabled: true },
  showDeveloperTools: "never",
  // Its "Open API Client" links hand the document to Scalar's hosted client: the in-page client is enough.
  hideClientButton: true,
  showOperationId: true,
  // Every tag open, so each operation is listed in the sidebar from the start.
  defaultOpenAllTags: true,
  documentDownloadType: "json",
};

let loading: Promise<ScalarGlobal> | null = null;

/** Loads the bundle once per page life (a same-origin script: the CSP's 'self' admits it). */
function loadScalar(): Promise<ScalarGlobal> {
  const w = window as ScalarWindow;
  if (w.Scalar) return Promise.resolve(w.Scalar);
  // Scalar carries zod, whose first parse probes `Function("")` to decide on its JIT;
  // under our CSP that probe is a reported violation. Parsing without the JIT is what
  // it falls back to anyway, so say so up front and no eval is ever tried.
  w.__zod_globalConfig = { ...(w.__zod_globalConfig ?? {}), jitless: true };
  loading ??= new Promise<ScalarGlobal>((resolve, reject) => {
    const script = document.createElement("script");
    script.src = scalarBundleUrl;
    script.async = true;
    script.onload = () => (w.Scalar ? resolve(w.Scalar) : reject(new Error("the reference bundle did not register")));
    script.onerror = () => {
      loading = null;
      script.remove();
      reject(new Error("the reference bundle did not load"));
    };
    document.head.appendChild(script);
  });
  return loading;
}

/** Renders the reference into `el`; returns how to take it down again. */
export async function mountApiReference(el: Element): Promise<() => void> {
  const scalar = await loadScalar();
  const instance = scalar.createApiReference(el, SCALAR_CONFIG);
  return () => instance.destroy();
}
