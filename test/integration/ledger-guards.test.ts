import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { grantCredits } from "../support/factories";
import { ledgerCheckedUsers } from "../support/ledger-users";

const newUser = ledgerCheckedUsers();

async function balanceRow(userId: string) {
  return env.DB.prepare(`SELECT balance, ledger_id FROM credit_balances WHERE user_id = ?1`)
    .bind(userId)
    .first<{ balance: number; ledger_id: number }>();
}

describe("the cached balance is protected like the ledger", () => {
  it("refuses a direct UPDATE of credit_balances, however it is phrased", async () => {
    const user = await newUser("guard-update");
    await grantCredits(user.id, 50);
    const before = await balanceRow(user.id);
    expect(before?.balance).toBe(50);
    const attempts = [
      `UPDATE credit_balances SET balance = 1000000 WHERE user_id = ?1`,
      // Even naming the newest ledger entry again does not let a second write through.
      `UPDATE credit_balances SET balance = balance + 50, ledger_id = ledger_id WHERE user_id = ?1`,
      `UPDATE credit_balances SET balance = balance + 1, ledger_id = ledger_id + 1 WHERE user_id = ?1`,
      `UPDATE credit_balances SET user_id = 'someone-else' WHERE user_id = ?1`,
    ];
    for (const sql of attempts) {
      await expect(env.DB.prepare(sql).bind(user.id).run(), sql).rejects.toThrow(/credit_balances is derived from credit_ledger/);
    }
    await expect(env.DB.prepare(`DELETE FROM credit_balances WHERE user_id = ?1`).bind(user.id).run()).rejects.toThrow(
      /derived from credit_ledger/,
    );
    expect(await balanceRow(user.id)).toEqual(before);
  });

  it("refuses a balance row inserted without its ledger entry", async () => {
    const user = await newUser("guard-insert");
    await expect(env.DB.prepare(`INSERT INTO credit_balances (user_id, balance) VALUES (?1, 500)`).bind(user.id).run()).rejects.toThrow(
      /derived from credit_ledger/,
    );
    // A sign-up's first entry (its grant) has not happened yet: there is no row to fake either.
    await expect(
      env.DB.prepare(`INSERT INTO credit_balances (user_id, balance, ledger_id) VALUES (?1, 500, (SELECT max(id) FROM credit_ledger))`)
        .bind(user.id)
        .run(),
    ).rejects.toThrow(/derived from credit_ledger/);
    expect(await balanceRow(user.id)).toBeNull();
  });

  it("moves only with ledger entries, which stay append-only", async () => {
    const user = await newUser("guard-ledger");
    await grantCredits(user.id, 30);
    await grantCredits(user.id, -10);
    expect((await balanceRow(user.id))?.balance).toBe(20);
    await expect(env.DB.prepare(`UPDATE credit_ledger SET delta = 1000 WHERE user_id = ?1`).bind(user.id).run()).rejects.toThrow(
      /append-only/,
    );
    // Many entries at once (one batch, one transaction) each apply exactly once.
    await env.DB.batch(
      Array.from({ length: 20 }, (_, i) =>
        env.DB.prepare(`INSERT INTO credit_ledger (user_id, delta, kind, idempotency_key) VALUES (?1, 1, 'adjustment', ?2)`).bind(
          user.id,
          `guard-${user.id}-${i}`,
        ),
      ),
    );
    expect((await balanceRow(user.id))?.balance).toBe(40);
  });
});
