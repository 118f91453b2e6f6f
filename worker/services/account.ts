import { eq } from "drizzle-orm";
import type { Db } from "../db/client";
import { user as userTable } from "../db/schema";
import { balanceWithMonthlyGrant } from "./credits";
import { planOf } from "./pricing";
import { LIMITS } from "./limits";

export interface CurrentUser {
  id: string;
  email: string;
  name: string;
  plan: string;
  /**
   * Set when the user came from the signed session cache without a session-row
   * check (ADR 0017): a write must then confirm this session still exists —
   * task creation does it inside its batch.
   */
  unverifiedSession?: { token: string };
}

export async function getMe(db: Db, current: CurrentUser) {
  const [row, { balance }] = await Promise.all([
    db.select().from(userTable).where(eq(userTable.id, current.id)).get(),
    balanceWithMonthlyGrant(db, current.id),
  ]);
  const plan = planOf(row?.plan ?? current.plan);
  return {
    user: {
      id: current.id,
      email: row?.email ?? current.email,
      name: row?.name ?? current.name,
      email_verified: row?.emailVerified ?? false,
      created_at: row?.createdAt.toISOString() ?? null,
    },
    plan: {
      id: plan.id,
      name: plan.name,
      monthly_credits: plan.monthlyCredits,
      voice_limit: plan.voiceLimit,
      concurrent_jobs: plan.concurrentJobs,
    },
    credits: { balance },
    limits: {
      text_chars: plan.textChars,
      reference_seconds: { min: LIMITS.referenceDurationMs.min / 1000, max: LIMITS.referenceDurationMs.max / 1000 },
      reference_bytes: LIMITS.referenceBytes,
    },
  };
}
export type Me = Awaited<ReturnType<typeof getMe>>;

export async function updateProfile(db: Db, userId: string, patch: { name: string }): Promise<void> {
  await db.update(userTable).set({ name: patch.name, updatedAt: new Date() }).where(eq(userTable.id, userId)).run();
}
