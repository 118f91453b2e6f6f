import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * Decodes any reference the Worker accepts (MP3, M4A/AAC, OGG Vorbis/Opus,
 * WEBM, FLAC, and WAV codecs our own reader does not handle) to mono PCM with
 * Debian's ffmpeg, as the Modal engine does. `npm run dev` and the test script
 * install ffmpeg when it is missing (dev/ensure-ffmpeg.sh).
 *
 * The bytes go through a temporary file, not a pipe: an M4A whose index (moov)
 * follows the audio can only be read by seeking.
 */
export const DECODE_RATE = 16000;
const MAX_SECONDS = 330; // a little over the Worker's 5-minute limit

export class AudioDecodeError extends Error {
  override name = "AudioDecodeError";
  /** True when ffmpeg itself is missing, not the file unreadable. */
  readonly missingDecoder: boolean;
  constructor(message: string, missingDecoder = false) {
    super(message);
    this.missingDecoder = missingDecoder;
  }
}

export type DecodedAudio = { samples: Float32Array; sampleRate: number };

export function decodeWithFfmpeg(bytes: Uint8Array, ffmpeg = process.env.FFMPEG_PATH ?? "ffmpeg"): DecodedAudio {
  const dir = mkdtempSync(join(tmpdir(), "utter-ref-"));
  try {
    const input = join(dir, "reference");
    writeFileSync(input, bytes);
    const run = spawnSync(
      ffmpeg,
      ["-nostdin", "-hide_banner", "-loglevel", "error", "-t", String(MAX_SECONDS), "-i", input, "-vn", "-ac", "1", "-ar", String(DECODE_RATE), "-f", "f32le", "pipe:1"],
      { maxBuffer: MAX_SECONDS * DECODE_RATE * 4 + 1024, stdio: ["ignore", "pipe", "pipe"] },
    );
    if (run.error) {
      const missing = (run.error as NodeJS.ErrnoException).code === "ENOENT";
      throw new AudioDecodeError(missing ? "ffmpeg is not installed (run: bash dev/ensure-ffmpeg.sh)" : run.error.message, missing);
    }
    if (run.status !== 0) {
      const why = run.stderr.toString("utf8").trim().split("\n").slice(-1)[0] ?? `exit ${run.status}`;
      throw new AudioDecodeError(`ffmpeg could not decode it: ${why}`);
    }
    const out: Buffer = run.stdout;
    // Copy into an aligned buffer: a Buffer's offset into its pool need not be a multiple of 4.
    const samples = new Float32Array(out.length >> 2);
    new Uint8Array(samples.buffer).set(out.subarray(0, samples.length * 4));
    return { samples, sampleRate: DECODE_RATE };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
