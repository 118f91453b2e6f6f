import { describe, expect, it } from "vitest";
import { createAudioInspector } from "../../../worker/lib/audio";
import cbrMp3 from "../../fixtures/audio/speech-12s-cbr.mp3?bytes";
import cbrNoXingMp3 from "../../fixtures/audio/speech-12s-cbr-noxing.mp3?bytes";
import vbrMp3 from "../../fixtures/audio/speech-12s-vbr.mp3?bytes";
import flac from "../../fixtures/audio/speech-12s.flac?bytes";
import { ascii, chunks, concat, inspect, inspectionError, randomChunks } from "./audio-builders";

const FRAME_MS = (1152 / 32_000) * 1000; // the CBR fixture: MPEG-1 Layer III at 32 kHz
const FRAME_BYTES = 144; // 32 kbit/s at 32 kHz, unpadded
const NO_XING_MS = inspect(cbrNoXingMp3).durationMs;

/** An ID3v2.4 tag whose body is `body` (size written syncsafe). */
function id3v2(body: Uint8Array): Uint8Array {
  const n = body.length;
  return concat(ascii("ID3"), new Uint8Array([4, 0, 0, (n >> 21) & 0x7f, (n >> 14) & 0x7f, (n >> 7) & 0x7f, n & 0x7f]), body);
}

/** Bytes that look like noise but are full of MPEG frame syncs (0xFF 0xFB … at 32 kHz), as cover art can be. */
function syncRichNoise(length: number): Uint8Array {
  const b = new Uint8Array(length);
  let state = 12345;
  for (let i = 0; i < length; i++) {
    state = (state * 1103515245 + 12345) >>> 0;
    b[i] = state >>> 24;
  }
  for (let i = 0; i + 4 < length; i += 997) b.set([0xff, 0xfb, 0x58, 0xc4], i);
  return b;
}

describe("MP3 duration", () => {
  it("counts CBR frames exactly (12.42 s = 345 frames)", () => {
    expect(NO_XING_MS).toBe(Math.round(345 * FRAME_MS));
  });

  it("ignores an ID3v1 tag and an APE tag full of fake frame headers at the end", () => {
    const id3v1 = concat(ascii("TAG"), new Uint8Array(125).fill(0x20));
    const ape = concat(ascii("APETAGEX"), syncRichNoise(3000), ascii("APETAGEX"), new Uint8Array(24));
    expect(inspect(concat(cbrNoXingMp3, ape, id3v1), (b) => chunks(b, 1000)).durationMs).toBe(NO_XING_MS);
  });

  it("finds the first frame after junk between the ID3v2 tag and the audio", () => {
    const mp3 = concat(id3v2(new Uint8Array(200)), new Uint8Array(1500), cbrNoXingMp3);
    expect(inspect(mp3, (b) => randomChunks(b, 9, 300)).durationMs).toBe(NO_XING_MS);
  });

  it("skips a 1 MB ID3v2 tag (cover art) without buffering it or mistaking it for audio", () => {
    const mp3 = concat(id3v2(syncRichNoise(1024 * 1024)), cbrNoXingMp3);
    const inspector = createAudioInspector();
    let maxRetained = 0;
    for (const chunk of chunks(mp3, 1000)) {
      inspector.push(chunk);
      maxRetained = Math.max(maxRetained, inspector.retainedBytes);
    }
    expect(inspector.finish()).toMatchObject({ format: "mp3", durationMs: NO_XING_MS, sizeBytes: mp3.length });
    expect(maxRetained).toBeLessThan(32 * 1024);
  });

  it("counts only the complete frames of a file cut short", () => {
    const start = cbrNoXingMp3.indexOf(0xff);
    const cut = cbrNoXingMp3.subarray(0, start + 100 * FRAME_BYTES + FRAME_BYTES / 2);
    // 100 frames (±1: the encoder pads some frames by a byte, which shifts the cut).
    expect(Math.abs(inspect(cut).durationMs - 100 * FRAME_MS)).toBeLessThanOrEqual(FRAME_MS);
  });

  it("takes the frame count from a LAME Info tag", () => {
    expect(inspect(cbrMp3).durationMs).toBe(NO_XING_MS);
  });

  it("sniffs FLAC behind an ID3v2 tag as FLAC", () => {
    expect(inspect(concat(id3v2(new Uint8Array(300)), flac))).toMatchObject({ format: "flac", durationMs: 12_370 });
  });

  it("rejects a file cut inside its ID3v2 tag, or inside its first frame, as truncated", () => {
    expect(inspectionError(cbrMp3.subarray(0, 15))).toMatchObject({ code: "truncated", format: "mp3" });
    const start = cbrNoXingMp3.indexOf(0xff);
    expect(inspectionError(cbrNoXingMp3.subarray(0, start + 100))).toMatchObject({ code: "truncated", format: "mp3" });
  });

  it("rejects an ID3v2 tag followed by something that is not MPEG audio", () => {
    expect(inspectionError(concat(id3v2(new Uint8Array(10)), ascii("<html>".repeat(2000))))).toMatchObject({ code: "unsupported_format" });
  });
});

describe("MP3 with a lying Xing/Info header", () => {
  it("a file cut to a quarter keeps its header's frame count, and is refused as truncated", () => {
    for (const [name, bytes] of [
      ["cbr (Info)", cbrMp3],
      ["vbr (Xing)", vbrMp3],
    ] as const) {
      const cut = bytes.subarray(0, Math.floor(bytes.length / 4));
      const err = inspectionError(cut, 4096);
      expect(err.code, name).toBe("truncated");
      expect(err.message, name).toMatch(/header announces/);
    }
  });

  it("whole files with a tag still measure what their frames hold", () => {
    expect(Math.abs(inspect(cbrMp3).durationMs - NO_XING_MS)).toBeLessThanOrEqual(Math.ceil(FRAME_MS));
  });
});
