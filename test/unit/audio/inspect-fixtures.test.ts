import { describe, expect, it } from "vitest";
import { AUDIO_MIME, inspectAudioStream, sniffAudioFormat, type AudioInfo } from "../../../worker/lib/audio";
import cbrMp3 from "../../fixtures/audio/speech-12s-cbr.mp3?bytes";
import cbrNoXingMp3 from "../../fixtures/audio/speech-12s-cbr-noxing.mp3?bytes";
import faststartM4a from "../../fixtures/audio/speech-12s-faststart.m4a?bytes";
import fragmentedM4a from "../../fixtures/audio/speech-12s-fragmented.m4a?bytes";
import flac from "../../fixtures/audio/speech-12s.flac?bytes";
import m4a from "../../fixtures/audio/speech-12s.m4a?bytes";
import mediaRecorderWebm from "../../fixtures/audio/speech-12s-mediarecorder.webm?bytes";
import opusOgg from "../../fixtures/audio/speech-12s-opus.ogg?bytes";
import opusWebm from "../../fixtures/audio/speech-12s-opus.webm?bytes";
import vbrMp3 from "../../fixtures/audio/speech-12s-vbr.mp3?bytes";
import vbrNoXingMp3 from "../../fixtures/audio/speech-12s-vbr-noxing.mp3?bytes";
import vorbisOgg from "../../fixtures/audio/speech-12s-vorbis.ogg?bytes";
import wav from "../../fixtures/audio/speech-12s.wav?bytes";
import wav9s from "../../fixtures/audio/speech-9s.wav?bytes";
import { chunks, inspect, randomChunks, streamOf } from "./audio-builders";

/**
 * True durations are ffprobe's (test/fixtures/audio/README.md), except Ogg Opus: ffprobe's 12.3765 s
 * includes the 6.5 ms pre-skip that RFC 7845 says to drop, which gives the source's 12.370 s.
 * Tolerances are tight enough that the classic mistakes fail: ignoring an MP4 edit list (+64 ms of
 * AAC priming), forgetting Opus pre-skip, counting an MP3 tag frame or losing frames at chunk
 * boundaries (±1 frame allowed), leaving out the last MediaRecorder frame's length (20 ms).
 */
const MP3_FRAME_32K = (1152 / 32_000) * 1000; // 36 ms
const MP3_FRAME_16K = (576 / 16_000) * 1000; // 36 ms

const cases: {
  name: string;
  bytes: Uint8Array;
  expected: Omit<AudioInfo, "mimeType" | "sizeBytes" | "durationMs">;
  durationMs: number;
  toleranceMs: number;
}[] = [
  {
    name: "speech-12s.wav",
    bytes: wav,
    durationMs: 12_370,
    toleranceMs: 1,
    expected: { format: "wav", sampleRate: 8000, channels: 1, codec: "pcm_s16le" },
  },
  {
    name: "speech-9s.wav",
    bytes: wav9s,
    durationMs: 9000,
    toleranceMs: 1,
    expected: { format: "wav", sampleRate: 8000, channels: 1, codec: "pcm_s16le" },
  },
  {
    name: "speech-12s.flac",
    bytes: flac,
    durationMs: 12_370,
    toleranceMs: 1,
    expected: { format: "flac", sampleRate: 8000, channels: 1, codec: "flac" },
  },
  {
    name: "speech-12s-cbr.mp3 (ID3v2 + Info tag)",
    bytes: cbrMp3,
    durationMs: 12_420,
    toleranceMs: MP3_FRAME_32K,
    expected: { format: "mp3", sampleRate: 32_000, channels: 1, codec: "mp3" },
  },
  {
    name: "speech-12s-vbr.mp3 (Xing tag)",
    bytes: vbrMp3,
    durationMs: 12_456,
    toleranceMs: MP3_FRAME_16K,
    expected: { format: "mp3", sampleRate: 16_000, channels: 1, codec: "mp3" },
  },
  {
    name: "speech-12s-cbr-noxing.mp3 (frames counted)",
    bytes: cbrNoXingMp3,
    durationMs: 12_420,
    toleranceMs: MP3_FRAME_32K,
    expected: { format: "mp3", sampleRate: 32_000, channels: 1, codec: "mp3" },
  },
  {
    name: "speech-12s-vbr-noxing.mp3 (frames counted)",
    bytes: vbrNoXingMp3,
    durationMs: 12_456,
    toleranceMs: MP3_FRAME_16K,
    expected: { format: "mp3", sampleRate: 16_000, channels: 1, codec: "mp3" },
  },
  {
    name: "speech-12s.m4a (moov after mdat)",
    bytes: m4a,
    durationMs: 12_370,
    toleranceMs: 20,
    expected: { format: "m4a", sampleRate: 16_000, channels: 1, codec: "aac" },
  },
  {
    name: "speech-12s-faststart.m4a",
    bytes: faststartM4a,
    durationMs: 12_370,
    toleranceMs: 20,
    expected: { format: "m4a", sampleRate: 16_000, channels: 1, codec: "aac" },
  },
  {
    name: "speech-12s-fragmented.m4a",
    bytes: fragmentedM4a,
    durationMs: 12_434,
    toleranceMs: 20,
    expected: { format: "m4a", sampleRate: 16_000, channels: 1, codec: "aac" },
  },
  {
    name: "speech-12s-opus.ogg",
    bytes: opusOgg,
    durationMs: 12_370,
    toleranceMs: 2,
    expected: { format: "ogg", sampleRate: 48_000, channels: 1, codec: "opus" },
  },
  {
    name: "speech-12s-vorbis.ogg",
    bytes: vorbisOgg,
    durationMs: 12_370,
    toleranceMs: 20,
    expected: { format: "ogg", sampleRate: 16_000, channels: 1, codec: "vorbis" },
  },
  {
    name: "speech-12s-opus.webm (Info Duration)",
    bytes: opusWebm,
    durationMs: 12_378,
    toleranceMs: 20,
    expected: { format: "webm", sampleRate: 48_000, channels: 1, codec: "opus" },
  },
  {
    name: "speech-12s-mediarecorder.webm (no Duration)",
    bytes: mediaRecorderWebm,
    durationMs: 12_360,
    toleranceMs: 10,
    expected: { format: "webm", sampleRate: 48_000, channels: 1, codec: "opus" },
  },
];

describe("inspecting the fixture files", () => {
  it.each(cases)("measures $name", ({ bytes, expected, durationMs, toleranceMs }) => {
    const info = inspect(bytes);
    expect(info).toMatchObject({ ...expected, mimeType: AUDIO_MIME[expected.format], sizeBytes: bytes.length });
    expect(Math.abs(info.durationMs - durationMs)).toBeLessThanOrEqual(toleranceMs);
  });

  it.each(cases)("gets the same answer for $name however the bytes are chunked", ({ bytes }) => {
    const whole = inspect(bytes);
    expect(inspect(bytes, (b) => chunks(b, 1))).toEqual(whole);
    expect(inspect(bytes, (b) => chunks(b, 7))).toEqual(whole);
    expect(inspect(bytes, (b) => chunks(b, 4096))).toEqual(whole);
    for (const seed of [1, 2, 3]) expect(inspect(bytes, (b) => randomChunks(b, seed))).toEqual(whole);
  });

  it.each(cases)("sniffs $name from its first bytes", ({ bytes, expected }) => {
    expect(sniffAudioFormat(bytes.subarray(0, 4096))).toBe(expected.format);
  });

  it("reads a ReadableStream to the end", async () => {
    const info = await inspectAudioStream(streamOf(chunks(mediaRecorderWebm, 1000)));
    expect(info).toMatchObject({ format: "webm", sizeBytes: mediaRecorderWebm.length });
    expect(Math.abs(info.durationMs - 12_360)).toBeLessThanOrEqual(30);
  });

  it("inspects one branch of a tee while the other receives every byte", async () => {
    const [toStorage, toInspector] = streamOf(chunks(m4a, 4096)).tee();
    const stored = (async () => {
      const reader = toStorage.getReader();
      let n = 0;
      for (let r = await reader.read(); !r.done; r = await reader.read()) n += r.value.length;
      return n;
    })();
    const [info, storedBytes] = await Promise.all([inspectAudioStream(toInspector), stored]);
    expect(storedBytes).toBe(m4a.length);
    expect(info.sizeBytes).toBe(m4a.length);
    expect(info.format).toBe("m4a");
  });
});
