// The live player's stream rules (app/lib/live-stream.ts): pure, so they are pinned here without a browser.
// Frames and segment artifacts in every order must come out as one stream with no gap and no repeat.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
// Node strips the types of the .ts module it imports (see task-state.test.mjs).
import { decodeLiveFrame, decodeLiveFrames, LivePlayout, LiveStream, pcmFromWav, StreamPeaks } from "../../app/lib/live-stream.ts";
import { encodeFrame, encodeFrameBatch } from "../../worker/engine/frames.ts";

/** A job's audio: segments of the given lengths, sample value = its stream position (mod 30000) so any repeat or gap shows. */
function job(lengths, frameSamples = 100) {
  const segments = [];
  const frames = [];
  let stream = 0;
  let frame = 0;
  lengths.forEach((length, index) => {
    const samples = Int16Array.from({ length }, (_, i) => (stream + i) % 30000);
    segments.push(samples);
    for (let at = 0; at < length; at += frameSamples) {
      const piece = samples.subarray(at, Math.min(length, at + frameSamples));
      frames.push({
        segment: index,
        frame: frame++,
        segmentOffset: at,
        streamOffset: stream + at,
        lastInSegment: at + frameSamples >= length,
        samples: piece,
      });
    }
    stream += length;
  });
  return { segments, frames, total: stream };
}

/** Everything handed out, checked to be contiguous from 0, as one array. */
function play(chunks, out = { next: 0, samples: [] }) {
  for (const c of chunks) {
    assert.equal(c.start, out.next, `chunk at ${c.start} continues the stream at ${out.next} (no gap, no repeat)`);
    out.samples.push(...c.samples);
    out.next += c.samples.length;
  }
  return out;
}

const expected = (total) => Array.from({ length: total }, (_, i) => i % 30000);

describe("live stream from frames and segment artifacts", () => {
  test("frames in order play as they come, before any segment artifact", () => {
    const { frames, total } = job([1000, 750]);
    const live = new LiveStream();
    const heard = play(live.addFrame(frames[0]));
    assert.equal(heard.next, 100, "the first frame is playable at once");
    for (const f of frames.slice(1)) play(live.addFrame(f), heard);
    assert.deepEqual(heard.samples, expected(total));
    assert.equal(live.needsSegment(0), false, "nothing to fetch when the frames brought it all");
    assert.equal(live.needsSegment(1), false);
    assert.equal(live.segmentsDone(), 2);
  });

  test("frames out of order and duplicated still play once, in order", () => {
    const { frames, total } = job([640, 333, 900], 64);
    const order = [...frames].reverse();
    order.splice(3, 0, frames[5], frames[5], frames[0]);
    const live = new LiveStream();
    const heard = { next: 0, samples: [] };
    for (const f of order) play(live.addFrame(f), heard);
    for (const f of frames) play(live.addFrame(f), heard); // every frame again, as after a resend
    assert.deepEqual(heard.samples, expected(total));
  });

  test("a hole left by a reconnect is filled from the segment artifact, and frames after it do not repeat", () => {
    const { frames, segments, total } = job([1000, 1000, 1000]);
    const live = new LiveStream();
    const heard = { next: 0, samples: [] };
    // Frames 0–12 arrive, the socket drops, frames 13–17 are lost, the live tail resumes at 18.
    for (const f of frames.slice(0, 13)) play(live.addFrame(f), heard);
    for (const f of frames.slice(18)) play(live.addFrame(f), heard);
    assert.equal(heard.next, 1300, "playback waits at the hole");
    assert.equal(live.needsSegment(0), false);
    assert.equal(live.needsSegment(1), true, "the segment with the hole must be fetched");
    assert.equal(live.needsSegment(2), false);
    play(live.addSegment(1, segments[1]), heard);
    assert.deepEqual(heard.samples, expected(total));
  });

  test("a listener that joins late hears the earlier segments from artifacts, then the live tail, once", () => {
    const { frames, segments, total } = job([500, 700, 900]);
    const live = new LiveStream();
    const heard = { next: 0, samples: [] };
    const tail = frames.filter((f) => f.streamOffset >= 500 + 300);
    for (const f of tail) play(live.addFrame(f), heard);
    assert.equal(heard.next, 0);
    assert.ok(live.needsSegment(0) && live.needsSegment(1));
    play(live.addSegment(1, segments[1]), heard); // segment 1 lands first: held until segment 0 places it
    assert.equal(heard.next, 0);
    play(live.addSegment(0, segments[0]), heard);
    assert.deepEqual(heard.samples, expected(total));
    // A segment artifact that arrives after its frames were played adds nothing.
    assert.deepEqual(live.addSegment(2, segments[2]), []);
  });

  test("a v1 engine (no frames): segments play back to back whatever order they arrive in", () => {
    const { segments, total } = job([300, 200, 400, 100]);
    const live = new LiveStream();
    const heard = { next: 0, samples: [] };
    for (const i of [0, 1, 2, 3]) assert.equal(live.needsSegment(i), true);
    for (const i of [2, 0, 3, 0, 1]) play(live.addSegment(i, segments[i]), heard);
    assert.deepEqual(heard.samples, expected(total));
    assert.equal(live.segmentsDone(), 4);
    assert.equal(live.framesReceived, 0);
  });

  test("frames overlapping a segment artifact already played are trimmed, not repeated", () => {
    const { frames, segments, total } = job([1000, 1000]);
    const live = new LiveStream();
    const heard = play(live.addSegment(0, segments[0]));
    for (const f of frames) play(live.addFrame(f), heard);
    assert.deepEqual(heard.samples, expected(total));
  });
});

/**
 * Plays a job through `LivePlayout` as the player does, on a simulated clock (no real time passes):
 * every 100 ms tick the engine sends `speed` × 100 ms of frames (a v2 engine) and announces each
 * segment once its last frame is out, or only announces segments (v1); a requested segment
 * artifact arrives `fetchMs` later; the timeline schedules each handed-out run where the last one
 * ends (or at once after an underrun) and plays in real time. Checks every run continues the
 * stream, and records the most audio ever scheduled ahead and held.
 */
function simulate({ lengths, rate, sizes, speed, v1 = false, fetchMs = 300, lose = () => false }) {
  const { segments, frames, total } = job(lengths, rate / 20);
  const playout = new LivePlayout(sizes);
  const tickMs = 100;
  let t = 0; // seconds on the audio clock
  let timelineStart = null;
  let timelineEnd = 0;
  let next = 0; // stream position heard-checked so far
  let underruns = 0;
  const peak = { ahead: 0, held: 0, inFlight: 0 };
  const fetched = [];
  const arriving = []; // [due (s), index]
  const schedule = (chunks) => {
    for (const c of chunks) {
      assert.equal(c.start, next, `run at ${c.start} continues the stream at ${next}`);
      for (let i = 0; i < c.samples.length; i += 997) assert.equal(c.samples[i], (c.start + i) % 30000, `sample ${c.start + i}`);
      next += c.samples.length;
      let start = timelineEnd;
      if (timelineStart === null || start < t) {
        if (timelineStart !== null) underruns += 1;
        start = t;
        timelineStart ??= start;
      }
      timelineEnd = start + c.samples.length / rate;
    }
  };
  let sent = 0; // frames or segments the engine has produced
  const perTick = Math.round((speed * tickMs) / 50); // 50 ms frames
  for (let step = 0; step < 1e6 && (next < total || t < timelineEnd); step++) {
    t = (step * tickMs) / 1000;
    // The engine.
    if (v1) {
      if (sent < segments.length && step % Math.max(1, Math.round(lengths[sent] / rate / speed / (tickMs / 1000))) === 0) {
        playout.announce(sent);
        sent += 1;
      }
    } else {
      for (let n = 0; n < perTick && sent < frames.length; n++, sent++) {
        const f = frames[sent];
        if (!lose(f)) schedule(playout.addFrame(f));
        if (f.lastInSegment) playout.announce(f.segment);
      }
    }
    // Artifacts that arrive now.
    for (let i = arriving.length - 1; i >= 0; i--) {
      if (arriving[i][0] > t) continue;
      const [, index] = arriving.splice(i, 1)[0];
      schedule(playout.addSegment(index, segments[index]));
    }
    // The player's tick: top up the window, fetch what is due.
    schedule(playout.pump(Math.round(Math.max(0, timelineEnd - t) * rate)));
    for (const index of playout.toFetch()) {
      fetched.push(index);
      arriving.push([t + fetchMs / 1000, index]);
    }
    peak.ahead = Math.max(peak.ahead, timelineEnd - t);
    peak.held = Math.max(peak.held, playout.stream.heldSamples());
    peak.inFlight = Math.max(peak.inFlight, arriving.length);
  }
  return { total, next, underruns, peak, fetched, dropped: playout.stream.framesDropped, endT: t, timelineStart };
}

describe("a long stream arriving much faster than real time (the windowed player, ADR 0028)", () => {
  const rate = 1000; // samples per second, small so the hour below is quick to check
  const sizes = { windowSamples: 20 * rate, holdSamples: 30 * rate, fetchAheadSamples: 30 * rate };
  const lengths = Array.from({ length: 100 }, (_, i) => (i === 0 ? 4 : 30 + (i % 9)) * rate); // ~57 min

  test("v2 at 100× real time: at most the window scheduled and the hold held, every sample once, in order, no underrun", () => {
    const r = simulate({ lengths, rate, sizes, speed: 100 });
    assert.equal(r.next, r.total, "the whole stream was handed out");
    assert.equal(r.underruns, 0, "no gap: the artifacts of dropped frames arrived before they were due");
    assert.ok(r.peak.ahead <= 20 + 1e-9, `scheduled ahead at most the 20 s window (peak ${r.peak.ahead.toFixed(2)} s)`);
    const maxSegment = Math.max(...lengths);
    assert.ok(
      r.peak.held <= sizes.holdSamples + sizes.windowSamples + 2 * maxSegment,
      `held at most hold + window + two segments, not the hour (peak ${(r.peak.held / rate).toFixed(1)} s of ${(r.total / rate).toFixed(0)} s)`,
    );
    assert.ok(r.dropped > 0, "frames far ahead of the listener were dropped");
    assert.ok(r.fetched.length > 80 && r.fetched.length < lengths.length, `the segments beyond the hold were fetched back (${r.fetched.length})`);
    assert.deepEqual([...r.fetched].sort((a, b) => a - b), r.fetched, "fetched in stream order, as playback neared each");
    assert.equal(new Set(r.fetched).size, r.fetched.length, "each at most once");
    assert.ok(r.endT >= r.total / rate, "played in real time");
  });

  test("v1 (segments only) announced far ahead: fetched a couple at a time as playback nears them, back to back", () => {
    const r = simulate({ lengths, rate, sizes, speed: 100, v1: true });
    assert.equal(r.next, r.total);
    assert.equal(r.underruns, 0);
    assert.equal(r.fetched.length, lengths.length, "a v1 engine's every segment is fetched");
    assert.ok(r.peak.inFlight <= 3, `at most three fetches at once (${r.peak.inFlight})`);
    const maxSegment = Math.max(...lengths);
    assert.ok(r.peak.held <= sizes.fetchAheadSamples + sizes.windowSamples + 3 * maxSegment, `held ${(r.peak.held / rate).toFixed(1)} s`);
    assert.ok(r.timelineStart <= 0.5, "the first segment is fetched at once (first audio not later)");
  });

  test("a real-time engine: nothing dropped, nothing fetched, the window follows the engine", () => {
    const r = simulate({ lengths: lengths.slice(0, 6), rate, sizes, speed: 1 });
    assert.equal(r.next, r.total);
    assert.equal(r.dropped, 0);
    assert.deepEqual(r.fetched, []);
    assert.ok(r.timelineStart <= 0.2, "the first frame plays at once");
  });

  test("frames lost in a reconnect, far ahead and near: the holes come from artifacts, nothing twice", () => {
    // A socket drop loses frames of segment 1 (near the start) and of segment 60 (an hour's middle).
    const lose = (f) => (f.segment === 1 && f.segmentOffset > 5000 && f.segmentOffset < 9000) || (f.segment === 60 && f.segmentOffset < 2000);
    const r = simulate({ lengths, rate, sizes, speed: 100, lose });
    assert.equal(r.next, r.total);
    assert.equal(r.underruns, 0);
    assert.ok(r.fetched.includes(1) && r.fetched.includes(60));
  });

  test("the stream hands out nothing past what `allow` lets through, and a dropped frame is still placed", () => {
    const { frames, segments, total } = job([1000, 1000, 1000]);
    const live = new LiveStream({ holdSamples: 900, handOutTo: 250 });
    const heard = { next: 0, samples: [] };
    for (const f of frames) play(live.addFrame(f), heard);
    assert.equal(heard.next, 250, "up to the limit only");
    assert.equal(live.heldSamples(), 950, "the rest of the frame cut at the limit, and the frames that start within 900 past it");
    assert.ok(live.framesDropped > 0);
    assert.equal(live.segmentStartOf(2), 2000, "a dropped frame's header still places its segment");
    assert.equal(live.needsSegment(0), false);
    assert.equal(live.needsSegment(1), true, "dropped frames make their segment needed");
    play(live.allow(Infinity), heard);
    assert.equal(heard.next, 1200, "then up to the first dropped frame");
    play(live.addSegment(1, segments[1]), heard);
    play(live.addSegment(2, segments[2]), heard);
    assert.deepEqual(heard.samples, expected(total));
    assert.equal(live.heldSamples(), 0);
  });
});

describe("frame and WAV decoding", () => {
  const fixture = JSON.parse(readFileSync(new URL("../fixtures/engine-protocol/v2/frames.json", import.meta.url), "utf8"));
  for (const f of fixture.valid) {
    test(`decodes the shared fixture: ${f.description}`, () => {
      const bytes = Buffer.from(f.hex, "hex");
      const frame = decodeLiveFrame(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
      assert.deepEqual(
        {
          segment: frame.segment,
          frame: frame.frame,
          segment_offset: frame.segmentOffset,
          stream_offset: frame.streamOffset,
          last_in_segment: frame.lastInSegment,
          samples: [...frame.samples],
        },
        {
          segment: f.decoded.segment,
          frame: f.decoded.frame,
          segment_offset: f.decoded.segment_offset,
          stream_offset: f.decoded.stream_offset,
          last_in_segment: f.decoded.last_in_segment,
          samples: f.decoded.samples,
        },
      );
    });
  }
  for (const f of fixture.invalid) {
    test(`ignores the invalid fixture: ${f.description}`, () => {
      const bytes = Buffer.from(f.hex, "hex");
      assert.equal(decodeLiveFrame(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length)), null);
    });
  }

  test("reads each frame of a batch message, in order, and a single frame as one (ADR 0027)", () => {
    const frames = [0, 1, 2].map((n) => encodeFrame({ segment: 0, frame: n, segment_offset: n * 3, stream_offset: n * 3 }, [n, -n, 7]));
    const got = decodeLiveFrames(encodeFrameBatch(frames));
    assert.deepEqual(got.map((f) => [f.frame, f.streamOffset, [...f.samples]]), [[0, 0, [0, 0, 7]], [1, 3, [1, -1, 7]], [2, 6, [2, -2, 7]]]);
    assert.deepEqual(decodeLiveFrames(frames[1].buffer).map((f) => f.frame), [1]);
    // A batch cut short is ignored whole.
    assert.deepEqual(decodeLiveFrames(encodeFrameBatch(frames).slice(0, 20)), []);
  });

  test("reads a 16-bit PCM WAV's samples and rate exactly", () => {
    const samples = Int16Array.from([0, 1, -1, 32767, -32768, 1234]);
    const wav = new ArrayBuffer(44 + samples.length * 2);
    const v = new DataView(wav);
    const put = (at, s) => [...s].forEach((c, i) => v.setUint8(at + i, c.charCodeAt(0)));
    put(0, "RIFF");
    v.setUint32(4, 36 + samples.length * 2, true);
    put(8, "WAVE");
    put(12, "fmt ");
    v.setUint32(16, 16, true);
    v.setUint16(20, 1, true);
    v.setUint16(22, 1, true);
    v.setUint32(24, 24000, true);
    v.setUint32(28, 48000, true);
    v.setUint16(32, 2, true);
    v.setUint16(34, 16, true);
    put(36, "data");
    v.setUint32(40, samples.length * 2, true);
    samples.forEach((s, i) => v.setInt16(44 + i * 2, s, true));
    const pcm = pcmFromWav(wav);
    assert.equal(pcm.sampleRate, 24000);
    assert.deepEqual([...pcm.samples], [...samples]);
    assert.equal(pcmFromWav(new ArrayBuffer(8)), null);
  });

  test("peaks per bin follow what arrived", () => {
    const peaks = new StreamPeaks(10);
    peaks.add(15, Int16Array.from([16384, -32768]));
    assert.deepEqual(peaks.peaks, [0, 1]);
  });
});
