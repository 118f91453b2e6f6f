import { describe, expect, it } from "vitest";
import { afterFailure, delayAfter, FORGET_AFTER_MS, FREE_FAILURES, MAX_DELAY_MS, retryAfterSeconds, type ThrottleState } from "../../worker/auth/sign-in-throttle";

describe("per-account sign-in throttle (pure, on an injected clock)", () => {
  it("lets the first few failures through, then doubles the wait up to a cap", () => {
    for (let n = 1; n <= FREE_FAILURES; n++) expect(delayAfter(n)).toBe(0);
    expect(delayAfter(FREE_FAILURES + 1)).toBe(2_000);
    expect(delayAfter(FREE_FAILURES + 2)).toBe(4_000);
    expect(delayAfter(FREE_FAILURES + 3)).toBe(8_000);
    expect(delayAfter(1_000)).toBe(MAX_DELAY_MS);
  });

  it("a victim is never locked out longer than the cap after the attack stops", () => {
    let state: ThrottleState | null = null;
    let now = 1_000_000;
    for (let i = 0; i < 500; i++) {
      now += retryAfterSeconds(state, now) * 1000; // the attacker tries as soon as allowed
      state = afterFailure(state, now);
    }
    expect(retryAfterSeconds(state, now)).toBeLessThanOrEqual(MAX_DELAY_MS / 1000);
    expect(retryAfterSeconds(state, now + MAX_DELAY_MS)).toBe(0);
  });

  it("forgets failures a day after the last one", () => {
    let state: ThrottleState | null = null;
    for (let i = 0; i < 10; i++) state = afterFailure(state, 0);
    expect(state!.failures).toBe(10);
    expect(afterFailure(state, FORGET_AFTER_MS + 1).failures).toBe(1);
  });
});
