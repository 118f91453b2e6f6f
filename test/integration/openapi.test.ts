import { describe, expect, it } from "vitest";
import type * as z from "zod";
import { createApi } from "../../worker/api/app";
import { routeCoverage } from "../../worker/api/openapi";
import type { RouteDoc } from "../../worker/api/route-doc";
import { ApiErrorBody } from "../../worker/lib/errors";
import { OpenAiErrorBody } from "../../worker/api/response-schemas";
import { createVoice } from "../support/factories";
import { createHeldTask } from "../support/held-tasks";
import { call, signUp } from "../support/http";

const coverage = routeCoverage(createApi().routes);
const docs = new Map(coverage.documented.map((d) => [d.doc.operationId, d.doc]));

type Doc = {
  openapi: string;
  servers: { url: string }[];
  paths: Record<string, Record<string, Operation>>;
};
type Operation = {
  operationId: string;
  summary: string;
  tags: string[];
  security: unknown[];
  parameters?: { name: string; in: string }[];
  requestBody?: { content: Record<string, { schema: { properties?: Record<string, unknown>; required?: string[] } }> };
  responses: Record<string, unknown>;
  "x-codeSamples": { lang: string; source: string }[];
};

async function served(): Promise<Doc> {
  const res = await call("/api/openapi.json");
  expect(res.status).toBe(200);
  return (await res.json()) as Doc;
}

describe("the OpenAPI document is made from the routes", () => {
  it("leaves no route undescribed: each is documented or left out with its reason", () => {
    expect(coverage.missing).toEqual([]);
    // What is deliberately not in the document, pinned: a new route cannot join this list unnoticed.
    const leftOut = coverage.leftOut.map((r) => `${r.method} ${r.path}`).sort();
    expect(leftOut).toEqual(
      [
        "GET /api/auth/*",
        "POST /api/auth/*",
        "GET /api/tasks/:id/ws",
        "GET /mcp",
        "DELETE /mcp",
        "GET /internal/engine/jobs/:id/stream",
        "POST /internal/engine/jobs/:id/events",
        "GET /internal/engine/jobs/:id/reference",
        "PUT /internal/engine/jobs/:id/artifacts/*",
        "POST /internal/engine/jobs/:id/artifacts/*",
        "GET /internal/engine/jobs/:id/artifacts/:kind/:index{[0-9]{1,5}}?",
        "PUT /internal/engine/jobs/:id/segments/:index{[0-9]{1,4}}",
        "PUT /internal/engine/jobs/:id/final",
        "PUT /internal/engine/jobs/:id/final.mp3",
      ].sort(),
    );
    for (const r of coverage.leftOut) expect(r.why.length, `${r.method} ${r.path}`).toBeGreaterThan(20);
  });

  it("serves every documented route, each with a unique operation id, a summary, a tag, its errors and a curl example", async () => {
    const doc = await served();
    expect(doc.openapi).toBe("3.1.0");
    expect(doc.servers[0]!.url).toBe("/");
    const ops = Object.entries(doc.paths).flatMap(([path, methods]) => Object.entries(methods).map(([method, op]) => ({ path, method, op })));
    const documentedGetOrOther = coverage.documented.filter((d) => d.method !== "HEAD");
    expect(ops.length).toBe(documentedGetOrOther.length);
    expect(new Set(ops.map((o) => o.op.operationId)).size).toBe(ops.length);
    const noClientErrors = new Set(["getHealth", "listLanguages", "listBillingPlans", "getOpenApi"]);
    for (const { path, method, op } of ops) {
      const where = `${method.toUpperCase()} ${path}`;
      expect(op.summary, where).toBeTruthy();
      expect(op.tags, where).toHaveLength(1);
      expect(Object.keys(op.responses).some((s) => /^[12]\d\d$/.test(s)), where).toBe(true);
      if (!noClientErrors.has(op.operationId)) expect(Object.keys(op.responses).some((s) => /^4\d\d$/.test(s)), where).toBe(true);
      const curl = op["x-codeSamples"].find((s) => s.lang === "curl")!.source;
      expect(curl, where).toContain(path.replace(/\{(\w+)\}/g, (_m, n: string) => `$${n.toUpperCase()}`));
      for (const name of path.matchAll(/\{(\w+)\}/g)) {
        expect(op.parameters?.some((p) => p.in === "path" && p.name === name[1]), `${where} declares {${name[1]}}`).toBe(true);
      }
    }
    // The request schemas are the validators' own.
    const gen = doc.paths["/api/generations"]!.post!.requestBody!.content["application/json"]!.schema;
    expect(Object.keys(gen.properties ?? {}).sort()).toEqual(["language", "pause_ms", "seed", "text", "voice_id"]);
    expect(gen.required).toEqual(expect.arrayContaining(["voice_id", "text"]));
    expect(doc.paths["/api/voices"]!.post!.requestBody!.content["multipart/form-data"]).toBeDefined();
    expect(doc.paths["/api/generations/{id}/audio"]!.get!.parameters!.map((p) => p.name)).toEqual(expect.arrayContaining(["id", "take", "format", "download"]));
    expect(doc.paths["/api/generations/{id}/audio"]!.get!.parameters).toHaveLength(5);
    expect(doc.paths["/api/generations/{id}/takes"]!.post!.requestBody!.content["application/json"]).toBeDefined();
    expect(doc.paths["/api/generations/{id}/preferred"]!.put).toBeDefined();
    expect(doc.paths["/v1/audio/speech"]!.post!.security).toEqual([{ bearer: [] }]);
    expect(doc.paths["/api/health"]!.get!.security).toEqual([]);
  });

  it("documents what real answers look like, and the statuses they come with", async () => {
    const user = await signUp("openapi");
    const voice = await createVoice(user.id);
    const keyRes = await call("/api/keys", { method: "POST", cookie: user.cookie, json: { name: "docs" } });
    const key = (await keyRes.clone().json()) as { key: { key: string } };
    const bearer = { authorization: `Bearer ${key.key.key}` };
    const task = await createHeldTask(user, voice.id);

    const checked: string[] = [];
    /** Parses the answer with the schema the document gives for its status; a status it does not list fails. */
    async function conforms(operationId: string, res: Response) {
      const doc: RouteDoc | undefined = docs.get(operationId);
      expect(doc, operationId).toBeDefined();
      const body: unknown = res.status === 204 ? null : await res.json();
      const ok = doc!.responses.find((r) => r.status === res.status);
      if (ok) {
        if (ok.json) (ok.json as z.ZodType).parse(body);
      } else {
        const errorStatuses = [...doc!.errors, ...(doc!.access === "public" ? [] : [401, 403])];
        expect(errorStatuses, `${operationId} answered ${res.status}: ${JSON.stringify(body)}`).toContain(res.status);
        (doc!.errorShape === "openai" ? OpenAiErrorBody : ApiErrorBody).parse(body);
      }
      checked.push(`${operationId} ${res.status}`);
    }

    await conforms("createApiKey", keyRes);
    await conforms("getHealth", await call("/api/health"));
    await conforms("listLanguages", await call("/api/languages"));
    await conforms("listBillingPlans", await call("/api/billing/plans"));
    await conforms("getMe", await call("/api/me", { cookie: user.cookie }));
    await conforms("getMe", await call("/api/me"));
    await conforms("listVoices", await call("/api/voices", { headers: bearer }));
    await conforms("getVoice", await call(`/api/voices/${voice.id}`, { headers: bearer }));
    await conforms("getVoice", await call("/api/voices/voice_nope", { headers: bearer }));
    await conforms("updateVoice", await call(`/api/voices/${voice.id}`, { method: "PATCH", headers: bearer, json: { favorite: true } }));
    await conforms("updateVoice", await call(`/api/voices/${voice.id}`, { method: "PATCH", headers: bearer, json: { colour: "red" } }));
    await conforms("listGenerations", await call("/api/generations", { headers: bearer }));
    await conforms("getGeneration", await call(`/api/generations/${task.generation_id}`, { headers: bearer }));
    await conforms("getGenerationAudio", await call(`/api/generations/${task.generation_id}/audio`, { headers: bearer }));
    await conforms("listTasks", await call("/api/tasks", { headers: bearer }));
    await conforms("getTask", await call(`/api/tasks/${task.task_id}`, { headers: bearer }));
    await conforms("getTaskEngineLiveness", await call(`/api/tasks/${task.task_id}/engine`, { headers: bearer }));
    await conforms("cancelTask", await call(`/api/tasks/${task.task_id}`, { method: "DELETE", headers: bearer }));
    await conforms("cancelTask", await call(`/api/tasks/${task.task_id}`, { method: "DELETE", headers: bearer }));
    await conforms("getCreditLedger", await call("/api/credits/ledger", { headers: bearer }));
    await conforms("listApiKeys", await call("/api/keys", { cookie: user.cookie }));
    await conforms("listApiKeys", await call("/api/keys", { headers: bearer }));
    await conforms("createGeneration", await call("/api/generations", { method: "POST", headers: bearer, json: { voice_id: voice.id, text: "" } }));
    await conforms("listTakes", await call(`/api/generations/${task.generation_id}/takes`, { headers: bearer }));
    await conforms("listTakes", await call("/api/generations/gen_nope/takes", { headers: bearer }));
    await conforms("createTake", await call(`/api/generations/${task.generation_id}/takes`, { method: "POST", headers: bearer, json: { seed: -1 } }));
    await conforms("setPreferredTake", await call(`/api/generations/${task.generation_id}/preferred`, { method: "PUT", headers: bearer, json: { take: 1 } }));
    await conforms("getGeneration", await call(`/api/generations/${task.generation_id}?take=1`, { headers: bearer }));
    await conforms("listModels", await call("/v1/models", { headers: bearer }));
    await conforms("listModels", await call("/v1/models"));
    await conforms("listSpeechVoices", await call("/v1/audio/voices", { headers: bearer }));
    await conforms("createSpeech", await call("/v1/audio/speech", { method: "POST", headers: bearer, json: { model: "tts-1", input: "Hi", voice: "nobody" } }));
    expect(checked).toHaveLength(32);
  });
});
