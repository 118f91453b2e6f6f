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
