import { describe, expect, it } from "vitest";
import { SubmitRequest, type EngineEvent } from "../../worker/engine/protocol";
import { installFakeEngine } from "../support/fake-engine";
import { createVoice, expectLedgerInvariant } from "../support/factories";
import { call, signUp } from "../support/http";
import { makeWav } from "../support/wav";

interface Sequence {
  description: string;
  job: unknown;
  steps: ({ op: "event"; value: EngineEvent } | { op: "upload"; path: string })[];
}

// Whole job sequences recorded from the Python engine's runner (modal/tests): the Worker must accept them as sent.
const sequences = import.meta.glob<Sequence>("../fixtures/engine-protocol/sequences/*.json", { eager: true, import: "default" });

describe("engine sequences replayed against the Worker's callback routes", () => {
  it("has sequences to replay", () => {
    expect(Object.keys(sequences).length).toBeGreaterThanOrEqual(3);
  });

  for (const [file, seq] of Object.entries(sequences)) {
    it(`${file.split("/").pop()}: ${seq.description}`, async () => {
      const recorded = SubmitRequest.parse(seq.job);
      const engine = installFakeEngine();
      const user = await signUp("sequence");
      let taskId: string;
      if (recorded.kind === "generate") {
        const voice = await createVoice(user.id);
        const res = await call("/api/generations", { method: "POST", cookie: user.cookie, json: { voice_id: voice.id, text: recorded.text, language: recorded.language } });
        expect(res.status).toBe(202);
        taskId = ((await res.json()) as { task_id: string }).task_id;
      } else {
        const res = await call("/api/voices/design/preview", {
          method: "POST",
          cookie: user.cookie,
          json: { description: recorded.instruct, text: recorded.text, language: recorded.language },
        });
        expect(res.status).toBe(202);
        taskId = ((await res.json()) as { task_id: string }).task_id;
      }
      const job = await engine.waitForJob(taskId);
      let last: { accepted: boolean; state: string } | null = null;
      for (const step of seq.steps) {
        if (step.op === "upload") {
          const res = await job.upload(step.path, makeWav(500, { sampleRate: job.job.output.sample_rate }));
          expect(res.status, `upload ${step.path}`).toBe(201);
        } else {
          // The recorded event, re-addressed to this job.
          const { job_id: _recordedJob, seq: recordedSeq, ...body } = step.value;
          last = await job.ack(body, { seq: recordedSeq });
          expect(last.accepted, `event ${step.value.type} seq ${step.value.seq}`).toBe(true);
        }
      }
      const terminal = seq.steps.findLast((s) => s.op === "event");
      const expected = terminal?.op === "event" && terminal.value.type === "completed" ? "succeeded" : "failed";
      expect(last?.state).toBe(expected);
      const snap = (await (await call(`/api/tasks/${taskId}`, { cookie: user.cookie })).json()) as { task: { status: string } };
      expect(snap.task.status).toBe(expected);
      await expectLedgerInvariant(user.id);
    });
  }
});
