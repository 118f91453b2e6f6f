import type { ByteFeed, Parser } from "./byte-feed";
import { inspectionErrors } from "./inspection-error";
import { parseMpegFrameHeader, sameMpegStream, type MpegFrameHeader } from "./mpeg-audio-header";
import type { ParsedAudio } from "./types";

/** The longest MPEG audio frame (Layer II, MPEG-2.5, 160 kbit/s, 8 kHz, padded) plus the next header. */
const LOOKAHEAD = 2881 + 4;
const SCAN_WINDOW = 4 * LOOKAHEAD;
/** How far past the start (or the ID3v2 tag) the first frame may be. */
const FIRST_FRAME_WITHIN = 64 * 1024;
/** How far the frames present may fall short of a Xing/VBRI frame count (encoders differ by a frame or two). */
const CLAIM_TOLERANCE = 0.02;

/**
 * MP3 (MPEG audio Layers I–III; the inspector has already skipped any ID3v2 tag). The duration
 * comes from counting frames to the end, which is right for CBR and VBR alike; a Xing/Info or VBRI
 * header's frame count is checked against that count, and a file holding less than its header
 * announces is refused as truncated. Trailing tags (ID3v1, APE) and
 * damaged stretches are skipped by resynchronising on two consecutive matching frame headers.
 */
export function* parseMp3(feed: ByteFeed): Parser<ParsedAudio> {
  const first = yield* findFrame(feed, null, FIRST_FRAME_WITHIN);
  if (!first) throw inspectionErrors.unsupported("mp3");
  const info = { sampleRate: first.sampleRate, channels: first.channels, codec: `mp${first.layer}` };

  const firstFrame = yield* feed.peekUpTo(first.frameLength);
  const tag = readVbrTag(firstFrame, first);
  // A tag frame is silence, not audio: step over it and count the rest. Its frame count is only a
  // claim: a file cut short keeps the header of the whole, so trusting it would let a 3 s upload
  // pass as 12 s. The frames actually present are counted, and must add up to the claim.
  if (tag) yield* feed.skip(first.frameLength);

  let frames = 0;
  for (;;) {
    const bytes = feed.tryPeek(4) ?? (yield* feed.peek(4));
    if (!bytes) break;
    let frame = parseMpegFrameHeader(bytes);
    if (!frame || !sameMpegStream(frame, first)) {
      frame = yield* findFrame(feed, first, Infinity);
      if (!frame) break;
    }
    feed.advance(frame.frameLength);
    // A last frame cut short does not count.
    if (!feed.settled && !(yield* feed.skip(0))) break;
    frames++;
  }
  if (frames === 0) throw inspectionErrors.truncated("mp3", "its first complete audio frame");
  const seconds = (n: number) => (n * first.samplesPerFrame) / first.sampleRate;
  if (tag?.frames && frames < tag.frames * (1 - CLAIM_TOLERANCE) - 2) {
    throw inspectionErrors.truncated("mp3", `the ${seconds(tag.frames).toFixed(1)} s its header announces (only ${seconds(frames).toFixed(1)} s are there)`);
  }
  return { durationSeconds: seconds(frames), ...info };
}

/**
 * Advances to the next frame header that is followed by a matching header one frame later (or by
 * the end of the stream), so a stray 0xFF in a tag or damaged data is not taken for a frame.
 * Returns null, having consumed what it searched, if none starts within `limit` bytes.
 */
function* findFrame(feed: ByteFeed, like: MpegFrameHeader | null, limit: number): Parser<MpegFrameHeader | null> {
  const start = feed.position;
  for (;;) {
    const view = yield* feed.peekUpTo(SCAN_WINDOW);
    const atEnd = view.length < SCAN_WINDOW;
    // Candidates whose lookahead does not fit in this window are tried again in the next one.
    const scanEnd = atEnd ? view.length - 3 : view.length - LOOKAHEAD;
    for (let i = view.indexOf(0xff); i >= 0 && i < scanEnd; i = view.indexOf(0xff, i + 1)) {
      if (feed.position + i - start > limit) break;
      const frame = parseMpegFrameHeader(view, i);
      if (!frame || (like && !sameMpegStream(frame, like))) continue;
      const next = i + frame.frameLength;
      const confirmed = next + 4 <= view.length ? parseMpegFrameHeader(view, next) : null;
      if ((confirmed && sameMpegStream(frame, confirmed)) || (atEnd && next + 4 > view.length)) {
        feed.advance(i);
        return frame;
      }
    }
    if (atEnd || feed.position + Math.max(scanEnd, 0) - start > limit) {
      feed.advance(view.length);
      return null;
    }
    feed.advance(scanEnd);
  }
}

/** The Xing/Info (LAME and most encoders) or VBRI (Fraunhofer) header in the first frame. */
function readVbrTag(frame: Uint8Array, header: MpegFrameHeader): { frames: number | null } | null {
  const view = new DataView(frame.buffer, frame.byteOffset, frame.length);
  // Xing sits after the side information, whose size depends on version and channel count.
  const sideInfo = header.version === 1 ? (header.channels === 1 ? 17 : 32) : header.channels === 1 ? 9 : 17;
  const xing = 4 + sideInfo;
  if (frame.length >= xing + 8) {
    const id = String.fromCharCode(...frame.subarray(xing, xing + 4));
    if (id === "Xing" || id === "Info") {
      const hasFrames = (view.getUint32(xing + 4) & 1) !== 0 && frame.length >= xing + 12;
      return { frames: hasFrames ? view.getUint32(xing + 8) : null };
    }
  }
  const vbri = 4 + 32;
  if (frame.length >= vbri + 18 && String.fromCharCode(...frame.subarray(vbri, vbri + 4)) === "VBRI") {
    return { frames: view.getUint32(vbri + 14) };
  }
  return null;
}
