import { sql } from "drizzle-orm";
import type { RequestContext } from "../context";
import { AppError } from "../lib/errors";
import { PLANS, planOf, type Plan } from "../services/pricing";

/** The plan one step up, for "upgrade to …" in limit messages. */
function nextPlanFor(plan: Plan): Plan | null {
  if (plan.id === "free") return PLANS.pro;
  if (plan.id === "pro") return PLANS.studio;
  return null;
}

export function voiceLimitMessage(plan: Plan): string {
  const next = nextPlanFor(plan);
  const upgrade = next ? ` or upgrade to ${next.name} for ${next.voiceLimit === null ? "unlimited voices" : next.voiceLimit}` : "";
  return `Your ${plan.name} plan holds ${plan.voiceLimit} voices. Delete one${upgrade}.`;
}

/**
 * Plan limit on saved voices (DESIGN §6), checked before anything is stored.
 * Reads the plan from the database rather than the session, so a plan that a
 * Stripe webhook just changed applies at once. Throws 403
 * `voice_limit_reached` with `{plan, limit, count}` in details.
 *
 * This is a check, not a lock: two uploads racing at limit − 1 can both
 * pass. The caller that needs a hard cap guards its INSERT the same way
 * (`… WHERE (SELECT count(*) FROM voices WHERE user_id = ?) < limit`).
 */
export async function assertCanCreateVoice(ctx: Pick<RequestContext, "db">, user: { id: string; plan?: string | null }): Promise<void> {
  const row = await ctx.db.get<{ plan: string | null; count: number }>(
    sql`SELECT (SELECT plan FROM user WHERE id = ${user.id}) AS plan, (SELECT count(*) FROM voices WHERE user_id = ${user.id}) AS count`,
  );
  const plan = planOf(row?.plan ?? user.plan);
  if (plan.voiceLimit === null) return;
  const count = Number(row?.count ?? 0);
  if (count >= plan.voiceLimit) {
    throw new AppError("voice_limit_reached", 403, voiceLimitMessage(plan), { plan: plan.id, limit: plan.voiceLimit, count });
  }
}
