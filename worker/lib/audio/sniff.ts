import { id3v2Length } from "./id3";
import { parseMpegFrameHeader, sameMpegStream } from "./mpeg-audio-header";
import type { AudioFormat } from "./types";

/** How many leading bytes `sniffAudioFormat` wants (it can confirm an MP3 by its second frame header). */
export const SNIFF_BYTES = 4096;

function ascii(b: Uint8Array, at: number, text: string): boolean {
  if (at + text.length > b.length) return false;
  for (let i = 0; i < text.length; i++) if (b[at + i] !== text.charCodeAt(i)) return false;
  return true;
}

/**
 * The audio format the leading bytes of a file announce (magic numbers, never the file name),
 * or null. Give it the first SNIFF_BYTES bytes, or the whole file if it is shorter.
 */
export function sniffAudioFormat(head: Uint8Array): AudioFormat | null {
  if ((ascii(head, 0, "RIFF") || ascii(head, 0, "RF64")) && ascii(head, 8, "WAVE")) return "wav";
  // A RIFF file too short to name its form type is most likely a WAV cut short (the parser then says so).
  if (ascii(head, 0, "RIFF") && head.length < 12) return "wav";
  if (ascii(head, 0, "fLaC")) return "flac";
  if (ascii(head, 0, "OggS")) return "ogg";
  if (head[0] === 0x1a && head[1] === 0x45 && head[2] === 0xdf && head[3] === 0xa3) return "webm"; // EBML: WEBM or Matroska
  if (ascii(head, 4, "ftyp")) return "m4a";
  const tag = id3v2Length(head);
  if (tag !== null) {
    // An ID3v2 tag is almost always followed by MP3 frames, sometimes by FLAC. Past the head, assume MP3.
    return tag < head.length ? (sniffAudioFormat(head.subarray(tag)) ?? "mp3") : "mp3";
  }
  return startsWithMpegFrames(head) ? "mp3" : null;
}

/** A valid MPEG audio frame header at 0 and, when the head holds it, a matching one right after the frame. */
function startsWithMpegFrames(head: Uint8Array): boolean {
  const first = parseMpegFrameHeader(head, 0);
  if (!first) return false;
  if (head.length < first.frameLength + 4) return true;
  const second = parseMpegFrameHeader(head, first.frameLength);
  return second !== null && sameMpegStream(first, second);
}
