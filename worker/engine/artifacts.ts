/**
 * The artifact registry (ADR 0009): every durable output of a task is an
 * artifact of one of these kinds. A new kind (`alignment`, `peaks`) is one
 * entry here plus engine code; the upload routes, the settle, the listener
 * snapshot and the serving route read everything from this table.
 *
 * Mirrored in Python by `modal/utter_engine/artifacts.py`; both must equal
 * `test/fixtures/engine-protocol/v2/artifact-kinds.json`, field for field.
 * Free of Worker-only imports (the development engine imports it).
 */
import * as z from "zod";
import { Alignment } from "./alignment.ts";
import { Peaks } from "./peaks.ts";

export const MiB = 1024 * 1024;

export const ArtifactKindSpec = z.object({
  content_types: z.array(z.string().min(1)).min(1),
  indexed: z.boolean(),
  /** Highest index an indexed kind accepts. */
  max_index: z.number().int().min(0).optional(),
  /** The whole artifact's limit (a multipart upload included). */
  max_bytes: z.number().int().positive(),
  job_kinds: z.array(z.enum(["generate", "design_preview"])).min(1),
  /** May be uploaded once after `completed` (and after the task succeeded). */
  after_completed: z.boolean(),
  /** Served to the task's owner and listed to the player. */
  public: z.boolean(),
  /** JSON kinds: the schema (ARTIFACT_CONTENT) every upload is parsed with before a byte is stored. */
  content_schema: z.enum(["alignment", "peaks"]).optional(),
});
export type ArtifactKindSpec = z.infer<typeof ArtifactKindSpec>;

/** The content schemas JSON kinds name (`content_schema`); defined once, in their own modules. */
export const ARTIFACT_CONTENT = { alignment: Alignment, peaks: Peaks } as const satisfies Record<NonNullable<ArtifactKindSpec["content_schema"]>, z.ZodType>;

export const ARTIFACT_REGISTRY = {
  /** Multipart uploads: every part but the last is exactly this long. */
  part_size: 8 * MiB,
  /** The largest single-body PUT; bigger artifacts go in parts. */
  max_single_bytes: 8 * MiB,
  kinds: {
    segment: {
      content_types: ["audio/wav"],
      indexed: true,
      max_index: 9999,
      max_bytes: 50 * MiB,
      job_kinds: ["generate", "design_preview"],
      after_completed: false,
      public: true,
    },
    final: {
      content_types: ["audio/wav"],
      indexed: false,
      max_bytes: 1024 * MiB,
      job_kinds: ["generate", "design_preview"],
      after_completed: false,
      public: true,
    },
    final_mp3: {
      content_types: ["audio/mpeg"],
      indexed: false,
      max_bytes: 256 * MiB,
      job_kinds: ["generate"],
      after_completed: true,
      public: true,
    },
    /**
     * Word timings in the final file (ADR 0021). May follow `completed`: the Modal engine runs its
     * recogniser over the finished audio, and the audio must not wait for subtitles.
     */
    alignment: {
      content_types: ["application/json"],
      indexed: false,
      max_bytes: 8 * MiB,
      job_kinds: ["generate"],
      after_completed: true,
      public: true,
      content_schema: "alignment",
    },
    /** The final audio's waveform (`Peaks`, worker/engine/peaks.ts), so a player never decodes an hour of audio (ADR 0023). */
    peaks: {
      content_types: ["application/json"],
      indexed: false,
      max_bytes: 256 * 1024,
      job_kinds: ["generate"],
      after_completed: false,
      public: true,
      content_schema: "peaks",
    },
  },
} as const satisfies { part_size: number; max_single_bytes: number; kinds: Record<string, ArtifactKindSpec> };

/** The kinds are the registry's keys: a new kind is one entry above, nothing else. */
export type ArtifactKind = keyof typeof ARTIFACT_REGISTRY.kinds;
export const ARTIFACT_KIND_NAMES = Object.keys(ARTIFACT_REGISTRY.kinds) as [ArtifactKind, ...ArtifactKind[]];
export const ArtifactKind = z.enum(ARTIFACT_KIND_NAMES);

export function artifactSpec(kind: ArtifactKind): ArtifactKindSpec {
  return ARTIFACT_REGISTRY.kinds[kind] as ArtifactKindSpec;
}

export function isArtifactKind(kind: string): kind is ArtifactKind {
  return (ARTIFACT_KIND_NAMES as readonly string[]).includes(kind);
}

/** v1 upload paths, kept as aliases (ADR 0009). */
export const V1_UPLOAD_ALIASES: Record<string, { kind: ArtifactKind; indexed: boolean }> = {
  segments: { kind: "segment", indexed: true },
  final: { kind: "final", indexed: false },
  "final.mp3": { kind: "final_mp3", indexed: false },
};

/** `segment/3`, `final`: the key an artifact has in maps and storage. */
export function artifactId(kind: ArtifactKind, index: number | null): string {
  return index === null ? kind : `${kind}/${index}`;
}

export type ArtifactAddressProblem =
  | { field: "kind"; message: string }
  | { field: "index"; message: string }
  | { field: "job_kind"; message: string };

/** Checks a (kind, index) against the registry for a job kind; null when it is fine. */
export function checkArtifactAddress(kind: string, index: number | null, jobKind: "generate" | "design_preview"): ArtifactAddressProblem | null {
  if (!isArtifactKind(kind)) return { field: "kind", message: `Unknown artifact kind "${kind.slice(0, 40)}"; known: ${ARTIFACT_KIND_NAMES.join(", ")}.` };
  const spec = artifactSpec(kind);
  if (spec.indexed && index === null) return { field: "index", message: `Artifacts of kind ${kind} need an index.` };
  if (!spec.indexed && index !== null) return { field: "index", message: `Artifacts of kind ${kind} have no index.` };
  if (index !== null && (index < 0 || index > (spec.max_index ?? 0))) return { field: "index", message: `Index ${index} is outside 0–${spec.max_index} for ${kind}.` };
  if (!(spec.job_kinds as readonly string[]).includes(jobKind)) return { field: "job_kind", message: `${jobKind} jobs do not produce ${kind} artifacts.` };
  return null;
}

/** The media type without parameters (`audio/wav; codecs=1` → `audio/wav`). */
export function baseContentType(header: string | null | undefined): string {
  return (header ?? "").split(";")[0]!.trim().toLowerCase();
}
