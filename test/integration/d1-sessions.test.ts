import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import worker from "../../worker/index";
import { D1_BOOKMARK_COOKIE } from "../../worker/db/d1-session";
import { probeEnv } from "../support/binding-probe";
import { installFakeEngine } from "../support/fake-engine";
import { createVoice } from "../support/factories";
import { ORIGIN } from "../support/http";
import { ledgerCheckedUsers } from "../support/ledger-users";

const newUser = ledgerCheckedUsers();

async function send(e: Env, path: string, init: RequestInit & { cookie: string; json?: unknown }) {
  const headers = new Headers(init.headers);
  headers.set("cookie", init.cookie);
  headers.set("origin", ORIGIN);
  if (init.json !== undefined) headers.set("content-type", "application/json");
  const ctx = createExecutionContext();
  const res = await worker.fetch(
    new Request(new URL(path, ORIGIN), {
      ...init,
      headers,
      body: init.json !== undefined ? JSON.stringify(init.json) : init.body,
    }) as Request<unknown, IncomingRequestCfProperties>,
    e,
    ctx,
  );
  await res.text();
  await waitOnExecutionContext(ctx);
  return res;
}

describe("D1 read replication (Sessions API)", () => {
  it("writes start on the primary and hand back a bookmark; the person's next read starts from it", async () => {
    installFakeEngine();
    const user = await newUser("bookmark");
    const voice = await createVoice(user.id);
    const probe = probeEnv(env, { holdQueue: true });
    const write = await send(probe.env, "/api/generations", {
      method: "POST",
      cookie: user.cookie,
      json: { voice_id: voice.id, text: "Read your writes.", language: "en" },
    });
    expect(write.status).toBe(202);
    expect(probe.sessions).toEqual(["first-primary"]);
    const set = write.headers.getSetCookie().find((c) => c.startsWith(`${D1_BOOKMARK_COOKIE}=`));
    expect(set).toMatch(/HttpOnly/);
    const bookmark = decodeURIComponent(set!.split(";")[0]!.split("=")[1]!);
    expect(bookmark.length).toBeGreaterThan(0);

    probe.reset();
    const read = await send(probe.env, "/api/generations", {
      cookie: `${user.cookie}; ${D1_BOOKMARK_COOKIE}=${encodeURIComponent(bookmark)}`,
    });
    expect(read.status).toBe(200);
    expect(probe.sessions).toEqual([bookmark]);

    // Without a bookmark a read may start anywhere; a forged value is ignored, not passed to D1.
    probe.reset();
    await send(probe.env, "/api/generations", { cookie: `${user.cookie}; ${D1_BOOKMARK_COOKIE}=not%20a%20bookmark%3B` });
    expect(probe.sessions).toEqual(["first-unconstrained"]);
  });

  it("requests without a session cookie (engines, Stripe) get no bookmark cookie", async () => {
    const res = await worker.fetch(
      new Request(`${ORIGIN}/api/health`) as Request<unknown, IncomingRequestCfProperties>,
      env,
      createExecutionContext(),
    );
    expect(res.headers.getSetCookie().some((c) => c.startsWith(`${D1_BOOKMARK_COOKIE}=`))).toBe(false);
  });
});
