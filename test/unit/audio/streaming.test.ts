import { describe, expect, it } from "vitest";
import { createAudioInspector, inspectAudioStream } from "../../../worker/lib/audio";
import cbrNoXingMp3 from "../../fixtures/audio/speech-12s-cbr-noxing.mp3?bytes";
import flac from "../../fixtures/audio/speech-12s.flac?bytes";
import mediaRecorderWebm from "../../fixtures/audio/speech-12s-mediarecorder.webm?bytes";
import opusOgg from "../../fixtures/audio/speech-12s-opus.ogg?bytes";
import { buildWav, streamOf } from "./audio-builders";

const MB = 1024 * 1024;
/** What the inspector may hold between chunks, whatever the file's size: a few headers, never the audio. */
const RETAINED_LIMIT = 64 * 1024;

/**
 * `total` bytes in chunks of `chunkSize`, made on the fly: `head` first, then `body` repeated (cut
 * to fit). Each chunk is a fresh copy, so nothing here holds the whole stream either.
 */
function* generate(head: Uint8Array, body: Uint8Array, total: number, chunkSize: number): Generator<Uint8Array> {
  let sent = 0;
  let bodyAt = 0;
  while (sent < total) {
    const chunk = new Uint8Array(Math.min(chunkSize, total - sent));
    let filled = 0;
    if (sent < head.length) {
      filled = Math.min(head.length - sent, chunk.length);
      chunk.set(head.subarray(sent, sent + filled));
    }
    while (filled < chunk.length) {
      const n = Math.min(body.length - bodyAt, chunk.length - filled);
      chunk.set(body.subarray(bodyAt, bodyAt + n), filled);
      filled += n;
      bodyAt = (bodyAt + n) % body.length;
    }
    sent += chunk.length;
    yield chunk;
  }
}

/** Pushes every chunk, tracking the most the inspector ever retained. */
function inspectTracked(parts: Iterable<Uint8Array>) {
  const inspector = createAudioInspector();
  let maxRetained = 0;
  for (const chunk of parts) {
    inspector.push(chunk);
    maxRetained = Math.max(maxRetained, inspector.retainedBytes);
  }
  return { info: inspector.finish(), maxRetained };
}

describe("streaming a 51 MB upload", () => {
  it("measures a 51 MB streaming WAV (data size 0xFFFFFFFF) in 64 KiB chunks with bounded memory", () => {
    const total = 51 * MB;
    const header = buildWav(0, { sampleRate: 44_100, channels: 2, dataSize: 0xffffffff, riffSize: 0xffffffff });
    const { info, maxRetained } = inspectTracked(generate(header, new Uint8Array(4096), total, 64 * 1024));
    expect(info).toMatchObject({ format: "wav", sizeBytes: total, durationMs: Math.round(((total - 44) / 4 / 44_100) * 1000) });
    expect(maxRetained).toBeLessThan(RETAINED_LIMIT);
  });

  it("counts the frames of a 51 MB MP3 in odd-sized chunks with bounded memory", () => {
    const total = 51 * MB;
    const copies = total / cbrNoXingMp3.length;
    // The fixture has no tags, so copies joined end to end are one continuous CBR stream.
    const { info, maxRetained } = inspectTracked(generate(new Uint8Array(0), cbrNoXingMp3, total, 65_521));
    expect(info.sizeBytes).toBe(total);
    expect(Math.abs(info.durationMs - copies * 12_420)).toBeLessThanOrEqual(36);
    expect(maxRetained).toBeLessThan(RETAINED_LIMIT);
  });

  it("scans a 51 MB stream of MediaRecorder clusters without holding them", () => {
    // The recording's own bytes, then its clusters over and over: one ever-growing unknown-size Segment.
    const firstCluster = mediaRecorderWebm.findIndex(
      (_, i) =>
        mediaRecorderWebm[i] === 0x1f &&
        mediaRecorderWebm[i + 1] === 0x43 &&
        mediaRecorderWebm[i + 2] === 0xb6 &&
        mediaRecorderWebm[i + 3] === 0x75,
    );
    const { info, maxRetained } = inspectTracked(generate(mediaRecorderWebm, mediaRecorderWebm.subarray(firstCluster), 51 * MB, 16_384));
    // Repeated clusters repeat timestamps, so the duration stays that of one recording.
    expect(info).toMatchObject({ format: "webm", sizeBytes: 51 * MB });
    expect(Math.abs(info.durationMs - 12_360)).toBeLessThanOrEqual(10);
    expect(maxRetained).toBeLessThan(RETAINED_LIMIT);
  });

  it("lets go of the chunk once the duration is known (FLAC), and only counts the rest", () => {
    const inspector = createAudioInspector();
    inspector.push(flac.subarray(0, 100_000));
    expect(inspector.retainedBytes).toBe(0);
    for (let i = 0; i < 500; i++) inspector.push(new Uint8Array(100_000));
    expect(inspector.finish()).toMatchObject({ format: "flac", durationMs: 12_370, sizeBytes: 100_000 * 501 });
  });

  it("reads a 51 MB OGG stream through a tee with the other branch draining it", async () => {
    const total = 51 * MB;
    const [toStorage, toInspector] = streamOf(generate(opusOgg, opusOgg, total, 64 * 1024)).tee();
    const drained = (async () => {
      const reader = toStorage.getReader();
      let n = 0;
      for (let r = await reader.read(); !r.done; r = await reader.read()) n += r.value.length;
      return n;
    })();
    const [info, stored] = await Promise.all([inspectAudioStream(toInspector), drained]);
    expect(stored).toBe(total);
    expect(info).toMatchObject({ format: "ogg", codec: "opus", sizeBytes: total });
    // Joined copies form a chain (each ends with an end-of-stream page), so the durations add up;
    // the last copy is cut short and counts up to its last complete page.
    const wholeCopies = Math.floor(total / opusOgg.length);
    expect(info.durationMs).toBeGreaterThanOrEqual(wholeCopies * 12_370);
    expect(info.durationMs).toBeLessThan((wholeCopies + 1) * 12_370);
  });
});
