import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { installFakeEngine } from "../support/fake-engine";
import { createVoice, expectLedgerInvariant, grantCredits } from "../support/factories";
import { call, ORIGIN, signUp } from "../support/http";

async function userWithKey(tag: string) {
  const user = await signUp(tag);
  const made = await call("/api/keys", { method: "POST", cookie: user.cookie, json: { name: "agent" } });
  const { key } = (await made.json()) as { key: { key: string } };
  return { user, key: key.key };
}

/** The official MCP client, talking Streamable HTTP to the Worker's own fetch handler. */
async function mcpClient(key: string) {
  const client = new Client({ name: "utter-test-agent", version: "1.0.0" });
  const transport = new StreamableHTTPClientTransport(new URL("/mcp", ORIGIN), {
    fetch: (url, init) => exports.default.fetch(new Request(url, init)),
    requestInit: { headers: { authorization: `Bearer ${key}` } },
  });
  await client.connect(transport);
  return client;
}

function textOf(result: unknown): Record<string, unknown> {
  const content = (result as CallToolResult).content;
  const first = content[0];
  if (!first || first.type !== "text") throw new Error("expected a text result");
  return JSON.parse(first.text) as Record<string, unknown>;
}

describe("MCP server at /mcp", () => {
  it("lists its tools, speaks in a voice named by the agent, and hands back the audio once it is made", async () => {
    const engine = installFakeEngine();
    const { user, key } = await userWithKey("mcp-agent");
    await grantCredits(user.id, 20);
    const voice = await createVoice(user.id, { name: "Night Narrator" });
    const client = await mcpClient(key);

    const tools = (await client.listTools()).tools.map((t) => t.name).sort();
    expect(tools).toEqual(["get_generation", "list_voices", "speak"]);

    const listed = textOf(await client.callTool({ name: "list_voices", arguments: {} })) as { voices: { id: string; name: string }[] };
    expect(listed.voices).toEqual([expect.objectContaining({ id: voice.id, name: "Night Narrator" })]);

    const spoken = textOf(await client.callTool({ name: "speak", arguments: { text: "Good evening, and welcome.", voice: "night narrator" } }));
    expect(spoken).toMatchObject({ status: "queued", voice: { id: voice.id } });
    const generationId = spoken.generation_id as string;

    const pending = textOf(await client.callTool({ name: "get_generation", arguments: { generation_id: generationId } }));
    expect(["queued", "dispatched", "running"]).toContain(pending.status);
    expect(pending.audio_url).toBeNull();

    const job = await engine.waitForJob(spoken.task_id as string);
    await job.succeed(2, 300);

    const done = (await client.callTool({ name: "get_generation", arguments: { generation_id: generationId } })) as CallToolResult;
    expect(textOf(done)).toMatchObject({ status: "succeeded", audio_url: `${ORIGIN}/api/generations/${generationId}/audio` });
    const audio = done.content.find((c) => c.type === "audio");
    if (!audio || audio.type !== "audio") throw new Error("no audio content");
    expect(audio.mimeType).toBe("audio/wav");
    const bytes = Uint8Array.from(atob(audio.data), (ch) => ch.charCodeAt(0));
    const served = new Uint8Array(await (await call(`/api/generations/${generationId}/audio`, { origin: null, headers: { authorization: `Bearer ${key}` } })).arrayBuffer());
    expect(bytes).toEqual(served);
    expect(new TextDecoder().decode(bytes.subarray(0, 4))).toBe("RIFF");

    await client.close();
    await expectLedgerInvariant(user.id);
    const ledger = await env.DB.prepare(`SELECT kind, delta FROM credit_ledger WHERE task_id = ?1 ORDER BY id`).bind(spoken.task_id).all<{ kind: string; delta: number }>();
    expect(ledger.results).toEqual([
      { kind: "reserve", delta: -1 },
      { kind: "capture", delta: 0 },
    ]);
  });

  it("answers an unknown voice, another user's voice and another user's generation as tool errors the agent can read", async () => {
    installFakeEngine();
    const { user, key } = await userWithKey("mcp-errors");
    const other = await userWithKey("mcp-other");
    await createVoice(user.id, { name: "Mine" });
    const theirs = await createVoice(other.user.id, { name: "Theirs" });
    const client = await mcpClient(key);

    const unknown = (await client.callTool({ name: "speak", arguments: { text: "Hi.", voice: "Nobody" } })) as CallToolResult;
    expect(unknown.isError).toBe(true);
    expect(textOf(unknown)).toMatchObject({ error: { code: "voice_not_found", details: { voice: "Nobody" } } });

    // another user's voice is not found by id or by name
    for (const ref of [theirs.id, "Theirs"]) {
      const res = (await client.callTool({ name: "speak", arguments: { text: "Hi.", voice: ref } })) as CallToolResult;
      expect(textOf(res)).toMatchObject({ error: { code: "voice_not_found" } });
    }

    const foreign = (await client.callTool({ name: "get_generation", arguments: { generation_id: "gen_someone_else" } })) as CallToolResult;
    expect(foreign.isError).toBe(true);
    expect(textOf(foreign)).toMatchObject({ error: { code: "not_found" } });
    await client.close();
  });

  it("holds each tool to the key's scopes", async () => {
    installFakeEngine();
    const user = await signUp("mcp-scopes");
    await createVoice(user.id, { name: "Scoped" });
    const made = await call("/api/keys", { method: "POST", cookie: user.cookie, json: { name: "read only", scopes: ["voices:read"] } });
    expect(made.status).toBe(201);
    const client = await mcpClient(((await made.json()) as { key: { key: string } }).key.key);
    expect((textOf(await client.callTool({ name: "list_voices", arguments: {} })) as { voices: unknown[] }).voices).toHaveLength(1);
    const refused = (await client.callTool({ name: "speak", arguments: { text: "Hi.", voice: "Scoped" } })) as CallToolResult;
    expect(refused.isError).toBe(true);
    expect(textOf(refused)).toMatchObject({ error: { code: "insufficient_scope" } });
    const tasks = await env.DB.prepare(`SELECT count(*) AS n FROM tasks WHERE user_id = ?1`).bind(user.id).first<{ n: number }>();
    expect(tasks?.n).toBe(0);
    await client.close();
  });

  it("refuses callers without an API key, cookies included", async () => {
    const { user } = await userWithKey("mcp-cookie");
    const init = { jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "x", version: "1" } } };
    const headers = { accept: "application/json, text/event-stream", "content-type": "application/json" };
    const callers: Record<string, string>[] = [{}, { cookie: user.cookie, origin: ORIGIN }, { authorization: "Bearer utr_" + "0".repeat(40) }];
    for (const extra of callers) {
      const res = await exports.default.fetch(new Request(`${ORIGIN}/mcp`, { method: "POST", headers: { ...headers, ...extra }, body: JSON.stringify(init) }));
      expect(res.status).toBe(401);
    }
  });
});
