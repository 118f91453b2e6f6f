import { Hono } from "hono";
import { HTTPException } from "hono/http-exception";
import { createRequestContext, requestIdFrom, type RequestContext } from "../context";
import { AppError } from "../lib/errors";
import { errorFields, createLogger } from "../lib/log";
import { isCrossSiteRequest, isCrossSiteUpgrade } from "../lib/origin";
import { transportHeaders } from "../lib/security-headers";
import { handleAuthRoute } from "../auth/auth-routes";
import { healthRoutes } from "./routes/health";
import { meRoutes } from "./routes/me";
import { metaRoutes } from "./routes/meta";
import { creditRoutes } from "./routes/credits";
import { engineCallbackRoutes } from "./routes/engine-callbacks";
import { generationRoutes } from "./routes/generations";
import { taskRoutes } from "./routes/tasks";
import { voiceRoutes } from "./routes/voices";
import { billingRoutes } from "./routes/billing";
import { stripeWebhookRoutes } from "./routes/stripe-webhook";
import { apiKeyRoutes } from "./routes/api-keys";
import { corsForApiKeys } from "./cors";
import { handleMcp } from "../mcp/server";
import { openAiRoutes } from "../openai/routes";
import { buildOpenApi } from "./openapi";
import { documented, undocumented, type RouteDoc } from "./route-doc";
import { McpRequest } from "./response-schemas";

const MCP_DOC: RouteDoc = {
  operationId: "mcp",
  summary: "The MCP server (Streamable HTTP, stateless)",
  description:
    "JSON-RPC 2.0: `initialize`, `tools/list`, `tools/call` (speak, list_voices, get_generation). Send `Accept: application/json, text/event-stream`. " +
    "Protocol errors are JSON-RPC errors in the answer's body. How to add it to MCP clients: docs/mcp.md.",
  tag: "MCP",
  access: "any",
  keyOnly: true,
  body: McpRequest,
  example: { jsonrpc: "2.0", id: 1, method: "tools/list", params: {} },
  responses: [
    {
      status: 200,
      description: "The JSON-RPC answer, as JSON or as one server-sent event.",
      media: [{ type: "application/json" }, { type: "text/event-stream" }],
    },
  ],
  errors: [],
};

const OPENAPI_DOC: RouteDoc = {
  operationId: "getOpenApi",
  summary: "This document",
  tag: "Meta",
  access: "public",
  responses: [{ status: 200, description: "OpenAPI 3.1, made from the routes.", media: [{ type: "application/json" }] }],
  errors: [],
};

export interface ApiEnv {
  Bindings: Env;
  Variables: { ctx: RequestContext; requestId: string };
}

export function createApi() {
  const api = new Hono<ApiEnv>();

  api.use("*", async (c, next) => {
    const requestId = requestIdFrom(c.req.raw);
    c.set("requestId", requestId);
    c.header("x-request-id", requestId);
    const ctx = createRequestContext(c.env, c.executionCtx, requestId, { method: c.req.method, cookie: c.req.header("cookie") ?? null });
    c.set("ctx", ctx);
    await next();
    c.header("x-request-id", requestId);
    for (const cookie of ctx.finish()) c.header("set-cookie", cookie, { append: true });
  });

  // Before the origin check, so a preflight (OPTIONS, never state-changing) is answered here.
  api.use("*", corsForApiKeys);

  api.use("*", async (c, next) => {
    const config = c.get("ctx").config;
    if (isCrossSiteRequest(c.req.raw, config)) {
      throw new AppError("cross_site_request", 403, "This request came from a site we do not trust.");
    }
    if (isCrossSiteUpgrade(c.req.raw, config)) {
      throw new AppError("cross_site_request", 403, "This WebSocket was opened from a site we do not trust.");
    }
    await next();
    // JSON answers are never sniffed as HTML, and what a signed-in caller gets is never cached
    // (a socket's 101 carries immutable headers and needs neither).
    if (c.res.status === 101) return;
    c.header("X-Content-Type-Options", "nosniff");
    for (const [k, v] of Object.entries(transportHeaders(config))) c.header(k, v);
    const type = c.res.headers.get("content-type") ?? "";
    if (type.includes("json") && !c.res.headers.has("cache-control")) c.header("Cache-Control", "no-store");
  });

  // better-auth answers its own routes; errors from it are already JSON.
  api.on(
    ["GET", "POST"],
    "/api/auth/*",
    undocumented("better-auth's own routes (sign-up, sign-in, password reset, sessions), described in docs/api.md"),
    (c) => handleAuthRoute(c.get("ctx"), c.req.raw),
  );

  api.route("/api", healthRoutes);
  api.route("/api", metaRoutes);
  api.route("/api", meRoutes);
  api.route("/api", generationRoutes);
  api.route("/api", voiceRoutes);
  api.route("/api", taskRoutes);
  api.route("/api", creditRoutes);
  api.route("/api", billingRoutes);
  api.route("/api", stripeWebhookRoutes);
  api.route("/api", apiKeyRoutes);
  api.route("/internal/engine", engineCallbackRoutes);
  api.route("/v1", openAiRoutes);
  // MCP over Streamable HTTP (docs/mcp.md): POST carries JSON-RPC; GET/DELETE answer 405 in stateless mode.
  api.post("/mcp", documented(MCP_DOC), (c) => handleMcp(c.req.raw, c.get("ctx")));
  api.on(["GET", "DELETE"], "/mcp", undocumented("a stateless MCP server keeps no session or event stream: these answer 405"), (c) =>
    handleMcp(c.req.raw, c.get("ctx")),
  );

  // The document describes the route table above, so it is built from it (once per isolate).
  let openApi: ReturnType<typeof buildOpenApi> | undefined;
  api.get("/api/openapi.json", documented(OPENAPI_DOC), (c) =>
    c.json((openApi ??= buildOpenApi(api.routes, { version: c.get("ctx").config.VERSION }))),
  );

  api.notFound((c) => c.json(new AppError("not_found", 404, `No API route ${c.req.method} ${c.req.path}.`).toBody(), 404));

  api.onError((err, c) => {
    const requestId = c.get("requestId") ?? "unknown";
    if (err instanceof AppError) {
      for (const [k, v] of Object.entries(err.headers)) c.header(k, v);
      if (err.status >= 500) createLogger({ request_id: requestId }).error("request.failed", { code: err.code, ...errorFields(err) });
      return c.json(err.toBody(), err.status);
    }
    if (err instanceof HTTPException) {
      const status = err.status;
      return c.json(
        new AppError(status === 413 ? "payload_too_large" : "http_error", status, err.message || "Request failed.").toBody(),
        status,
      );
    }
    createLogger({ request_id: requestId }).error("request.unhandled", errorFields(err));
    return c.json(new AppError("internal", 500, `Something went wrong on our side (request ${requestId}).`).toBody(), 500);
  });

  return api;
}
export type Api = ReturnType<typeof createApi>;
