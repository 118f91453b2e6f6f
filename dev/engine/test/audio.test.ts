import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { crossfadeConcat, DEFAULT_LOUDNESS, durationMs, fadeEdges, gatedRms, normaliseLoudness, peak, resample } from "../audio-dsp.ts";
import { crossfadeSamples } from "../job-runner.ts";
import { decodeWav, encodeWav, isWav, WAV_HEADER_BYTES, WavFormatError } from "../wav-codec.ts";

const sine = (hz: number, seconds: number, rate: number, amp = 0.5) =>
  Float32Array.from({ length: Math.round(seconds * rate) }, (_, i) => amp * Math.sin((2 * Math.PI * hz * i) / rate));

/** Builds a WAV by hand, for formats the encoder does not write. */
function rawWav(opts: { channels: number; rate: number; bits: number; tag?: number; frames: number[][] }): Uint8Array {
  const bytesPerSample = opts.bits / 8;
  const data = opts.frames.length * opts.channels * bytesPerSample;
  const buf = Buffer.alloc(44 + data);
  buf.write("RIFF", 0);
  buf.writeUInt32LE(36 + data, 4);
  buf.write("WAVEfmt ", 8);
  buf.writeUInt32LE(16, 16);
  buf.writeUInt16LE(opts.tag ?? 1, 20);
  buf.writeUInt16LE(opts.channels, 22);
  buf.writeUInt32LE(opts.rate, 24);
  buf.writeUInt32LE(opts.rate * opts.channels * bytesPerSample, 28);
  buf.writeUInt16LE(opts.channels * bytesPerSample, 32);
  buf.writeUInt16LE(opts.bits, 34);
  buf.write("data", 36);
  buf.writeUInt32LE(data, 40);
  let o = 44;
  for (const frame of opts.frames) {
    for (const v of frame) {
      if (opts.tag === 3) buf.writeFloatLE(v, o);
      else if (opts.bits === 16) buf.writeInt16LE(Math.round(v * 32767), o);
      else if (opts.bits === 24) buf.writeIntLE(Math.round(v * 8388607), o, 3);
      o += bytesPerSample;
    }
  }
  return new Uint8Array(buf);
}

describe("WAV codec", () => {
  it("round-trips PCM 16-bit mono with a 44-byte header", () => {
    const samples = sine(440, 0.1, 24000);
    const wav = encodeWav(samples, 24000);
    assert.equal(wav.length, WAV_HEADER_BYTES + samples.length * 2);
    assert.ok(isWav(wav));
    const back = decodeWav(wav);
    assert.equal(back.sampleRate, 24000);
    assert.equal(back.channels, 1);
    assert.equal(back.samples.length, samples.length);
    for (let i = 0; i < samples.length; i += 97) assert.ok(Math.abs(back.samples[i]! - samples[i]!) < 1e-4);
  });

  it("clips out-of-range samples instead of wrapping", () => {
    const back = decodeWav(encodeWav(Float32Array.from([2, -2]), 8000)).samples;
    assert.ok(back[0]! > 0.99 && back[1]! < -0.99);
  });

  it("mixes stereo down to mono and reads 24-bit and float", () => {
    const stereo = decodeWav(
      rawWav({
        channels: 2,
        rate: 44100,
        bits: 16,
        frames: [
          [0.5, -0.5],
          [0.5, 0.5],
        ],
      }),
    );
    assert.equal(stereo.sampleRate, 44100);
    assert.deepEqual(
      Array.from(stereo.samples, (v) => Math.round(v * 100) / 100),
      [0, 0.5],
    );
    const deep = decodeWav(rawWav({ channels: 1, rate: 48000, bits: 24, frames: [[0.25]] }));
    assert.ok(Math.abs(deep.samples[0]! - 0.25) < 1e-5);
    const float = decodeWav(rawWav({ channels: 1, rate: 48000, bits: 32, tag: 3, frames: [[-0.75]] }));
    assert.equal(float.samples[0], -0.75);
  });

  it("reads the repository's 8 kHz speech fixture", () => {
    const wav = decodeWav(new Uint8Array(readFileSync(new URL("../../../test/fixtures/audio/speech-12s.wav", import.meta.url))));
    assert.equal(wav.sampleRate, 8000);
    assert.ok(Math.abs(wav.samples.length / 8000 - 12.37) < 0.05);
  });

  it("rejects files that are not PCM WAV", () => {
    assert.throws(() => decodeWav(new TextEncoder().encode("ID3 not a wav at all")), WavFormatError);
    assert.throws(() => decodeWav(rawWav({ channels: 1, rate: 8000, bits: 16, tag: 85, frames: [[0]] })), WavFormatError);
  });
});

describe("resample", () => {
  it("produces exactly round(n × to / from) samples and keeps a tone's frequency and level", () => {
    const input = sine(440, 1, 22050);
    for (const rate of [8000, 16000, 24000, 44100, 48000]) {
      const out = resample(input, 22050, rate);
      assert.equal(out.length, Math.round((input.length * rate) / 22050));
      // Level: RMS of a 0.5 sine is 0.354 (edges excluded).
      const mid = out.subarray(rate / 10, out.length - rate / 10);
      const rms = Math.sqrt(mid.reduce((a, v) => a + v * v, 0) / mid.length);
      assert.ok(Math.abs(rms - 0.3536) < 0.01, `rms ${rms} at ${rate}`);
      // Frequency: count upward zero crossings over the middle.
      let crossings = 0;
      for (let i = 1; i < mid.length; i++) if (mid[i - 1]! < 0 && mid[i]! >= 0) crossings++;
      assert.ok(Math.abs(crossings / (mid.length / rate) - 440) < 3, `${crossings} crossings at ${rate}`);
    }
  });

  it("removes content above the new Nyquist frequency instead of aliasing it", () => {
    const out = resample(sine(7000, 0.5, 22050), 22050, 8000); // 7 kHz cannot exist at 8 kHz
    assert.ok(peak(out.subarray(400, out.length - 400)) < 0.05, `peak ${peak(out)}`);
  });
});

describe("crossfadeConcat", () => {
  it("makes the final length the sum of the segments minus one crossfade per join", () => {
    const rate = 24000;
    const fade = crossfadeSamples(rate);
    assert.equal(fade, 240); // 10 ms
    const segments = [sine(200, 1.234, rate), sine(300, 0.5, rate), sine(250, 2.001, rate)];
    const out = crossfadeConcat(segments, fade);
    assert.equal(out.length, segments.reduce((n, s) => n + s.length, 0) - 2 * fade);
    const sumMs = segments.reduce((n, s) => n + durationMs(s.length, rate), 0);
    assert.ok(Math.abs(durationMs(out.length, rate) - (sumMs - 2 * 10)) <= 1);
  });

  it("passes a steady signal through a join unchanged (fade gains sum to one)", () => {
    const ones = () => new Float32Array(1000).fill(0.5);
    const out = crossfadeConcat([ones(), ones()], 100);
    assert.equal(out.length, 1900);
    for (let i = 0; i < out.length; i++) assert.ok(Math.abs(out[i]! - 0.5) < 1e-6, `sample ${i} = ${out[i]}`);
  });

  it("fades the outgoing segment out and the incoming one in across the overlap", () => {
    const out = crossfadeConcat([new Float32Array(200).fill(1), new Float32Array(200)], 100);
    assert.equal(out[99], 1); // before the overlap
    assert.ok(out[100]! > 0.99 && out[150]! > 0.4 && out[150]! < 0.6 && out[199]! < 0.01);
    assert.equal(out[250], 0);
  });

  it("refuses a segment shorter than the crossfade", () => {
    assert.throws(() => crossfadeConcat([new Float32Array(10), new Float32Array(500)], 100), RangeError);
  });
});

describe("fadeEdges", () => {
  it("ramps the first and last samples without changing the length", () => {
    const out = fadeEdges(new Float32Array(100).fill(1), 10);
    assert.equal(out.length, 100);
    assert.ok(out[0]! < 0.1 && out[99]! < 0.1 && out[9]! > 0.9 && out[50] === 1);
  });
});

describe("normaliseLoudness", () => {
  it("brings quiet and loud speech to the same level", () => {
    const quiet = normaliseLoudness(sine(200, 1, 16000, 0.02), 16000);
    const loud = normaliseLoudness(sine(200, 1, 16000, 0.9), 16000);
    const target = 10 ** (DEFAULT_LOUDNESS.targetDbfs / 20);
    assert.ok(Math.abs(gatedRms(quiet, 16000) - target) < 0.002);
    assert.ok(Math.abs(gatedRms(loud, 16000) - target) < 0.002);
  });

  it("never pushes peaks over -1 dBFS", () => {
    const spiky = new Float32Array(16000);
    spiky[100] = 0.5; // one click in near-silence: its RMS would ask for a huge gain
    for (let i = 0; i < spiky.length; i += 50) spiky[i] ||= 0.01;
    assert.ok(peak(normaliseLoudness(spiky, 16000)) <= 10 ** (-1 / 20) + 1e-6);
  });

  it("leaves silence silent", () => {
    assert.equal(peak(normaliseLoudness(new Float32Array(1000), 16000)), 0);
  });
});
