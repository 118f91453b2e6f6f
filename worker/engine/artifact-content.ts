/**
 * Artifact kinds whose bytes are a document the Worker checks before storing
 * (ADR 0023): the upload is read (these kinds are small), parsed and
 * validated; a body that does not match is refused with 400
 * `invalid_artifact_content` and nothing is stored. Audio kinds are streamed
 * to R2 unread and are not listed here.
 */
import type * as z from "zod";
import type { ArtifactKind } from "./artifacts";
import { Peaks } from "./peaks";

export const ARTIFACT_CONTENT: Partial<Record<ArtifactKind, z.ZodType>> = {
  peaks: Peaks,
};

export type ContentCheck = { ok: true } | { ok: false; message: string; path: string };

/** Checks a JSON artifact's bytes against its kind's schema. */
export function checkArtifactContent(kind: ArtifactKind, bytes: Uint8Array): ContentCheck {
  const schema = ARTIFACT_CONTENT[kind];
  if (!schema) return { ok: true };
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    return { ok: false, message: "not UTF-8 JSON", path: "" };
  }
  const parsed = schema.safeParse(raw);
  if (parsed.success) return { ok: true };
  const issue = parsed.error.issues[0];
  return { ok: false, message: issue?.message ?? "invalid", path: issue?.path.join(".") ?? "" };
}
