import { describe, expect, it } from "vitest";
import { ApiErrorBody } from "../../worker/lib/errors";
import { installFakeEngine } from "../support/fake-engine";
import { createVoice, expectLedgerInvariant } from "../support/factories";
import { call, signUp } from "../support/http";

describe("search input is bounded to what the query can take", () => {
  it("a 200-character search answers 200 on voices and history (D1 refuses LIKE patterns over 50 bytes)", async () => {
    const user = await signUp("longsearch");
    await createVoice(user.id, { name: "Narrator" });
    const long = "narrator ".repeat(23).slice(0, 200);
    expect(long).toHaveLength(200);
    for (const path of ["/api/voices", "/api/generations"]) {
      const res = await call(`${path}?search=${encodeURIComponent(long)}`, { cookie: user.cookie });
      expect(res.status, path).toBe(200);
    }
    // Multi-byte text: 200 characters, 600 bytes.
    const res = await call(`/api/voices?search=${encodeURIComponent("語".repeat(200))}`, { cookie: user.cookie });
    expect(res.status).toBe(200);
    // A long search still matches what it should.
    const hit = (await (await call(`/api/voices?search=${encodeURIComponent("NARRATOR")}`, { cookie: user.cookie })).json()) as { voices: unknown[] };
    expect(hit.voices).toHaveLength(1);
  });

  it("a 201-character search is a 400 naming the field", async () => {
    const user = await signUp("toolongsearch");
    for (const path of ["/api/voices", "/api/generations"]) {
      const res = await call(`${path}?search=${"a".repeat(201)}`, { cookie: user.cookie });
      expect(res.status, path).toBe(400);
      expect(ApiErrorBody.parse(await res.json()).error.message).toContain("search");
    }
  });
});

describe("text must be speakable", () => {
  it.each(["\u200b\u200b\u200b", "\u200e\u200f\u200e", "\u202e\u2066\u2069\ufeff", " \u200d "])("generation text %j is a 400 and charges nothing", async (text) => {
    const engine = installFakeEngine();
    const user = await signUp("zerowidth");
    const voice = await createVoice(user.id);
    const before = await expectLedgerInvariant(user.id);
    const res = await call("/api/generations", { method: "POST", cookie: user.cookie, json: { voice_id: voice.id, text, language: "en" } });
    expect(res.status).toBe(400);
    const body = ApiErrorBody.parse(await res.json());
    expect(body.error.message).toContain("letters or digits");
    expect(await expectLedgerInvariant(user.id)).toBe(before);
    expect(engine.jobs).toHaveLength(0);
    const list = (await (await call("/api/generations", { cookie: user.cookie })).json()) as { generations: unknown[] };
    expect(list.generations).toHaveLength(0);
  });

  it("a design preview of direction marks only is a 400", async () => {
    installFakeEngine();
    const user = await signUp("zerowidthdesign");
    const res = await call("/api/voices/design/preview", { method: "POST", cookie: user.cookie, json: { description: "A calm voice", text: "\u200e\u200f", language: "en" } });
    expect(res.status).toBe(400);
  });
});

describe("credits in the engine's budget units", () => {
  it("300 Chinese characters reserve 9 credits, as 900 Latin letters would", async () => {
    installFakeEngine();
    const user = await signUp("cjkcost");
    const voice = await createVoice(user.id);
    const res = await call("/api/generations", { method: "POST", cookie: user.cookie, json: { voice_id: voice.id, text: "我".repeat(300), language: "zh" } });
    expect(res.status).toBe(202);
    expect(((await res.json()) as { cost: number }).cost).toBe(9);
  });

  it("the pricing page says how dense scripts are counted", async () => {
    const html = await (await call("/pricing")).text();
    expect(html).toContain("Chinese, Japanese or Korean character");
    expect(html).toMatch(/counts as <!-- -->3<!-- --> characters|counts as 3 characters/);
  });
});
