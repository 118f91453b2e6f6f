import { describe, expect, it } from "vitest";
import { announcement, describeTask } from "../../app/lib/task-words";
import type { TaskView } from "../../app/lib/task-state";

const task = (progress: number, status: TaskView["status"] = "running"): TaskView => ({
  id: "task_1",
  kind: "generate",
  status,
  progress,
  stage: "generating",
  segments_total: 4,
  generation_id: "gen_1",
  voice_id: "voice_1",
  cost: 2,
  error: null,
  result: null,
  created_at: "2026-11-01T00:00:00.000Z",
  updated_at: "2026-11-01T00:00:00.000Z",
});

describe("the words the progress region says", () => {
  it("gives screen readers the quarter the bar shows, from the same rounded percent", () => {
    // The bar rounds 0.246 to 25 %; the live region once said 0 % there.
    expect(describeTask({ task: task(0.246), error: null })).toMatch(/25%$/);
    expect(announcement({ task: task(0.246), error: null })).toMatch(/, 25% done\.$/);
    expect(announcement({ task: task(0.2), error: null })).toMatch(/, 0% done\.$/);
    expect(announcement({ task: task(0.5), error: null })).toMatch(/, 50% done\.$/);
    expect(announcement({ task: task(0.999), error: null })).toMatch(/, 100% done\.$/);
  });

  it("says what happened once the task is over", () => {
    expect(announcement({ task: task(0.4, "cancelled"), error: null })).toBe("Cancelled. Your credits were returned.");
    expect(announcement({ task: null, error: null })).toBe("");
  });
});

describe("the words after a stop", () => {
  it("says what a cancel kept for the parts delivered, and promises a full refund only when nothing was charged", () => {
    const cancelled = task(0.6, "cancelled");
    expect(describeTask({ task: cancelled, error: null })).toBe("Cancelled. Your credits were returned.");
    const partial = { ...cancelled, charge: { credits: 43, of: 50, parts_delivered: 13, parts_total: 15 } };
    expect(describeTask({ task: partial, error: null })).toBe("Cancelled. Charged 43 of 50 credits for the 13 of 15 parts you received; the rest was returned.");
    const failed = { ...task(0.6, "failed"), error: { code: "engine_timeout", message: "The speech engine stopped responding.", retryable: true }, charge: { credits: 1, of: 2, parts_delivered: 2, parts_total: 4 } };
    expect(describeTask({ task: failed, error: null })).toBe("The speech engine stopped responding. Charged 1 of 2 credits for the 2 of 4 parts you received; the rest was returned.");
  });
});
