export type AudioFormat = "wav" | "mp3" | "m4a" | "ogg" | "webm" | "flac";

/** What the inspector learned from an upload's bytes. */
export interface AudioInfo {
  format: AudioFormat;
  mimeType: string;
  /** Whole milliseconds. */
  durationMs: number;
  sampleRate?: number;
  channels?: number;
  /** ffmpeg-style codec name, e.g. "pcm_s16le", "mp3", "aac", "opus", "vorbis", "flac". */
  codec?: string;
  sizeBytes: number;
}

/** The Content-Type to store each format under. */
export const AUDIO_MIME: Record<AudioFormat, string> = {
  wav: "audio/wav",
  mp3: "audio/mpeg",
  m4a: "audio/mp4",
  ogg: "audio/ogg",
  webm: "audio/webm",
  flac: "audio/flac",
};

/** What a format parser returns; the inspector adds format, MIME type and size. */
export interface ParsedAudio {
  durationSeconds: number;
  sampleRate?: number;
  channels?: number;
  codec?: string;
}
