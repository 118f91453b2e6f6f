import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { afterEach, describe, it } from "node:test";
import { createArtifactUploader } from "../artifact-uploader.ts";
import { createCallbackClient } from "../callback-client.ts";
import { silentLogger } from "../log.ts";
import {
  CLOSE,
  decodeFrame,
  encodeFramePcm,
  frameSamples,
  FRAME_MAX_PAYLOAD_BYTES,
  MAX_SINGLE_BYTES,
  PART_SIZE,
  parseSubmit,
  StreamAck,
  StreamCancel,
  StreamHello,
} from "../v2-wire.ts";
import { encodeWav } from "../wav-codec.ts";
import { JOB_TOKEN, startFakeWorker, type FakeWorker } from "./support/fake-worker.ts";
import { virtualClock } from "./support/virtual-clock.ts";

const V2 = new URL("../../../test/fixtures/engine-protocol/v2/", import.meta.url);
const read = (name: string) => JSON.parse(readFileSync(new URL(name, V2), "utf8"));
const hex = (h: string) => new Uint8Array(Buffer.from(h, "hex"));

type FrameFixture = { description: string; hex: string; decoded: Record<string, unknown> & { samples: number[] } };

describe("v2 frames (shared fixtures)", () => {
  const fixture = read("frames.json") as { valid: FrameFixture[]; invalid: { description: string; hex: string; reason: string }[] };

  for (const f of fixture.valid) {
    it(`decodes and re-encodes: ${f.description}`, () => {
      const result = decodeFrame(hex(f.hex));
      assert.ok(result.ok, "accepted");
      const { payload_bytes: _, ...header } = result.header;
      assert.deepEqual({ ...header, samples: [...frameSamples(hex(f.hex))] }, f.decoded);
      assert.equal(Buffer.from(encodeFramePcm(header, result.pcm)).toString("hex"), f.hex, "encoding gives the same bytes");
    });
  }
  for (const f of fixture.invalid) {
    it(`refuses (${f.reason}): ${f.description}`, () => {
      const result = decodeFrame(hex(f.hex));
      assert.ok(!result.ok);
      assert.equal(result.reason, f.reason);
    });
  }
  it("refuses a payload over 192,000 bytes and never encodes one", () => {
    const big = new Uint8Array(FRAME_MAX_PAYLOAD_BYTES + 2);
    const header = { segment: 0, frame: 0, segment_offset: 0, stream_offset: 0, last_in_segment: false };
    assert.throws(() => encodeFramePcm(header, big), RangeError);
    assert.throws(() => encodeFramePcm(header, big.subarray(0, 3)), RangeError, "odd byte count");
    const frame = new Uint8Array(16 + big.length);
    frame[0] = 1;
    assert.deepEqual(decodeFrame(frame), { ok: false, reason: "too_large" });
    assert.ok(decodeFrame(encodeFramePcm(header, big.subarray(0, FRAME_MAX_PAYLOAD_BYTES))).ok);
  });
});

describe("v2 registry limits and socket messages", () => {
  it("uses the registry's single-body limit and part size", () => {
    const registry = read("artifact-kinds.json") as {
      part_size: number;
      max_single_bytes: number;
      kinds: Record<string, { content_types: string[] }>;
    };
    assert.equal(MAX_SINGLE_BYTES, registry.max_single_bytes);
    assert.equal(PART_SIZE, registry.part_size);
    assert.deepEqual(registry.kinds.segment!.content_types, ["audio/wav"]);
    assert.deepEqual(registry.kinds.final!.content_types, ["audio/wav"]);
    assert.deepEqual(registry.kinds.final_mp3!.content_types, ["audio/mpeg"]);
  });

  it("parses the DO's hello, ack and cancel as ADR 0009 writes them", () => {
    assert.ok(StreamHello.safeParse({ type: "hello", acked_seq: -1, state: "running", artifacts: [], last_frame: -1 }).success);
    assert.ok(
      StreamHello.safeParse({
        type: "hello",
        acked_seq: 7,
        state: "running",
        artifacts: [
          { kind: "segment", index: 0 },
          { kind: "final", index: null },
        ],
        last_frame: 12,
      }).success,
    );
    assert.ok(!StreamHello.safeParse({ type: "hello", acked_seq: -2, state: "running", artifacts: [], last_frame: -1 }).success);
    assert.ok(StreamAck.safeParse({ type: "ack", seq: 3, accepted: true, state: "running" }).success);
    assert.ok(!StreamAck.safeParse({ type: "ack", seq: 3, accepted: "yes", state: "running" }).success);
    assert.ok(StreamCancel.safeParse({ type: "cancel", state: "cancelled" }).success);
    assert.ok(!StreamCancel.safeParse({ type: "cancel", state: "succeeded" }).success);
  });
});

describe("v2 submit", () => {
  const v1 = JSON.parse(
    readFileSync(new URL("../../../test/fixtures/engine-protocol/valid/submit-generate-full.json", import.meta.url), "utf8"),
  ).value;
  it("takes a v1 submit as it is, and a v2 one with its ws(s) stream_url", () => {
    const one = parseSubmit(v1);
    assert.ok(one.success && one.data.stream_url === undefined);
    const streamUrl = "wss://utter.example/internal/engine/jobs/job_1/stream";
    const two = parseSubmit({ ...v1, protocol: 2, callbacks: { ...v1.callbacks, stream_url: streamUrl } });
    assert.ok(two.success && two.data.stream_url === streamUrl);
  });
  it("refuses a v2 submit without a stream_url or with an http one, and the v1 rules still apply", () => {
    for (const [body, path] of [
      [{ ...v1, protocol: 2 }, "callbacks.stream_url"],
      [{ ...v1, protocol: 2, callbacks: { ...v1.callbacks, stream_url: "https://x.example/stream" } }, "callbacks.stream_url"],
      [{ ...v1, protocol: 2, language: "xx", callbacks: { ...v1.callbacks, stream_url: "wss://x.example/s" } }, "language"],
    ] as const) {
      const result = parseSubmit(body);
      assert.ok(!result.success && result.issues.some((i) => i.path === path), JSON.stringify(result));
    }
  });
});

describe("the fake Worker's engine socket (the ADR's close codes)", () => {
  let worker: FakeWorker | undefined;
  afterEach(async () => {
    await worker?.close();
    worker = undefined;
  });

  async function connect(token = JOB_TOKEN) {
    worker ??= await startFakeWorker();
    const ws = new WebSocket(worker.jobV2().stream_url!, { headers: { authorization: `Bearer ${token}` } });
    ws.binaryType = "arraybuffer";
    const messages: unknown[] = [];
    const closed = new Promise<number>((resolve) => (ws.onclose = (e) => resolve(e.code)));
    const hello = new Promise<void>((resolve) => {
      ws.onmessage = (e) => {
        messages.push(JSON.parse(String(e.data)));
        resolve();
      };
    });
    return { ws, messages, closed, hello };
  }
  const frame = (n: number, samples = 4) =>
    encodeFramePcm(
      { segment: 0, frame: n, segment_offset: n * samples, stream_offset: n * samples, last_in_segment: false },
      new Uint8Array(samples * 2),
    );

  it("greets with hello and acks an event by seq", async () => {
    const c = await connect();
    await c.hello;
    assert.deepEqual(c.messages[0], { type: "hello", acked_seq: -1, state: "running", artifacts: [], last_frame: -1 });
    c.ws.send(JSON.stringify({ job_id: "job_test", seq: 0, type: "started" }));
    await worker!.until(() => worker!.connections[0]!.acked.length === 1);
    c.ws.close();
  });

  for (const [what, bytes, code] of [
    ["a malformed frame", new Uint8Array([2, 0, 0]), CLOSE.malformed],
    [
      "an oversized frame",
      (() => {
        const b = new Uint8Array(16 + FRAME_MAX_PAYLOAD_BYTES + 2);
        b[0] = 1;
        return b;
      })(),
      CLOSE.tooLarge,
    ],
    ["a frame out of order", frame(2), CLOSE.outOfOrder],
  ] as const) {
    it(`closes the socket on ${what} (${code})`, async () => {
      const c = await connect();
      await c.hello;
      c.ws.send(frame(0));
      c.ws.send(bytes);
      assert.equal(await c.closed, code);
      assert.equal(worker!.frames.length, 1, "what was delivered before stays");
    });
  }

  it("closes with 4401 for a bad token", async () => {
    const c = await connect("not-the-job-token-at-all");
    assert.equal(await c.closed, CLOSE.badToken);
  });
});

describe("artifact uploads at the registry's real sizes", () => {
  let worker: FakeWorker | undefined;
  afterEach(async () => {
    await worker?.close();
    worker = undefined;
  });

  it("puts 8 MiB in one body and 8 MiB + 1 byte in two parts, byte-identical", async () => {
    worker = await startFakeWorker();
    const clock = virtualClock();
    const client = createCallbackClient({
      fetch,
      clock,
      token: JOB_TOKEN,
      retry: { attempts: 2, baseDelayMs: 1, maxDelayMs: 1, timeoutMs: 30_000 },
      log: silentLogger,
      jobId: "job_test",
    });
    const uploads = createArtifactUploader({ client, uploadUrl: worker.job().callbacks.upload_url, protocol: 2 });
    const samples = (bytes: number) => new Float32Array((bytes - 44) / 2).map((_, i) => Math.sin(i / 7) * 0.5);
    const single = encodeWav(samples(MAX_SINGLE_BYTES), 24000);
    await uploads.put("segment", 0, single, "audio/wav");
    const big = encodeWav(samples(MAX_SINGLE_BYTES + 2), 24000);
    await uploads.put("final", null, big, "audio/wav");
    assert.deepEqual(worker.multipart, [{ path: "final", parts: [1, 2] }]);
    assert.ok(Buffer.from(worker.uploads.get("segments/0")!).equals(Buffer.from(single)));
    assert.ok(Buffer.from(worker.uploads.get("final")!).equals(Buffer.from(big)));
    assert.deepEqual(worker.violations, []);
  });

  it("a wrong content type is refused with a 4xx naming it, and nothing is stored", async () => {
    worker = await startFakeWorker();
    const client = createCallbackClient({
      fetch,
      clock: virtualClock(),
      token: JOB_TOKEN,
      retry: { attempts: 1, baseDelayMs: 1, maxDelayMs: 1, timeoutMs: 5000 },
      log: silentLogger,
      jobId: "job_test",
    });
    const uploads = createArtifactUploader({ client, uploadUrl: worker.job().callbacks.upload_url, protocol: 2 });
    await assert.rejects(uploads.put("final_mp3", null, new Uint8Array(10), "audio/wav"), /415.*audio\/wav/);
    assert.equal(worker.uploads.size, 0);
  });
});
