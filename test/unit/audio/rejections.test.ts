import { describe, expect, it } from "vitest";
import { AudioInspectionError, createAudioInspector, inspectAudioStream } from "../../../worker/lib/audio";
import { ascii, inspectionError, streamOf } from "./audio-builders";

const UNSUPPORTED = "This file is not a supported audio format (we accept WAV, MP3, M4A, OGG, WEBM and FLAC).";

describe("rejecting what is not usable audio", () => {
  it("says a zero-byte upload is empty", () => {
    const error = inspectionError(new Uint8Array(0));
    expect(error).toMatchObject({ code: "empty", message: "The file is empty.", name: "AudioInspectionError" });
  });

  it("rejects an HTML page (a saved error page, say) as an unsupported format", () => {
    const html = ascii(`<!DOCTYPE html><html><head><title>404</title></head><body>${"x".repeat(10_000)}</body></html>`);
    expect(inspectionError(html)).toMatchObject({ code: "unsupported_format", format: null, message: UNSUPPORTED });
  });

  it.each([
    ["a text file", ascii("WEBVTT\n\n00:00.000 --> 00:12.000\nhello")],
    ["a file of zero bytes' worth of zeros", new Uint8Array(5000)],
    ["a file of 0xFF bytes", new Uint8Array(5000).fill(0xff)],
  ])("rejects %s as an unsupported format", (_name, bytes) => {
    expect(inspectionError(bytes).code).toBe("unsupported_format");
  });

  it("throws from push as soon as the first chunk shows the bytes are not audio, and keeps throwing", () => {
    const inspector = createAudioInspector();
    const page = ascii("<html>" + " ".repeat(5000));
    expect(() => inspector.push(page)).toThrow(AudioInspectionError);
    expect(() => inspector.push(page)).toThrow(UNSUPPORTED);
    expect(() => inspector.finish()).toThrow(UNSUPPORTED);
  });

  it("cancels the stream it reads when the bytes are rejected, so a tee stops buffering for it", async () => {
    let cancelled: unknown = null;
    const parts = (function* () {
      for (;;) yield ascii("<html>" + " ".repeat(8000));
    })();
    const rejection = inspectAudioStream(streamOf(parts, (reason) => (cancelled = reason)));
    await expect(rejection).rejects.toMatchObject({ code: "unsupported_format" });
    expect(cancelled).toBeInstanceOf(AudioInspectionError);
  });

  it("gives every error a sentence a person can act on", () => {
    const samples = [new Uint8Array(0), ascii("<html>"), ascii("RIFF\x10\0\0\0WAVEfmt ")];
    for (const bytes of samples) {
      const { message } = inspectionError(bytes);
      expect(message).toMatch(/^[A-Z].{10,}\.$/);
      expect(message).not.toMatch(/undefined|null|NaN|\bat \w+ \(/);
    }
  });
});
