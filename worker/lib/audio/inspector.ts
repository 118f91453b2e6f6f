import { ByteFeed, type Parser } from "./byte-feed";
import { parseWebm } from "./ebml";
import { parseFlac } from "./flac";
import { id3v2Length } from "./id3";
import { inspectionErrors } from "./inspection-error";
import { parseMp3 } from "./mp3";
import { parseMp4 } from "./mp4";
import { parseOgg } from "./ogg";
import { SNIFF_BYTES, sniffAudioFormat } from "./sniff";
import { AUDIO_MIME, type AudioFormat, type AudioInfo, type ParsedAudio } from "./types";
import { parseWav } from "./wav";

const PARSERS: Record<AudioFormat, (feed: ByteFeed) => Parser<ParsedAudio>> = {
  wav: parseWav,
  mp3: parseMp3,
  m4a: parseMp4,
  ogg: parseOgg,
  webm: parseWebm,
  flac: parseFlac,
};

export interface AudioInspector {
  /** Feeds the next chunk. Throws AudioInspectionError as soon as the bytes are known to be unusable. */
  push(chunk: Uint8Array): void;
  /** Ends the input and returns what was found; throws AudioInspectionError. */
  finish(): AudioInfo;
  /** Bytes held between pushes (a header split across chunks): stays small whatever the file's size. */
  readonly retainedBytes: number;
}

/**
 * Inspects an upload chunk by chunk, as it streams to storage: checks the magic numbers (never
 * the file name) and measures the duration, holding only a small header buffer and per-format
 * state. Chunks may be of any size; a chunk is not retained after `push` returns.
 */
export function createAudioInspector(): AudioInspector {
  const feed = new ByteFeed();
  const parser = inspect(feed);
  let sizeBytes = 0;
  let result: Omit<AudioInfo, "sizeBytes"> | null = null;
  let failure: unknown = null;
  let finished = false;

  const resume = () => {
    try {
      const step = parser.next();
      if (step.done) result = step.value;
    } catch (error) {
      failure = error;
      throw error;
    }
  };
  resume(); // runs to the first read

  return {
    push(chunk) {
      if (failure) throw failure;
      if (finished) throw new Error("push() after finish()");
      sizeBytes += chunk.length;
      // Once the duration is known (FLAC), the rest is only counted.
      if (result || chunk.length === 0) return;
      feed.push(chunk);
      try {
        if (feed.ready) resume();
      } finally {
        if (result || failure) feed.discard();
        else feed.release();
      }
    },
    finish() {
      if (failure) throw failure;
      if (!finished) {
        finished = true;
        if (!result) {
          feed.end();
          resume();
        }
      }
      if (!result) throw new Error("audio parser did not finish at the end of its input");
      return { ...result, sizeBytes };
    },
    get retainedBytes() {
      return feed.retainedBytes;
    },
  };
}

/**
 * Reads a stream to its end (typically one branch of a tee'd upload, the other going to R2) and
 * returns what it holds. On failure the stream is cancelled, so a tee does not keep buffering
 * chunks for this branch.
 */
export async function inspectAudioStream(stream: ReadableStream<Uint8Array>): Promise<AudioInfo> {
  const inspector = createAudioInspector();
  const reader = stream.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return inspector.finish();
      inspector.push(value);
    }
  } catch (error) {
    await reader.cancel(error).catch(() => {});
    throw error;
  } finally {
    reader.releaseLock();
  }
}

function* inspect(feed: ByteFeed): Parser<Omit<AudioInfo, "sizeBytes">> {
  const start = yield* feed.peekUpTo(10);
  if (start.length === 0) throw inspectionErrors.empty();
  // Skip an ID3v2 tag (cover art can make it megabytes long) without buffering it, then sniff what follows.
  const tag = id3v2Length(start);
  if (tag !== null && !(yield* feed.skip(tag))) throw inspectionErrors.truncated("mp3", "the end of its ID3 tag");
  const head = yield* feed.peekUpTo(SNIFF_BYTES);
  const format = sniffAudioFormat(head) ?? (tag !== null ? "mp3" : null);
  if (!format) throw inspectionErrors.unsupported();

  const { durationSeconds, sampleRate, channels, codec } = yield* PARSERS[format](feed);
  if (!(durationSeconds > 0) || !Number.isFinite(durationSeconds)) throw inspectionErrors.noDuration(format);
  return {
    format,
    mimeType: AUDIO_MIME[format],
    durationMs: Math.round(durationSeconds * 1000),
    ...(sampleRate ? { sampleRate } : {}),
    ...(channels ? { channels } : {}),
    ...(codec ? { codec } : {}),
  };
}
