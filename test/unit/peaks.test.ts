import { describe, expect, it } from "vitest";
import fixture from "../fixtures/engine-protocol/v2/peaks-compute.json";
import { checkArtifactContent } from "../../worker/engine/artifact-content";
import { computePeaks, MAX_PEAKS, Peaks } from "../../worker/engine/peaks";

describe("the peaks artifact (ADR 0023)", () => {
  it("computes what the Python engine computes (the shared fixture)", () => {
    const { length, sample_rate } = fixture.input;
    const samples = new Float32Array(length);
    for (let i = 0; i < length; i++) samples[i] = Math.sin(i / 9) * 0.5 * (i / length);
    expect(computePeaks(samples, sample_rate)).toEqual(fixture.expected);
  });

  it("keeps an hour of audio to MAX_PEAKS peaks that the schema takes", () => {
    const rate = 8_000; // an hour at 8 kHz keeps the test's memory small; the window grows with the length
    const samples = new Float32Array(rate * 3600).fill(-0.5);
    const peaks = computePeaks(samples, rate);
    expect(peaks.peaks.length).toBe(MAX_PEAKS);
    expect(peaks.samples_per_peak).toBe(3_600);
    expect(new Set(peaks.peaks)).toEqual(new Set([0.5]));
    expect(Peaks.safeParse(peaks).success).toBe(true);
    // A few tens of kB: far under the kind's 256 KiB.
    expect(JSON.stringify(peaks).length).toBeLessThan(40_000);
  });

  it("checks an uploaded document whole: JSON, then the schema", () => {
    const ok = computePeaks(new Float32Array(1000).fill(0.1), 8000);
    const enc = (v: unknown) => new TextEncoder().encode(typeof v === "string" ? v : JSON.stringify(v));
    expect(checkArtifactContent("peaks", enc(ok))).toEqual({ ok: true });
    expect(checkArtifactContent("peaks", enc("{"))).toMatchObject({ ok: false, message: "not UTF-8 JSON" });
    expect(checkArtifactContent("peaks", enc({ ...ok, peaks: [] }))).toMatchObject({ ok: false, path: "peaks" });
    expect(checkArtifactContent("peaks", new Uint8Array([0xff, 0xfe]))).toMatchObject({ ok: false });
    // Audio kinds are not read.
    expect(checkArtifactContent("segment", new Uint8Array([1, 2, 3]))).toEqual({ ok: true });
  });
});
