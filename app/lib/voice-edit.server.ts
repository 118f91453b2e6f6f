import { parseOrThrow } from "../../worker/lib/errors";
import type { RequestContext } from "../../worker/context";
import { UpdateVoiceBody, updateVoice } from "../../worker/services/voices";

/**
 * The voice page's edit form, through the same schema and service as
 * `PATCH /api/voices/:id`. Server-only: zod compiles its schemas with `eval`,
 * which the pages' CSP forbids, so no schema may reach the browser bundle.
 */
export async function editVoiceFromForm(ctx: RequestContext, userId: string, voiceId: string, form: FormData) {
  const text = (name: string) => String(form.get(name) ?? "");
  const patch = parseOrThrow(UpdateVoiceBody, {
    name: text("name"),
    language: text("language"),
    transcript: text("transcript"),
    description: text("description"),
  });
  return updateVoice(ctx, userId, voiceId, patch);
}
