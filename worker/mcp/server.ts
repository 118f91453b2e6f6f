import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { WebStandardStreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js";
import { CfWorkerJsonSchemaValidator } from "@modelcontextprotocol/sdk/validation/cfworker";
import type { RequestContext } from "../context";
import { AppError } from "../lib/errors";
import { findApiKeyCaller } from "../auth/session";
import { registerUtterTools } from "./tools";

/**
 * Utter as an MCP server (Streamable HTTP, stateless: every POST carries a
 * whole JSON-RPC exchange, so any Worker isolate can answer it and nothing
 * lives between requests). Authenticated by an API key as the bearer only: a
 * browser cookie never reaches the tools, so no other site can drive them.
 */
export async function handleMcp(request: Request, ctx: RequestContext): Promise<Response> {
  const user = await findApiKeyCaller(ctx, request.headers);
  if (!user) {
    return Response.json(new AppError("unauthorized", 401, "Use an Utter API key as the bearer (Authorization: Bearer utr_…).").toBody(), {
      status: 401,
      headers: { "www-authenticate": 'Bearer realm="utter"' },
    });
  }
  const server = new McpServer(
    { name: "utter", title: "Utter voice studio", version: ctx.config.VERSION },
    {
      // ajv, the default, compiles schemas with `new Function`, which Workers refuse.
      jsonSchemaValidator: new CfWorkerJsonSchemaValidator(),
      instructions:
        "Utter speaks text in the user's own cloned or designed voices. Call list_voices to see them, speak to start a generation " +
        "(it renders in the background), then get_generation until its status is succeeded to get the audio.",
    },
  );
  registerUtterTools(server, { ctx, user });
  const transport = new WebStandardStreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
  await server.connect(transport);
  return transport.handleRequest(request);
}
