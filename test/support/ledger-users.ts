import { afterEach } from "vitest";
import { expectLedgerInvariant } from "./factories";
import { signUp, type TestUser } from "./http";

/**
 * A `newUser` for credit tests: every user it signs up has the ledger
 * invariant (cached balance == ledger sum, settled once) checked after each test.
 */
export function ledgerCheckedUsers(): (tag: string) => Promise<TestUser> {
  const users: TestUser[] = [];
  afterEach(async () => {
    for (const u of users.splice(0)) await expectLedgerInvariant(u.id);
  });
  return async (tag) => {
    const u = await signUp(tag);
    users.push(u);
    return u;
  };
}
