import { describe, expect, it } from "vitest";
import registryFixture from "../fixtures/engine-protocol/v2/artifact-kinds.json";
import framesFixture from "../fixtures/engine-protocol/v2/frames.json";
import { ARTIFACT_REGISTRY, ArtifactKindSpec, checkArtifactAddress } from "../../worker/engine/artifacts";
import {
  decodeFrameHeader,
  encodeFrame,
  encodeFrameBatch,
  FRAME_BATCH_FLAG_TEXT,
  FRAME_BATCH_MAX_FRAMES,
  frameSamples,
  framesOfMessage,
  listenerBinaryOf,
} from "../../worker/engine/frames";
import { SubmitRequest } from "../../worker/engine/protocol";

const hex = (s: string) => Uint8Array.from(s.match(/../g) ?? [], (b) => parseInt(b, 16));

describe("artifact registry (ADR 0009)", () => {
  it("equals the shared fixture field for field", () => {
    const { description: _d, ...fixture } = registryFixture;
    expect(JSON.parse(JSON.stringify(ARTIFACT_REGISTRY))).toEqual(fixture);
  });

  it("every kind is a valid spec", () => {
    for (const spec of Object.values(ARTIFACT_REGISTRY.kinds)) expect(ArtifactKindSpec.safeParse(spec).success).toBe(true);
  });

  it("checks kind, index and job kind", () => {
    expect(checkArtifactAddress("segment", 3, "generate")).toBeNull();
    expect(checkArtifactAddress("final", null, "design_preview")).toBeNull();
    expect(checkArtifactAddress("alignment", null, "generate")).toBeNull();
    expect(checkArtifactAddress("alignment", null, "design_preview")?.field).toBe("job_kind");
    expect(checkArtifactAddress("no_such_kind", null, "generate")?.field).toBe("kind");
    expect(checkArtifactAddress("segment", null, "generate")?.field).toBe("index");
    expect(checkArtifactAddress("final", 0, "generate")?.field).toBe("index");
    expect(checkArtifactAddress("segment", 10_000, "generate")?.field).toBe("index");
    expect(checkArtifactAddress("final_mp3", null, "design_preview")?.field).toBe("job_kind");
  });
});

describe("frame header codec (ADR 0009 frames fixture)", () => {
  for (const f of framesFixture.valid) {
    it(`decodes ${f.description}`, () => {
      const bytes = hex(f.hex);
      const r = decodeFrameHeader(bytes);
      if (!r.ok) throw new Error(`refused: ${r.reason}`);
      const { samples, ...fields } = f.decoded;
      const { payload_bytes, ...header } = r.header;
      expect(header).toEqual(fields);
      expect(payload_bytes).toBe(samples.length * 2);
      expect([...frameSamples(bytes)]).toEqual(samples);
      // and encodes back to the same bytes
      expect(encodeFrame({ ...fields }, samples)).toEqual(bytes);
    });
  }
  for (const f of framesFixture.invalid) {
    it(`refuses ${f.description} (${f.reason})`, () => {
      const r = decodeFrameHeader(hex(f.hex));
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.reason).toBe(f.reason);
    });
  }
  it("refuses a payload over 192,000 bytes", () => {
    const big = new Uint8Array(16 + 192_002);
    big[0] = 1;
    expect(decodeFrameHeader(big)).toEqual({ ok: false, reason: "too_large" });
    const max = new Uint8Array(16 + 192_000);
    max[0] = 1;
    expect(decodeFrameHeader(max).ok).toBe(true);
  });
});

describe("frame batches to listeners (ADR 0027)", () => {
  const frame = (n: number, len: number) =>
    encodeFrame({ segment: 0, frame: n, segment_offset: n * 10, stream_offset: n * 10 }, Array.from({ length: len }, (_, i) => n * 100 + i));

  it("carries whole frames in order and splits back into the same bytes", () => {
    const frames = [frame(0, 10), frame(1, 0), frame(2, 3)];
    const batch = new Uint8Array(encodeFrameBatch(frames));
    expect(batch.byteLength).toBe(4 + frames.reduce((n, f) => n + 4 + f.byteLength, 0));
    const parts = framesOfMessage(batch)!;
    expect(parts.map((p) => [...p])).toEqual(frames.map((f) => [...f]));
    expect(parts.map((p) => (decodeFrameHeader(p) as { header: { frame: number } }).header.frame)).toEqual([0, 1, 2]);
  });

  it("carries a text trailer after the frames (ADR 0031), and refuses one that is cut short or not UTF-8", () => {
    const frames = [frame(0, 3), frame(1, 2)];
    const text = JSON.stringify({ type: "progress", seq: 4, progress: 0.5, stage: "générer" });
    const batch = new Uint8Array(encodeFrameBatch(frames, text));
    expect(batch[1]).toBe(FRAME_BATCH_FLAG_TEXT);
    const got = listenerBinaryOf(batch)!;
    expect(got.frames.map((p) => [...p])).toEqual(frames.map((f) => [...f]));
    expect(got.text).toBe(text);
    expect(framesOfMessage(batch)!.map((p) => [...p])).toEqual(frames.map((f) => [...f]));
    // Without a trailer the flag is clear and the text null, as before.
    const plain = new Uint8Array(encodeFrameBatch(frames));
    expect(plain[1]).toBe(0);
    expect(listenerBinaryOf(plain)!.text).toBeNull();
    expect(listenerBinaryOf(frames[0]!)).toEqual({ frames: [frames[0]], text: null });
    expect(listenerBinaryOf(batch.subarray(0, batch.length - 1))).toBeNull();
    const bad = batch.slice();
    bad[bad.length - 1] = 0xff; // not UTF-8
    expect(listenerBinaryOf(bad)).toBeNull();
  });

  it("passes a single frame through as it is", () => {
    const f = frame(7, 4);
    expect(framesOfMessage(f)!.map((p) => [...p])).toEqual([[...f]]);
  });

  it("refuses batches whose lengths do not add up, and an engine may not send one", () => {
    const good = new Uint8Array(encodeFrameBatch([frame(0, 4), frame(1, 4)]));
    expect(framesOfMessage(good.subarray(0, good.length - 1))).toBeNull(); // cut short
    expect(framesOfMessage(new Uint8Array([...good, 0]))).toBeNull(); // trailing byte
    const zero = good.slice();
    zero[2] = 0;
    expect(framesOfMessage(zero)).toBeNull(); // count 0
    const flags = good.slice();
    flags[1] = 1; // says a text trailer follows, and none does
    expect(framesOfMessage(flags)).toBeNull();
    flags[1] = 2; // no such flag
    expect(framesOfMessage(flags)).toBeNull();
    expect(() => encodeFrameBatch([])).toThrow(RangeError);
    expect(() => encodeFrameBatch(Array.from({ length: FRAME_BATCH_MAX_FRAMES + 1 }, (_, i) => frame(i, 1)))).toThrow(RangeError);
    // The Durable Object reads engine messages as single frames: a batch's version byte is refused.
    expect(decodeFrameHeader(good)).toEqual({ ok: false, reason: "version" });
  });
});

describe("SubmitRequest v2", () => {
  it("the Worker's v2 submit needs a ws(s) stream_url", () => {
    const base = {
      protocol: 2,
      job_id: "task_1",
      kind: "design_preview",
      text: "Hello.",
      language: "en",
      instruct: "A calm voice.",
      output: { format: "wav", sample_rate: 24000 },
      callbacks: { events_url: "http://w.test/e", upload_url: "http://w.test/u", token: "x".repeat(20) },
      deadline: "2026-12-01T10:00:00Z",
    };
    expect(SubmitRequest.safeParse(base).success).toBe(false);
    expect(SubmitRequest.safeParse({ ...base, callbacks: { ...base.callbacks, stream_url: "ws://w.test/s" } }).success).toBe(true);
  });
});
