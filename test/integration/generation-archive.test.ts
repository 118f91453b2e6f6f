import { describe, expect, it } from "vitest";
import { installFakeEngine, type FakeEngine } from "../support/fake-engine";
import { createVoice } from "../support/factories";
import { call, signUp, type TestUser } from "../support/http";
import { readZip } from "../support/zip";

async function finishedGeneration(engine: FakeEngine, user: TestUser, voiceId: string, text: string) {
  const res = await call("/api/generations", { method: "POST", cookie: user.cookie, json: { voice_id: voiceId, text } });
  const created = (await res.json()) as { task_id: string; generation_id: string };
  await (await engine.waitForJob(created.task_id)).succeed(1, 300);
  return created.generation_id;
}

describe("GET /api/generations/archive", () => {
  it("streams several finished generations as one ZIP whose files are the generations' audio", async () => {
    const engine = installFakeEngine();
    const user = await signUp("zip");
    const voice = await createVoice(user.id, { name: "Zoë Reader" });
    const a = await finishedGeneration(engine, user, voice.id, "First chapter, read slowly.");
    const b = await finishedGeneration(engine, user, voice.id, "First chapter, read slowly.");
    const res = await call(`/api/generations/archive?ids=${a},${b}`, { cookie: user.cookie });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/zip");
    expect(res.headers.get("content-disposition")).toMatch(/^attachment; filename="utter-\d{4}-\d{2}-\d{2}-2-generations\.zip"$/);
    const files = readZip(new Uint8Array(await res.arrayBuffer()));
    expect(files.map((f) => f.name)).toEqual([
      expect.stringMatching(/^\d{4}-\d{2}-\d{2}-Zoe-Reader-First-chapter-read-slowly\.wav$/),
      expect.stringMatching(/^\d{4}-\d{2}-\d{2}-Zoe-Reader-First-chapter-read-slowly-2\.wav$/),
    ]);
    // the history page's checkboxes send the ids as repeated parameters
    const repeated = await call(`/api/generations/archive?ids=${a}&ids=${b}`, { cookie: user.cookie });
    expect(readZip(new Uint8Array(await repeated.arrayBuffer())).map((f) => f.name)).toEqual(files.map((f) => f.name));
    for (const [i, id] of [a, b].entries()) {
      const served = new Uint8Array(await (await call(`/api/generations/${id}/audio`, { cookie: user.cookie })).arrayBuffer());
      expect(files[i]!.data).toEqual(served);
    }
  });

  it("the history page offers finished speech for a ZIP download, without JavaScript", async () => {
    const engine = installFakeEngine();
    const user = await signUp("zip-page");
    const id = await finishedGeneration(engine, user, (await createVoice(user.id)).id, "On the page.");
    const html = await (await call("/history", { cookie: user.cookie })).text();
    expect(html).toMatch(/<form id="history-archive" method="get" action="\/api\/generations\/archive"/);
    const box = html.match(new RegExp(`<input type="checkbox"[^>]*value="${id}"[^>]*>`))?.[0] ?? "";
    expect(box).toContain('name="ids"');
    expect(box).toContain('form="history-archive"');
  });

  it("refuses another user's, unfinished and too many ids, with nothing streamed", async () => {
    const engine = installFakeEngine();
    const user = await signUp("zip-owner");
    const other = await signUp("zip-other");
    const mine = await finishedGeneration(engine, user, (await createVoice(user.id)).id, "Mine.");
    const theirs = await finishedGeneration(engine, other, (await createVoice(other.id)).id, "Theirs.");

    const foreign = await call(`/api/generations/archive?ids=${mine},${theirs}`, { cookie: user.cookie });
    expect(foreign.status).toBe(404);
    expect(((await foreign.json()) as { error: { details: { missing: string[] } } }).error.details.missing).toEqual([theirs]);

    const pendingRes = await call("/api/generations", { method: "POST", cookie: user.cookie, json: { voice_id: (await createVoice(user.id, { name: "Two" })).id, text: "Not yet." } });
    const pending = ((await pendingRes.json()) as { generation_id: string }).generation_id;
    const unfinished = await call(`/api/generations/archive?ids=${mine},${pending}`, { cookie: user.cookie });
    expect(unfinished.status).toBe(409);

    const many = Array.from({ length: 101 }, (_, i) => `gen_${i}`).join(",");
    expect((await call(`/api/generations/archive?ids=${many}`, { cookie: user.cookie })).status).toBe(400);
    expect((await call(`/api/generations/archive?ids=${mine}&format=mp3`, { cookie: user.cookie })).status).toBe(409);
    expect((await call(`/api/generations/archive?ids=${mine}`)).status).toBe(401);
  });
});
