// Issue "the field's own clients": the official openai npm and Python clients and
// the MCP SDK's client, against the README's dev command (wrangler dev + the
// development engine), changing only the base URL and the key.
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import OpenAI from "openai";
import { startDevStack } from "./dev-stack.mjs";
import { createClient, prose, voiceLikeWav } from "./http-client.mjs";

const here = dirname(fileURLToPath(import.meta.url));
let stack;
let key;
let statusOf;
let python;
const VOICE = "Smoke narrator";

before(async () => {
  // Built before the stack starts: a venv build can take a minute on a fresh machine.
  python = execFileSync("bash", [join(here, "python-client/ensure.sh")], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] }).trim();
  // Paced parts, so a stream can be seen to start before the task ends.
  stack = await startDevStack({ env: { DEV_ENGINE_SEGMENT_DELAY_MS: "300" } });
  const client = createClient(stack.origin);
  const signup = await client.call("/api/auth/sign-up/email", { method: "POST", json: { email: `clients-${Date.now()}@example.com`, password: "smoke test password", name: "Clients" } });
  assert.equal(signup.status, 200, await signup.text());
  const form = new FormData();
  form.set("name", VOICE);
  form.set("language", "en");
  // The consent statement's version (worker/services/voice-consent.ts): cloning needs it (ADR 0016).
  form.set("consent", "voice-consent-2026-12");
  form.set("audio", new Blob([voiceLikeWav(12)], { type: "audio/wav" }), "reference.wav");
  assert.equal((await client.call("/api/voices", { method: "POST", body: form })).status, 201);
  const made = await client.call("/api/keys", { method: "POST", json: { name: "clients smoke" } });
  key = (await made.json()).key.key;
  statusOf = async (id) => {
    const get = () => fetch(`${stack.origin}/api/generations/${id}`, { headers: { authorization: `Bearer ${key}` } });
    // A keep-alive connection left idle while the Python client ran (a minute under load) may have
    // been closed by the server just as it is reused ("other side closed"): once more, on a new one.
    const res = await get().catch((err) => (err?.cause?.code === "UND_ERR_SOCKET" ? get() : Promise.reject(err)));
    return (await res.json()).generation.status;
  };
});
after(() => stack?.stop());

test("openai (npm): streamed PCM starts before the task completes, and errors arrive as the client's own", { timeout: 300_000 }, async () => {
  const openai = new OpenAI({ baseURL: `${stack.origin}/v1`, apiKey: key, maxRetries: 0 });
  const res = await openai.audio.speech.create({ model: "tts-1", voice: VOICE.toLowerCase(), input: prose(600), response_format: "pcm" });
  const generationId = res.headers.get("x-utter-generation-id");
  const reader = res.body.getReader();
  const first = await reader.read();
  assert.ok(first.value.length > 0);
  assert.notEqual(await statusOf(generationId), "succeeded", "the first audio arrived before the task completed");
  let bytes = first.value.length;
  for (let r = await reader.read(); !r.done; r = await reader.read()) bytes += r.value.length;
  assert.equal(bytes % 2, 0);
  assert.ok(bytes / 2 / 24000 > 5, `half a minute of speech expected, got ${(bytes / 48000).toFixed(1)} s`);
  assert.equal(await statusOf(generationId), "succeeded");

  const wav = await openai.audio.speech.create({ model: "gpt-4o-mini-tts", voice: VOICE, input: "A short one.", response_format: "wav" });
  assert.equal(new TextDecoder().decode(new Uint8Array(await wav.arrayBuffer()).subarray(0, 4)), "RIFF");

  await assert.rejects(openai.audio.speech.create({ model: "tts-1", voice: "alloy", input: "Hi." }), (err) => err instanceof OpenAI.NotFoundError && /alloy/.test(err.message));
  await assert.rejects(openai.audio.speech.create({ model: "tts-1", voice: VOICE, input: "Hi.", response_format: "opus" }), (err) => err instanceof OpenAI.BadRequestError && /wav/.test(err.message));
});

test("openai (Python): the same, from the official Python package", { timeout: 300_000 }, async () => {
  const out = execFileSync(python, [join(here, "python-client/speak.py"), stack.origin, key, VOICE, prose(600)], { encoding: "utf8", timeout: 240_000 });
  const result = JSON.parse(out.trim().split("\n").at(-1));
  assert.ok(result.bytes / 2 / 24000 > 5, JSON.stringify(result));
  assert.notEqual(result.status_at_first_chunk, "succeeded");
  assert.equal(await statusOf(result.generation_id), "succeeded");
  assert.equal(result.unknown_voice.class, "NotFoundError");
  assert.match(result.unknown_voice.message, /alloy/);
});

test("MCP SDK client: lists tools, speaks, and gets the audio", { timeout: 300_000 }, async () => {
  const client = new Client({ name: "smoke-agent", version: "1.0.0" });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${stack.origin}/mcp`), { requestInit: { headers: { authorization: `Bearer ${key}` } } }));
  const tools = (await client.listTools()).tools.map((t) => t.name).sort();
  assert.deepEqual(tools, ["get_generation", "list_voices", "speak"]);
  const spoken = JSON.parse((await client.callTool({ name: "speak", arguments: { text: "Hello from an agent.", voice: VOICE } })).content[0].text);
  let result;
  for (let i = 0; i < 120; i++) {
    result = await client.callTool({ name: "get_generation", arguments: { generation_id: spoken.generation_id } });
    if (JSON.parse(result.content[0].text).status === "succeeded") break;
    await new Promise((r) => setTimeout(r, 500));
  }
  const audio = result.content.find((c) => c.type === "audio");
  assert.ok(audio, "the audio comes back inline");
  assert.equal(Buffer.from(audio.data, "base64").subarray(0, 4).toString(), "RIFF");
  await client.close();
});

// The document is made from the routes (worker/api/openapi.ts); Redocly's linter, with the repo's redocly.yaml,
// must find nothing in what the running Worker serves.
test("the OpenAPI document the Worker serves passes Redocly's linter with 0 errors and 0 warnings", { timeout: 120_000 }, async () => {
  const res = await fetch(`${stack.origin}/api/openapi.json`);
  assert.equal(res.status, 200);
  const dir = mkdtempSync(join(tmpdir(), "utter-openapi-"));
  const file = join(dir, "openapi.json");
  writeFileSync(file, await res.text());
  const root = join(here, "..", "..");
  const run = spawnSync(process.execPath, [join(root, "node_modules/@redocly/cli/bin/cli.js"), "lint", file, "--config", join(root, "redocly.yaml"), "--format=json"], {
    encoding: "utf8",
    // No telemetry or update check: nothing outside this machine is reachable, and none is needed.
    env: { ...process.env, REDOCLY_TELEMETRY: "off", REDOCLY_SUPPRESS_UPDATE_NOTICE: "true" },
    timeout: 90_000,
  });
  rmSync(dir, { recursive: true, force: true });
  const report = JSON.parse(run.stdout.slice(run.stdout.indexOf("{")));
  const problems = report.problems.map((p) => `${p.severity} ${p.ruleId}: ${p.message} at ${p.location?.[0]?.pointer}`);
  assert.deepEqual(problems, []);
  assert.deepEqual({ errors: report.totals.errors, warnings: report.totals.warnings }, { errors: 0, warnings: 0 });
});
