import { describe, expect, it } from "vitest";
import { sniffAudioFormat } from "../../../worker/lib/audio";
import cbrNoXingMp3 from "../../fixtures/audio/speech-12s-cbr-noxing.mp3?bytes";
import { ascii, concat } from "./audio-builders";

describe("sniffAudioFormat", () => {
  it.each([
    ["RIFF....WAVE", "wav"],
    ["RF64....WAVE", "wav"],
    ["fLaC\0\0\0\x22", "flac"],
    ["OggS\0\x02", "ogg"],
    ["\x1a\x45\xdf\xa3\x9f\x42\x86", "webm"],
    ["\0\0\0\x1cftypM4A ", "m4a"],
    ["\0\0\0\x20ftypisom", "m4a"],
    ["ID3\x04\0\0\0\0\0\x0a", "mp3"],
  ] as const)("recognises %j as %s", (head, format) => {
    expect(sniffAudioFormat(ascii(head))).toBe(format);
  });

  it("recognises bare MPEG audio frames by two consecutive headers", () => {
    expect(sniffAudioFormat(cbrNoXingMp3.subarray(0, 4096))).toBe("mp3");
    // A lone valid-looking header followed by something else is not MP3.
    expect(sniffAudioFormat(concat(cbrNoXingMp3.subarray(0, 4), new Uint8Array(4092)))).toBeNull();
  });

  it.each([
    ["an empty head", ""],
    ["HTML", "<!doctype html><html><body>Not audio</body></html>"],
    ["text", "hello, this is a transcript"],
    ["JSON", '{"audio": "nope"}'],
    ["PNG", "\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR"],
    ["JPEG", "\xff\xd8\xff\xe0\0\x10JFIF\0"],
    ["PDF", "%PDF-1.7\n"],
    ["ZIP", "PK\x03\x04\x14\0"],
    ["AVI (RIFF but not WAVE)", "RIFF\0\0\0\0AVI LIST"],
    ["ADTS AAC (an MPEG sync with layer 0)", "\xff\xf1\x50\x80\x2e\x7f\xfc\x21"],
  ])("does not take %s for audio", (_name, head) => {
    expect(sniffAudioFormat(ascii(head))).toBeNull();
  });
});
