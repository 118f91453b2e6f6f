/**
 * What the JSON routes answer, as zod schemas for the OpenAPI document.
 *
 * Each is pinned to the type its service returns by `same<…>()` below: when a
 * service adds, drops or retypes a field, `tsc` fails until the schema (and so
 * the document) says the same. test/integration/openapi.test.ts also parses
 * real answers with them.
 */
import * as z from "zod";
import { API_KEY_SCOPES } from "../auth/scopes";
import { LEDGER_KINDS } from "../db/schema";
import { EngineError, LANGUAGE_CODES } from "../engine/protocol";
import { PACK_IDS, PLAN_IDS } from "../services/pricing";
import { TASK_STATES } from "../tasks/lifecycle";
import { TaskSnapshot } from "../tasks/messages";
import type { getMe } from "../services/account";
import type { billingCatalog } from "../services/billing";
import type { LedgerPage } from "../services/credits";
import type { EngineLiveness } from "../services/engine-liveness";
import type { generationView, listGenerations } from "../services/generations";
import type { listTakes } from "../services/takes";
import type { createPartTake, listParts } from "../services/parts";
import type { CreatedTask, listTasks } from "../services/tasks";
import type { VoiceDetail as VoiceDetailOut, VoiceView, listVoices } from "../services/voices";
import type { createApiKey, listApiKeys } from "../services/api-keys";
import type { WebhookResult } from "../billing/webhook";

const isoTime = z.string().describe("ISO 8601 time");
const cursor = z.string().nullable().describe("Pass as `cursor` for the next page; null on the last page.");

export const Health = z.object({
  status: z.enum(["ok", "degraded"]),
  version: z.string(),
  engine: z.string(),
  checks: z.object({ d1: z.object({ ok: z.boolean(), ms: z.number() }), r2: z.object({ ok: z.boolean(), ms: z.number() }) }),
});

export const Languages = z.object({ languages: z.array(z.object({ code: z.enum(LANGUAGE_CODES), name: z.string() })) });

export const Me = z.object({
  user: z.object({ id: z.string(), email: z.string(), name: z.string(), email_verified: z.boolean(), created_at: isoTime.nullable() }),
  plan: z.object({ id: z.enum(PLAN_IDS), name: z.string(), monthly_credits: z.number(), voice_limit: z.number().nullable().describe("null: no limit"), concurrent_jobs: z.number() }),
  credits: z.object({ balance: z.number() }),
  limits: z.object({
    text_chars: z.number().describe("the longest text one generation may have on this plan"),
    reference_seconds: z.object({ min: z.number(), max: z.number() }),
    reference_bytes: z.number(),
  }),
});

export const Voice = z.object({
  id: z.string(),
  name: z.string(),
  language: z.string(),
  source: z.enum(["upload", "record", "design"]),
  transcript: z.string().nullable(),
  description: z.string().nullable(),
  duration_ms: z.number(),
  size_bytes: z.number(),
  format: z.string(),
  favorite: z.boolean(),
  usage_count: z.number(),
  audio_url: z.string(),
  created_at: isoTime,
  updated_at: isoTime,
});
export const VoiceDetail = Voice.extend({
  consent: z
    .object({ statement_version: z.string(), given_at: isoTime, audio_sha256: z.string() })
    .nullable()
    .describe("The consent recorded when the voice was cloned; null for designed voices."),
});
export const VoiceEnvelope = z.object({ voice: Voice });
export const VoiceDetailEnvelope = z.object({ voice: VoiceDetail });
export const VoiceList = z.object({ voices: z.array(Voice), next_cursor: cursor });

export const CreatedTaskBody = z.object({
  task_id: z.string(),
  generation_id: z.string().nullable(),
  take: z.number().nullable().describe("The take this task renders: 1 for a new generation, null for a design preview."),
  socket_url: z.string().describe("Open as a WebSocket for live progress and audio frames."),
  status_url: z.string(),
  cost: z.number().describe("Credits reserved; what is not used is released."),
});

export const Generation = z.object({
  id: z.string(),
  task_id: z.string(),
  voice_id: z.string().nullable(),
  voice_name: z.string(),
  voice_deleted: z.boolean(),
  text: z.string(),
  language: z.string(),
  status: z.enum(TASK_STATES),
  cost: z.number(),
  charged: z.number().nullable().describe("Credits charged: all on success, those of the delivered parts on a stop."),
  duration_ms: z.number().nullable(),
  size_bytes: z.number().nullable(),
  sample_rate: z.number().nullable(),
  audio_url: z.string().nullable(),
  formats: z.array(z.enum(["wav", "mp3"])),
  subtitles_url: z.string().nullable().describe("Where the SRT subtitles are (`.vtt` beside it for WebVTT); null when the engine measured no word timings."),
  peaks_url: z.string().nullable().describe("The final audio's waveform peaks (JSON), when the engine made them."),
  error: EngineError.nullable(),
  created_at: isoTime,
  completed_at: isoTime.nullable(),
  take: z.number().describe("The take shown: the preferred one unless `take` was asked for."),
  preferred_take: z.number(),
  takes: z.number().describe("How many takes the generation has."),
  seed: z.number().nullable().describe("The shown take's seed; null for takes made before seeds were recorded."),
});
export const Take = z.object({
  take: z.number(),
  task_id: z.string(),
  seed: z.number().nullable(),
  status: z.enum(TASK_STATES),
  preferred: z.boolean(),
  cost: z.number(),
  charged: z.number().nullable().describe("Credits kept: all on success, those of the delivered parts on a stop; null while it runs."),
  released: z.number().nullable().describe("Credits given back when it failed or was cancelled."),
  duration_ms: z.number().nullable(),
  audio_url: z.string().nullable(),
  formats: z.array(z.enum(["wav", "mp3"])),
  peaks_url: z.string().nullable().describe("The take's waveform peaks (JSON), when the engine made them."),
  error: EngineError.nullable(),
  part: z
    .object({
      index: z.number(),
      source_task_id: z.string(),
      audio_url: z.string().nullable().describe("The regenerated part's own audio, once the take succeeded."),
    })
    .nullable()
    .describe("Set on a part regeneration: the part it rendered again and the task of the take it restitched."),
  created_at: isoTime,
  completed_at: isoTime.nullable(),
});
export const Part = z.object({
  index: z.number(),
  start_ms: z.number().describe("Where the part starts in the take's final audio."),
  end_ms: z.number(),
  duration_ms: z.number(),
  text: z.string().nullable().describe("The part's text, from the take's word timings; null without them."),
  audio_url: z.string().describe("The part's own audio."),
});
export const PartList = z.object({ generation_id: z.string(), take: z.number(), task_id: z.string(), parts: z.array(Part) });
export const CreatedPartTakeBody = CreatedTaskBody.extend({
  part: z.object({ index: z.number(), source_take: z.number() }),
});
export const TakeList = z.object({ generation_id: z.string(), preferred_take: z.number(), takes: z.array(Take) });
export const GenerationEnvelope = z.object({ generation: Generation });
export const GenerationList = z.object({ generations: z.array(Generation), next_cursor: cursor });

export const Task = z.object({
  id: z.string(),
  kind: z.enum(["generate", "design_preview"]),
  status: z.enum(TASK_STATES),
  generation_id: z.string().nullable(),
  voice_id: z.string().nullable(),
  cost: z.number(),
  voice_name: z.string().nullable(),
  text_preview: z.string(),
  error: EngineError.nullable(),
  created_at: isoTime,
  updated_at: isoTime,
});
export const TaskList = z.object({ tasks: z.array(Task), next_cursor: cursor });
export { TaskSnapshot };
export const EngineLivenessBody = z.object({
  task_status: z.string(),
  answering: z.boolean(),
  reason: z.enum(["ok", "not_running", "unreachable", "lost_job"]),
});

export const Ledger = z.object({
  balance: z.number(),
  entries: z.array(
    z.object({ id: z.number(), delta: z.number(), kind: z.enum(LEDGER_KINDS), task_id: z.string().nullable(), note: z.string().nullable(), created_at: isoTime }),
  ),
  next_cursor: cursor,
});

export const Catalog = z.object({
  available: z.boolean(),
  unavailable_reason: z.string().nullable(),
  plans: z.array(
    z.object({
      id: z.enum(PLAN_IDS),
      name: z.string(),
      price_usd_monthly: z.number(),
      monthly_credits: z.number(),
      voice_limit: z.number().nullable().describe("null: no limit"),
      concurrent_jobs: z.number(),
      text_chars: z.number().describe("the longest text one generation may have"),
      purchasable: z.boolean(),
    }),
  ),
  packs: z.array(z.object({ id: z.enum(PACK_IDS), name: z.string(), credits: z.number(), price_usd: z.number(), purchasable: z.boolean() })),
});
export const RedirectUrl = z.object({ url: z.string().describe("Stripe's page to send the browser to.") });
export const WebhookReceipt = z.object({
  received: z.literal(true),
  result: z.enum(["applied", "duplicate", "ignored"]),
  detail: z.string().optional(),
  event_id: z.string(),
  type: z.string(),
});

const scopes = z.array(z.enum(API_KEY_SCOPES));
export const ApiKeyList = z.object({
  keys: z.array(z.object({ id: z.string(), name: z.string(), prefix: z.string(), scopes, created_at: isoTime, last_used_at: isoTime.nullable() })),
});
export const CreatedApiKey = z.object({
  key: z.object({
    id: z.string(),
    name: z.string(),
    key: z.string().describe("The secret, shown this once."),
    prefix: z.string(),
    scopes,
    created_at: isoTime,
  }),
});

export const OpenAiModels = z.object({
  object: z.literal("list"),
  data: z.array(z.object({ id: z.string(), object: z.literal("model"), created: z.number(), owned_by: z.string(), description: z.string() })),
});
export const OpenAiVoices = z.object({
  voices: z.array(z.object({ id: z.string(), name: z.string(), language: z.string(), source: z.enum(["upload", "record", "design"]) })),
});
export const OpenAiErrorBody = z.object({
  error: z.object({ message: z.string(), type: z.string(), param: z.string().nullable(), code: z.string().nullable() }),
});

export const McpRequest = z.object({
  jsonrpc: z.literal("2.0"),
  id: z.union([z.string(), z.number()]).optional().describe("Left out for notifications."),
  method: z.string(),
  params: z.record(z.string(), z.unknown()).optional(),
});

// ---- each schema says what its service returns (compile-time) ----
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
function same<A, B>(ok: Same<A, B>): void {
  void ok;
}
type Out<S extends z.ZodType> = z.output<S>;
same<Out<typeof Me>, Awaited<ReturnType<typeof getMe>>>(true);
same<Out<typeof Voice>, VoiceView>(true);
same<Out<typeof VoiceDetail>, VoiceDetailOut>(true);
same<Out<typeof VoiceList>, Awaited<ReturnType<typeof listVoices>>>(true);
same<Out<typeof CreatedTaskBody>, CreatedTask>(true);
same<Out<typeof Generation>, ReturnType<typeof generationView>>(true);
same<Out<typeof GenerationList>, Awaited<ReturnType<typeof listGenerations>>>(true);
same<Out<typeof TakeList>, Awaited<ReturnType<typeof listTakes>>>(true);
same<Out<typeof PartList>, Awaited<ReturnType<typeof listParts>>>(true);
same<Out<typeof CreatedPartTakeBody>, Awaited<ReturnType<typeof createPartTake>>>(true);
same<Out<typeof TaskList>, Awaited<ReturnType<typeof listTasks>>>(true);
same<Out<typeof EngineLivenessBody>, EngineLiveness>(true);
same<Omit<Out<typeof Ledger>, "balance">, LedgerPage>(true);
same<Out<typeof Catalog>, ReturnType<typeof billingCatalog>>(true);
same<Omit<Out<typeof WebhookReceipt>, "received">, WebhookResult & { event_id: string; type: string }>(true);
same<Out<typeof ApiKeyList>["keys"], Awaited<ReturnType<typeof listApiKeys>>>(true);
same<Out<typeof CreatedApiKey>["key"], Awaited<ReturnType<typeof createApiKey>>>(true);
