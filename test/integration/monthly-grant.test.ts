import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import worker from "../../worker/index";
import { probeEnv } from "../support/binding-probe";
import { ORIGIN } from "../support/http";
import { ledgerCheckedUsers } from "../support/ledger-users";

const newUser = ledgerCheckedUsers();
const WRITE = /^\s*(insert|update|delete)\b/i;

async function get(e: Env, path: string, cookie: string) {
  const ctx = createExecutionContext();
  const res = await worker.fetch(
    new Request(`${ORIGIN}${path}`, { headers: { cookie } }) as Request<unknown, IncomingRequestCfProperties>,
    e,
    ctx,
  );
  const body = await res.json();
  await waitOnExecutionContext(ctx);
  return { status: res.status, body };
}

describe("the monthly grant, decided without a write per request", () => {
  it("the month's first credit read grants; every later read (me, ledger, pages) writes nothing", async () => {
    const user = await newUser("grant-once");
    const probe = probeEnv(env);
    const first = await get(probe.env, "/api/me", user.cookie);
    expect((first.body as { credits: { balance: number } }).credits.balance).toBe(100);
    expect(probe.statements().filter((s) => WRITE.test(s.sql))).toHaveLength(1);
    for (const path of ["/api/me", "/api/credits/ledger", "/api/me"]) {
      probe.reset();
      const r = await get(probe.env, path, user.cookie);
      expect(r.status).toBe(200);
      expect(
        probe.statements().filter((s) => WRITE.test(s.sql)),
        path,
      ).toEqual([]);
    }
    const ledger = (await get(env, "/api/credits/ledger", user.cookie)).body as { balance: number; entries: { kind: string }[] };
    expect(ledger.balance).toBe(100);
    expect(ledger.entries.filter((e) => e.kind === "grant")).toHaveLength(1);
  });
});
