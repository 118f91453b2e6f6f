/**
 * The API described (DESIGN §8), generated from the same zod schemas the
 * handlers validate with, so the document cannot drift from what is enforced.
 */
import * as z from "zod";
import { ApiErrorBody } from "../lib/errors";
import { UpdateMeBody } from "./routes/me";
import { CreateGenerationBody, GenerationQuery } from "../services/generations";
import { DesignPreviewBody, SaveDesignBody, UpdateVoiceBody, VoiceQuery } from "../services/voices";
import { CreateKeyBody } from "../services/api-keys";
import { CONSENT_STATEMENT_VERSION } from "../services/voice-consent";
import { CheckoutChoice } from "../services/billing";
import { TaskSnapshot } from "../tasks/messages";

type Method = "get" | "post" | "patch" | "delete";
interface Op {
  summary: string;
  body?: z.ZodType;
  multipart?: Record<string, { type: string; format?: string; description: string; required?: boolean }>;
  query?: z.ZodObject;
  ok: number;
  response?: z.ZodType;
  auth?: boolean;
}

const json = (schema: z.ZodType) => z.toJSONSchema(schema, { io: "input", unrepresentable: "any" });

const ops: Record<string, Partial<Record<Method, Op>>> = {
  "/api/health": { get: { summary: "Liveness and binding checks", ok: 200, auth: false } },
  "/api/languages": { get: { summary: "Supported languages", ok: 200, auth: false } },
  "/api/me": {
    get: { summary: "The signed-in user, plan, credit balance and limits", ok: 200 },
    patch: { summary: "Update the profile (session only)", body: UpdateMeBody, ok: 200 },
  },
  "/api/voices": {
    get: { summary: "List own voices", query: VoiceQuery, ok: 200 },
    post: {
      summary: "Clone a voice from a reference clip (10 s – 5 min, ≤ 50 MB; WAV, MP3, M4A, OGG, WEBM, FLAC)",
      multipart: {
        audio: { type: "string", format: "binary", description: "the reference audio", required: true },
        name: { type: "string", description: "1–100 characters", required: true },
        language: { type: "string", description: "language code (see /api/languages)" },
        transcript: { type: "string", description: "what the clip says (optional, ≤ 5,000 characters)" },
        source: { type: "string", description: "upload | record" },
        consent: {
          type: "string",
          description: `the consent statement's version, "${CONSENT_STATEMENT_VERSION}": you confirm the voice is yours or its owner allowed the clone (400 consent_required without it)`,
          required: true,
        },
      },
      ok: 201,
    },
  },
  "/api/voices/{id}": {
    get: { summary: "One voice", ok: 200 },
    patch: { summary: "Rename, favourite or set the transcript", body: UpdateVoiceBody, ok: 200 },
    delete: { summary: "Delete the voice and its reference audio (history keeps its generations)", ok: 204 },
  },
  "/api/voices/{id}/audio": { get: { summary: "Reference audio (Range requests supported)", ok: 200 } },
  "/api/voices/design/preview": { post: { summary: "Design a voice from a description: a task (202)", body: DesignPreviewBody, ok: 202 } },
  "/api/voices/design": { post: { summary: "Save a finished design preview as a voice (idempotent)", body: SaveDesignBody, ok: 201 } },
  "/api/generations": {
    get: { summary: "History", query: GenerationQuery, ok: 200 },
    post: { summary: "Generate speech: a task (202) with its socket URL", body: CreateGenerationBody, ok: 202 },
  },
  "/api/generations/{id}": {
    get: { summary: "One generation", ok: 200 },
    delete: { summary: "Delete a generation and its audio", ok: 204 },
  },
  "/api/generations/{id}/audio": { get: { summary: "The generated WAV (Range requests; ?download=1)", ok: 200 } },
  "/api/tasks": { get: { summary: "Tasks (?status=active|all)", ok: 200 } },
  "/api/tasks/{id}": {
    get: { summary: "Task snapshot (the same as the socket's first message)", ok: 200, response: TaskSnapshot },
    delete: { summary: "Cancel a task; credits for delivered parts are kept, the rest released", ok: 200, response: TaskSnapshot },
  },
  "/api/tasks/{id}/engine": { get: { summary: "Whether the engine still answers for this running task (answering, reason)", ok: 200 } },
  "/api/tasks/{id}/ws": {
    get: { summary: "WebSocket of live task messages (snapshot, status, progress, segment, artifact, completed, failed, cancelled, resync) and binary audio frames (ADR 0009)", ok: 101 },
  },
  "/api/tasks/{id}/artifacts/{kind}": { get: { summary: "An unindexed artifact of the task (final, final_mp3), Range-capable", ok: 200 } },
  "/api/tasks/{id}/artifacts/{kind}/{index}": { get: { summary: "An indexed artifact of the task (segment), Range-capable", ok: 200 } },
  "/api/tasks/{id}/live": { get: { summary: "The task's audio as one streaming body while it renders (?format=wav|pcm)", ok: 200 } },
  "/api/tasks/{id}/segments/{index}": { get: { summary: "A finished segment's WAV", ok: 200 } },
  "/api/tasks/{id}/audio": { get: { summary: "A design preview's WAV", ok: 200 } },
  "/api/credits/ledger": { get: { summary: "Balance and ledger entries, newest first", ok: 200 } },
  "/api/billing/plans": { get: { summary: "Plans, credit packs and whether billing is available", ok: 200, auth: false } },
  "/api/billing/checkout": { post: { summary: "Start Stripe Checkout for a plan or a credit pack → {url} (session only)", body: CheckoutChoice, ok: 200 } },
  "/api/billing/portal": { post: { summary: "Open the Stripe customer portal → {url} (session only)", ok: 200 } },
  "/api/webhooks/stripe": { post: { summary: "Stripe webhook (signed with the endpoint secret; no other auth)", ok: 200, auth: false } },
  "/api/keys": {
    get: { summary: "API keys (session only)", ok: 200 },
    post: { summary: "Create an API key with scopes (speech, voices:read, voices:write, history; all four if omitted); the key is shown once (session only)", body: CreateKeyBody, ok: 201 },
  },
  "/api/keys/{id}": { delete: { summary: "Revoke an API key (session only)", ok: 204 } },
};

export function buildOpenApi(version: string) {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const [path, methods] of Object.entries(ops)) {
    paths[path] = {};
    for (const [method, op] of Object.entries(methods) as [Method, Op][]) {
      const params = [...path.matchAll(/\{(\w+)\}/g)].map((m) => ({ name: m[1], in: "path", required: true, schema: { type: "string" } }));
      if (op.query) {
        for (const [name, schema] of Object.entries(op.query.shape)) params.push({ name, in: "query", required: false, schema: json(schema as z.ZodType) as never });
      }
      paths[path][method] = {
        summary: op.summary,
        ...(op.auth === false ? { security: [] } : {}),
        ...(params.length ? { parameters: params } : {}),
        ...(op.body ? { requestBody: { required: true, content: { "application/json": { schema: json(op.body) } } } } : {}),
        ...(op.multipart
          ? {
              requestBody: {
                required: true,
                content: {
                  "multipart/form-data": {
                    schema: {
                      type: "object",
                      required: Object.entries(op.multipart).filter(([, f]) => f.required).map(([k]) => k),
                      properties: Object.fromEntries(Object.entries(op.multipart).map(([k, f]) => [k, { type: f.type, format: f.format, description: f.description }])),
                    },
                  },
                },
              },
            }
          : {}),
        responses: {
          [op.ok]: { description: "OK", ...(op.response ? { content: { "application/json": { schema: json(op.response) } } } : {}) },
          default: { description: "Error", content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } } },
        },
      };
    }
  }
  return {
    openapi: "3.1.0",
    info: { title: "Utter API", version, description: "Voice cloning and text-to-speech. Authenticate with the session cookie or `Authorization: Bearer utr_…`." },
    servers: [{ url: "/" }],
    security: [{ bearer: [] }, { cookie: [] }],
    components: {
      securitySchemes: {
        bearer: { type: "http", scheme: "bearer", description: "An API key from /api/keys" },
        cookie: { type: "apiKey", in: "cookie", name: "better-auth.session_token" },
      },
      schemas: { Error: json(ApiErrorBody) },
    },
    paths,
  };
}
