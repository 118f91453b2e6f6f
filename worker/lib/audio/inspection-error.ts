import type { AudioFormat } from "./types";

export type AudioInspectionErrorCode = "unsupported_format" | "empty" | "truncated" | "corrupt" | "no_duration";

const FORMAT_NAMES: Record<AudioFormat, string> = { wav: "WAV", mp3: "MP3", m4a: "M4A", ogg: "OGG", webm: "WEBM", flac: "FLAC" };

/** Why an upload is not usable audio, in a sentence the uploader can act on. */
export class AudioInspectionError extends Error {
  readonly code: AudioInspectionErrorCode;
  /** The format the bytes looked like, when they got that far. */
  readonly format: AudioFormat | null;

  constructor(code: AudioInspectionErrorCode, message: string, format: AudioFormat | null = null) {
    super(message);
    this.name = "AudioInspectionError";
    this.code = code;
    this.format = format;
  }
}

export const inspectionErrors = {
  empty: () => new AudioInspectionError("empty", "The file is empty."),
  unsupported: (format: AudioFormat | null = null, reason?: string) =>
    new AudioInspectionError(
      "unsupported_format",
      reason ?? "This file is not a supported audio format (we accept WAV, MP3, M4A, OGG, WEBM and FLAC).",
      format,
    ),
  /** `missing` completes "it ends before …", e.g. "its format header". */
  truncated: (format: AudioFormat, missing: string) =>
    new AudioInspectionError(
      "truncated",
      `This ${FORMAT_NAMES[format]} file is incomplete: it ends before ${missing}. Export or upload it again.`,
      format,
    ),
  corrupt: (format: AudioFormat, detail: string) =>
    new AudioInspectionError("corrupt", `This ${FORMAT_NAMES[format]} file is damaged (${detail}), so it cannot be used.`, format),
  noDuration: (format: AudioFormat) =>
    new AudioInspectionError(
      "no_duration",
      `We could not tell how long this ${FORMAT_NAMES[format]} file is. Try exporting it as WAV or MP3.`,
      format,
    ),
};
