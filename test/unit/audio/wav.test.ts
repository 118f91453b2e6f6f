import { describe, expect, it } from "vitest";
import { ascii, buildWav, chunks, concat, inspect, inspectionError, le32, riffChunk } from "./audio-builders";

describe("WAV duration", () => {
  it("measures a 5 min 1 s 8 kHz 8-bit mono WAV exactly", () => {
    const wav = buildWav(301 * 8000, { bitsPerSample: 8 });
    expect(wav.length).toBeGreaterThan(2_400_000);
    expect(inspect(wav, (b) => chunks(b, 64 * 1024))).toMatchObject({
      format: "wav",
      durationMs: 301_000,
      codec: "pcm_u8",
      sampleRate: 8000,
    });
  });

  it("reads WAVE_FORMAT_EXTENSIBLE PCM and float", () => {
    const pcm24 = buildWav(48_000 * 2.5, { sampleRate: 48_000, channels: 2, bitsPerSample: 24, extensibleSubFormat: 1 });
    expect(inspect(pcm24)).toMatchObject({ durationMs: 2500, channels: 2, sampleRate: 48_000, codec: "pcm_s24le" });
    const float = buildWav(44_100 * 3, { sampleRate: 44_100, bitsPerSample: 32, extensibleSubFormat: 3 });
    expect(inspect(float)).toMatchObject({ durationMs: 3000, codec: "pcm_f32le" });
  });

  it("honours the pad byte after an odd-sized chunk before the data", () => {
    // 13-byte LIST chunk + 1 pad byte: a parser that ignores padding reads "\0dat" as the next chunk id.
    const wav = buildWav(8000 * 11, { before: [riffChunk("LIST", ascii("INFOISFT\x01\0\0\0x"))] });
    expect(inspect(wav, (b) => chunks(b, 5))).toMatchObject({ durationMs: 11_000 });
  });

  it("does not count chunks after the data chunk as audio", () => {
    const wav = buildWav(8000 * 10, { after: [riffChunk("LIST", new Uint8Array(16_001)), riffChunk("id3 ", new Uint8Array(500))] });
    expect(inspect(wav)).toMatchObject({ durationMs: 10_000 });
  });

  it.each([0, 0xffffffff])("counts the bytes of a streaming WAV whose data size is %s", (dataSize) => {
    const wav = buildWav(8000 * 12, { dataSize, riffSize: dataSize });
    expect(inspect(wav, (b) => chunks(b, 1000))).toMatchObject({ durationMs: 12_000 });
  });

  it("measures the bytes present when the data chunk claims more than the file holds", () => {
    const wav = buildWav(8000 * 20).subarray(0, 44 + 8000 * 2 * 15);
    expect(inspect(wav)).toMatchObject({ durationMs: 15_000 });
  });

  it("uses the fact chunk's sample count for compressed WAV (IMA ADPCM)", () => {
    const fmt = new DataView(new ArrayBuffer(20));
    fmt.setUint16(0, 0x0011, true); // IMA ADPCM
    fmt.setUint16(2, 1, true);
    fmt.setUint32(4, 8000, true);
    fmt.setUint32(8, 4055, true);
    fmt.setUint16(12, 256, true);
    fmt.setUint16(14, 4, true);
    fmt.setUint16(16, 2, true);
    fmt.setUint16(18, 505, true);
    const fact = new DataView(new ArrayBuffer(4));
    fact.setUint32(0, 8000 * 14, true);
    const body = concat(
      ascii("WAVE"),
      riffChunk("fmt ", new Uint8Array(fmt.buffer)),
      riffChunk("fact", new Uint8Array(fact.buffer)),
      riffChunk("data", new Uint8Array(56_832)),
    );
    const wav = concat(ascii("RIFF"), le32(body.length), body);
    expect(inspect(wav)).toMatchObject({ durationMs: 14_000, codec: "adpcm_ima_wav" });
  });

  it("reads the data size of an RF64 file from its ds64 chunk", () => {
    const frames = 8000 * 13;
    const ds64 = new DataView(new ArrayBuffer(28));
    ds64.setUint32(16, frames * 2, true); // data size, low 32 bits
    const wav = buildWav(frames, { before: [], dataSize: 0xffffffff, riffSize: 0xffffffff });
    // RF64: same layout, "RF64" magic and a ds64 chunk first; trailing junk must not be counted.
    const rf64 = concat(
      ascii("RF64"),
      wav.subarray(4, 12),
      riffChunk("ds64", new Uint8Array(ds64.buffer)),
      wav.subarray(12),
      new Uint8Array(999),
    );
    expect(inspect(rf64)).toMatchObject({ format: "wav", durationMs: 13_000 });
  });

  it("rejects a header cut short as truncated, naming what is missing", () => {
    const wav = buildWav(8000 * 12);
    for (const cut of [4, 11, 20, 30]) {
      const error = inspectionError(wav.subarray(0, cut));
      expect(error.code).toBe("truncated");
      expect(error.message).toMatch(/^This WAV file is incomplete: it ends before its (RIFF header|fmt chunk)\./);
    }
    expect(inspectionError(wav.subarray(0, 40)).code).toBe("truncated"); // fmt complete, no data chunk
  });

  it("rejects a fmt chunk with no channels as corrupt", () => {
    const wav = buildWav(8000, { channels: 0 });
    expect(inspectionError(wav)).toMatchObject({ code: "corrupt", format: "wav" });
  });
});
