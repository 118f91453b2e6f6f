import { describe, expect, it } from "vitest";
import fixture from "../fixtures/engine-protocol/v2/peaks-compute.json";
import { ARTIFACT_CONTENT, artifactSpec } from "../../worker/engine/artifacts";
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

  it("is checked with its own schema, named by the registry, before an upload is stored", () => {
    const ok = computePeaks(new Float32Array(1000).fill(0.1), 8000);
    expect(artifactSpec("peaks").content_schema).toBe("peaks");
    expect(ARTIFACT_CONTENT.peaks.safeParse(ok).success).toBe(true);
    const bad = ARTIFACT_CONTENT.peaks.safeParse({ ...ok, peaks: [] });
    expect(bad.success).toBe(false);
    expect(bad.error?.issues[0]?.path).toEqual(["peaks"]);
    // Audio kinds name no schema: they are streamed to R2 unread.
    expect(artifactSpec("segment").content_schema).toBeUndefined();
  });
});
