import { eq } from "drizzle-orm";
import type { Db } from "../db/client";
import { signInFailures } from "../db/schema";
import { AppError } from "../lib/errors";

/**
 * Sign-in is throttled per account as well as per IP (DESIGN §7): an attacker
 * with many addresses still gets only a handful of guesses at one password.
 *
 * After FREE_FAILURES wrong passwords the account waits before the next
 * attempt is even checked, the wait doubling with each further failure up to
 * MAX_DELAY_MS. Attempts refused while waiting are not counted, failures are
 * forgotten FORGET_AFTER_MS after the last one, and a right password clears
 * them. The wait is capped, so the victim is never locked out for longer than
 * MAX_DELAY_MS after the attacker stops; and a browser that has signed in to
 * the account before (the known-device cookie, worker/auth/known-device.ts)
 * skips the account wait altogether, so the owner is not locked out while the attack goes on.
 */
export const FREE_FAILURES = 5;
export const FIRST_DELAY_MS = 2_000;
export const MAX_DELAY_MS = 15 * 60_000;
export const FORGET_AFTER_MS = 24 * 60 * 60_000;

export interface ThrottleState {
  failures: number;
  lastFailureAt: number;
  blockedUntil: number;
}

export function accountKey(email: string): string {
  return email.trim().toLowerCase();
}

/** The wait after the n-th consecutive failure: none for the first few, then doubling, capped. */
export function delayAfter(failures: number): number {
  if (failures <= FREE_FAILURES) return 0;
  const doublings = Math.min(failures - FREE_FAILURES - 1, 30);
  return Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * 2 ** doublings);
}

/** The state after one more failure at `now` (a stale state starts over). */
export function afterFailure(prev: ThrottleState | null, now: number): ThrottleState {
  const failures = prev && now - prev.lastFailureAt < FORGET_AFTER_MS ? prev.failures + 1 : 1;
  return { failures, lastFailureAt: now, blockedUntil: now + delayAfter(failures) };
}

/** Seconds until the account may try again, or 0. */
export function retryAfterSeconds(state: ThrottleState | null, now: number): number {
  if (!state || state.blockedUntil <= now) return 0;
  return Math.ceil((state.blockedUntil - now) / 1000);
}

export function accountThrottled(retryAfter: number): AppError {
  return new AppError(
    "rate_limited",
    429,
    `Too many wrong passwords for this account. Try again in ${retryAfter} seconds, or reset your password.`,
    { retry_after: retryAfter },
    { "Retry-After": String(retryAfter) },
  );
}

export function createSignInThrottle(db: Db, clock: () => number = Date.now) {
  const read = async (account: string): Promise<ThrottleState | null> =>
    (await db.select().from(signInFailures).where(eq(signInFailures.account, account)).get()) ?? null;
  return {
    /** Throws the 429 while the account must wait. */
    async check(email: string): Promise<void> {
      const wait = retryAfterSeconds(await read(accountKey(email)), clock());
      if (wait > 0) throw accountThrottled(wait);
    },
    async recordFailure(email: string): Promise<void> {
      const account = accountKey(email);
      const next = afterFailure(await read(account), clock());
      await db
        .insert(signInFailures)
        .values({ account, ...next })
        .onConflictDoUpdate({ target: signInFailures.account, set: next })
        .run();
    },
    async recordSuccess(email: string): Promise<void> {
      await db.delete(signInFailures).where(eq(signInFailures.account, accountKey(email))).run();
    },
  };
}
export type SignInThrottle = ReturnType<typeof createSignInThrottle>;
