import { and, eq } from "drizzle-orm";
import type { RequestContext } from "../context";
import { voices } from "../db/schema";
import { errors } from "../lib/errors";

/** The caller's voice, or 404 (another user's id must not reveal that it exists). */
export async function getOwnedVoice(ctx: Pick<RequestContext, "db">, userId: string, voiceId: string) {
  const row = await ctx.db.select().from(voices).where(and(eq(voices.id, voiceId), eq(voices.userId, userId))).get();
  if (!row) throw errors.notFound("voice");
  return row;
}
