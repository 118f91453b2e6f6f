/**
 * The API described (DESIGN §8), made from the app's own route table: every
 * route carries its description (route-doc.ts) and the zod schemas it
 * validates with, so the document cannot drift from what is served.
 */
import * as z from "zod";
import { ApiErrorBody } from "../lib/errors";
import { isLeftOut, routeDocOf, type RouteDoc, type Tag } from "./route-doc";
import { OpenAiErrorBody } from "./response-schemas";

export interface RouteEntry {
  method: string;
  path: string;
  handler: unknown;
}

/** JSON Schema 2020-12, which OpenAPI 3.1 uses; the `$schema` key is left out inside the document. */
function json(schema: z.ZodType, io: "input" | "output"): Record<string, unknown> {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: "any" }) as Record<string, unknown>;
  return rest;
}

const TAGS: Record<Tag, string> = {
  Account: "The signed-in user, plan, balance and limits.",
  Voices: "Cloned and designed voices and their reference audio.",
  Speech: "Text to speech: each request becomes a task that renders on the GPU engine and streams as it goes.",
  Tasks:
    "A task is one engine job (speech or a design preview). Follow it with `GET /api/tasks/{id}`, or live over the WebSocket at " +
    "`/api/tasks/{id}/ws` (JSON messages — snapshot, status, progress, segment, artifact, completed, failed, cancelled, resync — " +
    "and binary audio frames, ADR 0009), or hear it with `GET /api/tasks/{id}/live`.",
  History: "Finished and stopped generations, their audio and archives.",
  Credits: "The credit balance and its append-only ledger.",
  Billing: "Plans, credit packs, Stripe Checkout and the customer portal.",
  "API keys": "Keys for programs, each with scopes. Managed with a browser session only.",
  "OpenAI-compatible": "OpenAI's speech API (`/v1`): a client written for OpenAI works by changing only its base URL and key. Errors use OpenAI's shape.",
  MCP: "A Model Context Protocol server (Streamable HTTP, stateless): tools to speak, list voices and fetch generations (docs/mcp.md).",
  Meta: "Health, languages and this document.",
};

const STATUS_TEXT: Record<number, string> = {
  400: "The request is not valid; `error.details` names the field.",
  401: "No valid session or API key.",
  402: "Not enough credits.",
  403: "Signed in, but not allowed: the key lacks the scope, or the route needs a browser session.",
  404: "No such resource, or it belongs to someone else.",
  409: "The resource is not in a state that allows this.",
  413: "The body is too large.",
  416: "The requested range cannot be served.",
  426: "Open this URL as a WebSocket.",
  429: "Too many requests or concurrent tasks; see `Retry-After`.",
  502: "The engine or Stripe answered badly.",
  503: "A dependency is unavailable; see `Retry-After`.",
};

/** Hono's `/a/:id/b/:index{[0-9]+}` → OpenAPI's `/a/{id}/b/{index}` and each parameter's pattern. */
function openApiPath(path: string): { path: string; params: { name: string; pattern?: string }[] } {
  const params: { name: string; pattern?: string }[] = [];
  const converted = path.replace(/:(\w+)(\{((?:[^{}]|\{[^{}]*\})+)\})?/g, (_m, name: string, _p, pattern?: string) => {
    params.push(pattern ? { name, pattern: `^${pattern}$` } : { name });
    return `{${name}}`;
  });
  return { path: converted, params };
}

function accessText(access: RouteDoc["access"], keyOnly: boolean): string {
  if (keyOnly) {
    const scopes = typeof access === "string" ? [access] : access;
    return access === "any" ? "An API key as the bearer (sessions are not accepted)." : `An API key as the bearer, with the ${scopes.map((s) => `\`${s}\``).join(" or ")} scope.`;
  }
  if (access === "public") return "No authentication.";
  if (access === "stripe-signature") return "Authenticated by Stripe's `Stripe-Signature` header, nothing else.";
  if (access === "session") return "A browser session only (API keys are refused with 403).";
  if (access === "any") return "Any session or API key.";
  const scopes = typeof access === "string" ? [access] : access;
  return `A session, or an API key with the ${scopes.map((s) => `\`${s}\``).join(" or ")} scope.`;
}

function security(access: RouteDoc["access"], keyOnly: boolean) {
  if (keyOnly) return [{ bearer: [] }];
  if (access === "public" || access === "stripe-signature") return [];
  if (access === "session") return [{ cookie: [] }];
  return [{ bearer: [] }, { cookie: [] }];
}

/** The error statuses: those of authentication, then the route's own. */
function errorStatuses(doc: RouteDoc): number[] {
  const base = doc.access === "public" || doc.access === "stripe-signature" ? [] : doc.access === "any" ? [401] : [401, 403];
  return [...new Set([...base, ...doc.errors])].sort((a, b) => a - b);
}

function curlExample(method: string, path: string, doc: RouteDoc): string {
  const lines = [`curl${method === "get" ? "" : ` -X ${method.toUpperCase()}`} "$UTTER_URL${path.replace(/\{(\w+)\}/g, (_m, n: string) => `$${n.toUpperCase()}`)}"`];
  if (doc.access === "session") lines.push(`  -b "better-auth.session_token=$UTTER_SESSION"`);
  else if (doc.access !== "public" && doc.access !== "stripe-signature") lines.push(`  -H "Authorization: Bearer $UTTER_API_KEY"`);
  if (doc.access === "stripe-signature") lines.push(`  -H "Stripe-Signature: t=…,v1=…"`, `  --data-binary @event.json`);
  if (doc.multipart) {
    for (const [name, field] of Object.entries(doc.multipart)) {
      if (!field.required) continue;
      lines.push(field.format === "binary" ? `  -F "${name}=@clip.wav"` : `  -F "${name}=${name === "consent" ? "$CONSENT_VERSION" : "…"}"`);
    }
  }
  if (doc.body) {
    lines.push(`  -H "Content-Type: application/json"`);
    lines.push(`  -d '${JSON.stringify(doc.example ?? {})}'`);
  }
  if (doc.responses.some((r) => r.media?.some((m) => m.type.startsWith("audio/") || m.type === "application/zip"))) lines.push("  -o out");
  return lines.join(" \\\n");
}

function operation(method: string, path: string, params: { name: string; pattern?: string }[], doc: RouteDoc, alsoHead: boolean) {
  const errorRef = doc.errorShape === "openai" ? "#/components/schemas/OpenAiError" : "#/components/schemas/Error";
  const parameters: Record<string, unknown>[] = params.map((p) => ({
    name: p.name,
    in: "path",
    required: true,
    description: doc.params?.[p.name]?.description ?? `The ${p.name.replace(/_/g, " ")}.`,
    schema: doc.params?.[p.name]?.schema ?? (p.pattern ? { type: "string", pattern: p.pattern } : { type: "string" }),
  }));
  if (doc.query) {
    const shape = json(doc.query, "input") as { properties?: Record<string, Record<string, unknown>>; required?: string[] };
    for (const [name, schema] of Object.entries(shape.properties ?? {})) {
      const { description, ...rest } = schema;
      parameters.push({ name, in: "query", required: shape.required?.includes(name) ?? false, ...(description ? { description } : {}), schema: rest });
    }
  }
  for (const [name, h] of Object.entries(doc.headers ?? {})) {
    parameters.push({ name, in: "header", required: h.required ?? false, description: h.description, schema: { type: "string" } });
  }

  let requestBody: Record<string, unknown> | undefined;
  if (doc.body) requestBody = { required: true, content: { "application/json": { schema: json(doc.body, "input"), ...(doc.example ? { example: doc.example } : {}) } } };
  if (doc.multipart) {
    requestBody = {
      required: true,
      content: {
        "multipart/form-data": {
          schema: {
            type: "object",
            required: Object.entries(doc.multipart).filter(([, f]) => f.required).map(([k]) => k),
            properties: Object.fromEntries(Object.entries(doc.multipart).map(([k, f]) => [k, { type: f.type, ...(f.format ? { format: f.format } : {}), description: f.description }])),
          },
        },
      },
    };
  }
  if (doc.rawBody) requestBody = { required: true, description: doc.rawBody.description, content: { [doc.rawBody.type]: { schema: { type: "string" } } } };

  const responses: Record<string, unknown> = {};
  for (const r of doc.responses) {
    const content: Record<string, unknown> = {};
    if (r.json) content["application/json"] = { schema: json(r.json, "output") };
    for (const m of r.media ?? []) content[m.type] = { schema: { type: "string", format: "binary", ...(m.description ? { description: m.description } : {}) } };
    responses[String(r.status)] = { description: r.description, ...(Object.keys(content).length ? { content } : {}) };
  }
  for (const status of errorStatuses(doc)) {
    if (String(status) in responses) continue;
    responses[String(status)] = { description: STATUS_TEXT[status] ?? "Error.", content: { "application/json": { schema: { $ref: errorRef } } } };
  }

  const description = [doc.description, accessText(doc.access, doc.keyOnly === true), alsoHead ? "`HEAD` answers the same headers without the body." : undefined]
    .filter(Boolean)
    .join("\n\n");
  return {
    operationId: doc.operationId,
    summary: doc.summary,
    description,
    tags: [doc.tag],
    security: security(doc.access, doc.keyOnly === true),
    ...(parameters.length ? { parameters } : {}),
    ...(requestBody ? { requestBody } : {}),
    responses,
    "x-codeSamples": [{ lang: "curl", label: "curl", source: curlExample(method, path, doc) }],
  };
}

export interface RouteCoverage {
  documented: { method: string; path: string; doc: RouteDoc }[];
  leftOut: { method: string; path: string; why: string }[];
  /** Routes with neither a description nor a reason to leave them out: must be empty. */
  missing: { method: string; path: string }[];
}

/** Every route of the app (middleware registered with `use` aside), and what describes it. */
export function routeCoverage(routes: readonly RouteEntry[]): RouteCoverage {
  const byRoute = new Map<string, { method: string; path: string; handlers: unknown[] }>();
  for (const r of routes) {
    if (r.method === "ALL") continue; // `use` middleware
    const key = `${r.method} ${r.path}`;
    const entry = byRoute.get(key) ?? { method: r.method, path: r.path, handlers: [] };
    entry.handlers.push(r.handler);
    byRoute.set(key, entry);
  }
  const out: RouteCoverage = { documented: [], leftOut: [], missing: [] };
  for (const { method, path, handlers } of byRoute.values()) {
    const doc = handlers.map(routeDocOf).find((d) => d !== undefined);
    if (!doc) out.missing.push({ method, path });
    else if (isLeftOut(doc)) out.leftOut.push({ method, path, why: doc.undocumented });
    else out.documented.push({ method, path, doc });
  }
  return out;
}

export function buildOpenApi(routes: readonly RouteEntry[], opts: { version: string }) {
  const { documented } = routeCoverage(routes);
  const paths: Record<string, Record<string, unknown>> = {};
  for (const { method, path, doc } of documented) {
    if (method === "HEAD" && documented.some((d) => d.method === "GET" && d.path === path && d.doc === doc)) continue;
    const { path: oaPath, params } = openApiPath(path);
    const lower = method.toLowerCase();
    const alsoHead = method === "GET" && documented.some((d) => d.method === "HEAD" && d.path === path && d.doc === doc);
    (paths[oaPath] ??= {})[lower] = operation(lower, oaPath, params, doc, alsoHead);
  }
  const used = new Set(documented.map((d) => d.doc.tag));
  return {
    openapi: "3.1.0",
    info: {
      title: "Utter API",
      version: opts.version,
      description:
        "Voice cloning and text-to-speech. Authenticate with the session cookie or `Authorization: Bearer utr_…` (an API key from " +
        "Account → API keys). Errors answer `{\"error\": {\"code\", \"message\", \"details\"?}}` (OpenAI's shape under `/v1`).",
      license: { name: "Proprietary", identifier: "LicenseRef-Utter-Proprietary" },
    },
    // Relative: the API is where this document is served from (OpenAPI 3.1 resolves it against the document's URL).
    servers: [{ url: "/", description: "This deployment" }],
    security: [{ bearer: [] }, { cookie: [] }],
    tags: (Object.keys(TAGS) as Tag[]).filter((t) => used.has(t)).map((name) => ({ name, description: TAGS[name] })),
    components: {
      securitySchemes: {
        bearer: { type: "http", scheme: "bearer", description: "An API key (`utr_…`) from Account → API keys." },
        cookie: { type: "apiKey", in: "cookie", name: "better-auth.session_token", description: "The browser session." },
      },
      schemas: { Error: json(ApiErrorBody, "output"), OpenAiError: json(OpenAiErrorBody, "output") },
    },
    paths,
  };
}
