import { describe, expect, it } from "vitest";
import faststartM4a from "../../fixtures/audio/speech-12s-faststart.m4a?bytes";
import flac from "../../fixtures/audio/speech-12s.flac?bytes";
import m4a from "../../fixtures/audio/speech-12s.m4a?bytes";
import mediaRecorderWebm from "../../fixtures/audio/speech-12s-mediarecorder.webm?bytes";
import opusOgg from "../../fixtures/audio/speech-12s-opus.ogg?bytes";
import opusWebm from "../../fixtures/audio/speech-12s-opus.webm?bytes";
import vorbisOgg from "../../fixtures/audio/speech-12s-vorbis.ogg?bytes";
import { ascii, chunks, concat, inspect, inspectionError } from "./audio-builders";

/** Offset of the `nth` (0-based) occurrence of an ASCII marker. */
function offsetOf(bytes: Uint8Array, marker: string, nth = 0): number {
  const m = ascii(marker);
  for (let i = 0, seen = 0; i + m.length <= bytes.length; i++) {
    if (m.every((b, j) => bytes[i + j] === b) && seen++ === nth) return i;
  }
  throw new Error(`${marker} #${nth} not found`);
}

/** An ISO BMFF box. */
function box(type: string, ...payload: Uint8Array[]): Uint8Array {
  const body = concat(...payload);
  const header = new Uint8Array(8);
  new DataView(header.buffer).setUint32(0, 8 + body.length);
  header.set(ascii(type), 4);
  return concat(header, body);
}

function be32(...values: number[]): Uint8Array {
  const b = new Uint8Array(4 * values.length);
  values.forEach((v, i) => new DataView(b.buffer).setUint32(4 * i, v));
  return b;
}

describe("OGG", () => {
  it("measures up to the last complete page of a file cut short", () => {
    const full = inspect(opusOgg).durationMs;
    const half = inspect(opusOgg.subarray(0, opusOgg.length / 2)).durationMs;
    expect(half).toBeGreaterThan(full * 0.3);
    expect(half).toBeLessThan(full * 0.7);
  });

  it("ignores junk after the last page", () => {
    expect(inspect(concat(vorbisOgg, ascii("TAG"), new Uint8Array(125)), (b) => chunks(b, 333)).durationMs).toBe(12_370);
  });

  it("adds up chained streams (Opus then Vorbis)", () => {
    expect(inspect(concat(opusOgg, vorbisOgg))).toMatchObject({ codec: "opus", durationMs: 24_740 });
  });

  it("rejects a file that ends after its header pages as truncated", () => {
    const headersOnly = opusOgg.subarray(0, offsetOf(opusOgg, "OggS", 2));
    expect(inspectionError(headersOnly)).toMatchObject({ code: "truncated", format: "ogg" });
  });

  it("rejects OGG that holds neither Opus nor Vorbis, naming what it holds", () => {
    // One page: capture pattern, version, BOS flag, granule 0, serial, sequence, CRC (not checked), 1 segment of 80 bytes.
    const page = concat(
      ascii("OggS"),
      new Uint8Array([0, 2]),
      new Uint8Array(8),
      be32(7, 0, 0),
      new Uint8Array([1, 80]),
      ascii("Speex   "),
      new Uint8Array(72),
    );
    const error = inspectionError(page);
    expect(error.code).toBe("unsupported_format");
    expect(error.message).toContain("Opus or Vorbis");
    expect(error.message).toContain("Speex");
  });
});

describe("M4A/MP4", () => {
  it("rejects a moov-at-end file cut inside mdat as truncated, saying the index is missing", () => {
    const error = inspectionError(m4a.subarray(0, m4a.length / 2));
    expect(error.code).toBe("truncated");
    expect(error.message).toContain("moov");
  });

  it("rejects a faststart file cut inside mdat (or inside moov) as truncated", () => {
    expect(inspectionError(faststartM4a.subarray(0, faststartM4a.length - 1000))).toMatchObject({ code: "truncated", format: "m4a" });
    expect(inspectionError(faststartM4a.subarray(0, offsetOf(faststartM4a, "moov") + 200))).toMatchObject({ code: "truncated" });
  });

  it("rejects a truncated ftyp header", () => {
    expect(inspectionError(faststartM4a.subarray(0, 12))).toMatchObject({ code: "truncated", format: "m4a" });
  });

  it("skips a large mdat with a 64-bit size, and an mdat that runs to the end of the file", () => {
    const moov = m4a.subarray(offsetOf(m4a, "moov") - 4);
    const payload = new Uint8Array(3 * 1024 * 1024);
    const largeHeader = concat(be32(1), ascii("mdat"), be32(0, 16 + payload.length));
    const ftyp = m4a.subarray(0, 28);
    expect(inspect(concat(ftyp, largeHeader, payload, moov), (b) => chunks(b, 65_536)).durationMs).toBe(12_370);

    const mdatAt = offsetOf(faststartM4a, "mdat") - 4;
    const toEnd = faststartM4a.slice();
    new DataView(toEnd.buffer).setUint32(mdatAt, 0);
    expect(inspect(toEnd).durationMs).toBe(12_370);
  });

  it("ignores junk after a complete file", () => {
    const junk = ascii("\x7f\x00garbage appended by a careless uploader \xff\xfe\x00\x01");
    expect(inspect(concat(m4a, junk)).durationMs).toBe(12_370);
    expect(inspect(concat(m4a, new Uint8Array(5))).durationMs).toBe(12_370);
    expect(inspect(concat(faststartM4a, junk)).durationMs).toBe(12_370);
  });

  it("rejects an MP4 with no audio track", () => {
    const video = concat(
      box("ftyp", ascii("isom"), be32(0)),
      box(
        "moov",
        box("mvhd", be32(0, 0, 0, 1000, 5000)),
        box(
          "trak",
          box("tkhd", be32(0, 0, 0, 1, 0, 5000)),
          box("mdia", box("mdhd", be32(0, 0, 0, 30, 150)), box("hdlr", be32(0, 0), ascii("vide"), be32(0, 0, 0))),
        ),
      ),
    );
    const error = inspectionError(video);
    expect(error.code).toBe("unsupported_format");
    expect(error.message).toContain("no audio track");
  });
});

describe("WEBM", () => {
  it("measures a MediaRecorder file cut short from the blocks it has", () => {
    const cut = inspect(mediaRecorderWebm.subarray(0, mediaRecorderWebm.length / 2)).durationMs;
    expect(cut).toBeGreaterThan(4000);
    expect(cut).toBeLessThan(8000);
  });

  it("measures an ffmpeg WEBM from its blocks when Duration is gone, less CodecDelay and the last block's DiscardPadding", () => {
    // Turn the 11-byte Duration element (ID 0x4489, size 0x88, 8-byte float) into a Void element (0xEC) of the same length.
    const at = offsetOf(opusWebm, "\x44\x89\x88");
    const noDuration = opusWebm.slice();
    noDuration.set([0xec, 0x89], at);
    // The source is 12.370 s; block times are whole milliseconds.
    expect(Math.abs(inspect(noDuration).durationMs - 12_370)).toBeLessThanOrEqual(2);
  });

  it("ignores zero padding after the last cluster", () => {
    expect(inspect(concat(mediaRecorderWebm, new Uint8Array(64))).durationMs).toBe(inspect(mediaRecorderWebm).durationMs);
  });

  it("says no_duration for a recording with tracks but no audio blocks", () => {
    const headerOnly = mediaRecorderWebm.subarray(0, offsetOf(mediaRecorderWebm, "\x1f\x43\xb6\x75"));
    expect(inspectionError(headerOnly)).toMatchObject({ code: "no_duration", format: "webm" });
  });

  it("rejects a file cut inside its EBML header as truncated", () => {
    expect(inspectionError(opusWebm.subarray(0, 20))).toMatchObject({ code: "truncated", format: "webm" });
  });

  it("accepts Matroska audio and rejects other EBML documents", () => {
    const docTypeAt = offsetOf(mediaRecorderWebm, "webm");
    const mka = concat(
      mediaRecorderWebm.subarray(0, docTypeAt - 1),
      new Uint8Array([0x88]),
      ascii("matroska"),
      mediaRecorderWebm.subarray(docTypeAt + 4),
    );
    mka[4] = mediaRecorderWebm[4]! + 4; // the EBML header grew by 4 bytes (size 0x9f → 0xa3)
    expect(inspect(mka)).toMatchObject({ format: "webm", durationMs: inspect(mediaRecorderWebm).durationMs });

    const other = mediaRecorderWebm.slice();
    other.set(ascii("wxyz"), docTypeAt);
    expect(inspectionError(other)).toMatchObject({ code: "unsupported_format", format: "webm" });
  });
});

describe("FLAC", () => {
  it("says no_duration when STREAMINFO's total samples is 0 (unknown)", () => {
    const unknown = flac.slice();
    unknown.fill(0, 8 + 14, 8 + 18); // total samples: low 32 bits…
    unknown[8 + 13] = unknown[8 + 13]! & 0xf0; // …and the top 4
    expect(inspectionError(unknown)).toMatchObject({ code: "no_duration", format: "flac" });
  });

  it("rejects a file cut inside STREAMINFO, or before its first frame, as truncated", () => {
    expect(inspectionError(flac.subarray(0, 30))).toMatchObject({ code: "truncated", format: "flac" });
    expect(inspectionError(flac.subarray(0, 42))).toMatchObject({ code: "truncated", format: "flac" });
  });
});
