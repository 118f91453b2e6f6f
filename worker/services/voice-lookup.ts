import { and, eq, sql } from "drizzle-orm";
import type { RequestContext } from "../context";
import { voices } from "../db/schema";
import { AppError } from "../lib/errors";
import { getOwnedVoice } from "./voices";

/**
 * A voice named the way programs name one: by its id, or by its name
 * (case-insensitive, exact). Clients written for other services (OpenAI's
 * `voice`, an agent's tool call) pass whichever they have. Only the caller's
 * own voices are found; a name shared by several voices picks the newest.
 */
export async function findVoiceByIdOrName(ctx: Pick<RequestContext, "db">, userId: string, ref: string) {
  const wanted = ref.trim();
  const byId = await getOwnedVoice(ctx, userId, wanted).catch(() => null);
  if (byId) return byId;
  const byName = await ctx.db
    .select()
    .from(voices)
    .where(and(eq(voices.userId, userId), sql`lower(${voices.name}) = lower(${wanted})`))
    .orderBy(sql`${voices.createdAt} DESC`)
    .get();
  if (!byName) throw new AppError("voice_not_found", 404, `No voice "${wanted}" in your library. List your voices to see their ids and names.`, { voice: wanted });
  return byName;
}
