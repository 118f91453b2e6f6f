// Issue "task pipeline", done-when: with the README's dev command running (real
// wrangler dev + the development engine), a 5,000-character generation streams
// ≥ 10 progress and ≥ 10 segment events in order over the socket, every segment
// URL plays as WAV, the final WAV's duration matches its segments, and the
// credits are captured once.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { after, before, test } from "node:test";
import { createClient, prose, voiceLikeWav, wavInfo } from "./http-client.mjs";
import { startDevStack } from "./dev-stack.mjs";

let stack;
before(async () => {
  stack = await startDevStack();
});
after(() => stack?.stop());

test("a 5,000-character generation streams segments live and completes", { timeout: 600_000 }, async () => {
  const client = createClient(stack.origin);
  const email = `smoke-${Date.now()}@example.com`;
  const signup = await client.call("/api/auth/sign-up/email", { method: "POST", json: { email, password: "smoke test password", name: "Smoke" } });
  assert.equal(signup.status, 200, await signup.text());

  const form = new FormData();
  form.set("name", "Smoke voice");
  form.set("language", "en");
  // The consent statement's version (worker/services/voice-consent.ts): cloning needs it (ADR 0016).
  form.set("consent", "voice-consent-2026-12");
  form.set("audio", new Blob([voiceLikeWav(12)], { type: "audio/wav" }), "reference.wav");
  const voiceRes = await client.call("/api/voices", { method: "POST", body: form });
  assert.equal(voiceRes.status, 201, await voiceRes.clone().text());
  const { voice } = await voiceRes.json();

  const before = (await (await client.call("/api/me")).json()).credits.balance;
  const text = prose(5000);
  assert.ok(text.length > 4900 && text.length <= 5000);
  const genRes = await client.call("/api/generations", { method: "POST", json: { voice_id: voice.id, text, language: "en" } });
  assert.equal(genRes.status, 202, await genRes.clone().text());
  const task = await genRes.json();

  // Like the browser's hook: apply messages in seq order, and if the socket drops
  // (e.g. wrangler reloading on a file change) reconnect and resume from the snapshot.
  const messages = [];
  const segmentsByIndex = new Map();
  let lastSeq = -1;
  let reconnects = 0;
  const completed = await new Promise((resolve, reject) => {
    const connect = () => {
      const ws = new WebSocket(`${stack.origin.replace("http", "ws")}${task.socket_url}`, { headers: { cookie: client.cookie(), origin: stack.origin } });
      let finished = false;
      ws.onmessage = (e) => {
        // Protocol v2: binary messages are the live audio frames (ADR 0009); this test follows the JSON ones.
        if (typeof e.data !== "string") return;
        const m = JSON.parse(e.data);
        if (m.type === "snapshot") {
          for (const seg of m.segments) segmentsByIndex.set(seg.index, seg);
          lastSeq = Math.max(lastSeq, m.seq);
          messages.push(m);
          if (m.task.status === "succeeded") {
            finished = true;
            ws.close();
            resolve({ type: "completed", seq: m.seq, result: m.task.result });
          }
          return;
        }
        if (m.seq <= lastSeq) return;
        lastSeq = m.seq;
        messages.push(m);
        if (m.type === "segment") segmentsByIndex.set(m.index, m);
        if (m.type === "completed") {
          finished = true;
          ws.close();
          resolve(m);
        }
        if (m.type === "failed" || m.type === "cancelled") {
          finished = true;
          reject(new Error(`task ended ${m.type}: ${JSON.stringify(m)}`));
        }
      };
      ws.onclose = () => {
        if (finished) return;
        if (++reconnects > 10) return reject(new Error("socket kept dropping"));
        setTimeout(connect, 500);
      };
    };
    connect();
  });

  assert.equal(messages[0].type, "snapshot");
  for (let i = 1; i < messages.length; i++) assert.ok(messages[i].seq >= messages[i - 1].seq, "seq never goes back");
  const progress = messages.filter((m) => m.type === "progress");
  const segments = [...segmentsByIndex.values()].sort((a, b) => a.index - b.index);
  // A reconnect replaces the missed progress messages by one snapshot.
  assert.ok(progress.length + reconnects >= 10, `progress events: ${progress.length} (reconnects: ${reconnects})`);
  assert.ok(segments.length >= 10, `segment events: ${segments.length}`);
  assert.deepEqual(
    segments.map((s) => s.index),
    segments.map((_, i) => i),
  );
  for (let i = 1; i < progress.length; i++) assert.ok(progress[i].progress >= progress[i - 1].progress, "progress never goes back");

  let sum = 0;
  for (const s of segments) {
    const res = await client.call(s.url);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "audio/wav");
    const info = wavInfo(new Uint8Array(await res.arrayBuffer()));
    assert.ok(Math.abs(info.durationMs - s.duration_ms) <= 2, `segment ${s.index}: ${info.durationMs} vs ${s.duration_ms}`);
    sum += info.durationMs;
  }
  const finalRes = await client.call(completed.result.audio_url);
  assert.equal(finalRes.status, 200);
  const final = wavInfo(new Uint8Array(await finalRes.arrayBuffer()));
  // Segments are joined with short crossfades: allow 50 ms per join and 1 %.
  const tolerance = Math.max(sum * 0.01, 50 * (segments.length - 1));
  assert.ok(Math.abs(final.durationMs - sum) <= tolerance, `final ${final.durationMs} ms vs segments ${sum} ms`);
  assert.equal(Math.round(final.durationMs), completed.result.duration_ms);

  const ledger = await (await client.call("/api/credits/ledger?limit=100")).json();
  const mine = ledger.entries.filter((e) => e.task_id === task.task_id);
  assert.deepEqual(mine.map((e) => e.kind).sort(), ["capture", "reserve"]);
  assert.equal(ledger.balance, before - task.cost);
  assert.equal(task.cost, 50);
});

/** The development engine's process, a child of dev/run.mjs. */
function enginePid(runPid) {
  const out = execFileSync("ps", ["-o", "pid=,args=", "--ppid", String(runPid)], { encoding: "utf8" });
  const line = out.split("\n").find((l) => l.includes("dev/engine/server.ts"));
  return line ? Number(line.trim().split(/\s+/)[0]) : null;
}

test("the stack survives its engine: a killed engine is restarted and wrangler dev stays up", { timeout: 120_000 }, async () => {
  const killed = enginePid(stack.pid);
  assert.ok(killed, "the engine runs under dev/run.mjs");
  process.kill(killed, "SIGKILL");
  let restarted = null;
  const started = Date.now();
  while (Date.now() - started < 30_000) {
    await new Promise((r) => setTimeout(r, 250));
    const pid = enginePid(stack.pid);
    if (pid === null || pid === killed) continue;
    const health = await fetch(`http://127.0.0.1:${stack.enginePort}/health`).catch(() => null);
    if (health?.ok) {
      restarted = pid;
      break;
    }
  }
  assert.ok(restarted, `no engine answered after the kill:\n${stack.log().slice(-2000)}`);
  assert.match(stack.log(), /dev engine exited \(SIGKILL\); restarting it in 1 s/);
  const worker = await fetch(`${stack.origin}/api/health`);
  assert.equal(worker.status, 200, "wrangler dev kept running");
});
