import type { EngineError } from "../engine/protocol";
import { audioKeys } from "../storage/keys";
import type { TaskResult } from "../tasks/messages";
import type { TaskFeed } from "./task-feed";
import { pcmOfWav } from "./wav-pcm";

export type SpeechPiece =
  | { kind: "pcm"; sampleRate: number; pcm: Uint8Array }
  | { kind: "succeeded"; result: TaskResult }
  | { kind: "ended"; status: "failed" | "cancelled"; error: EngineError | null };

/**
 * A task's audio as it renders, as PCM in segment order: each segment is read
 * from R2 once the tracker has announced it (announcements may arrive in any
 * order; nothing is skipped or repeated), then the task's outcome. Segments are
 * the engine's durable output, so this works for engines of either protocol.
 */
export async function* segmentAudio(feed: TaskFeed, audio: R2Bucket, userId: string, taskId: string): AsyncGenerator<SpeechPiece> {
  const announced = new Set<number>();
  let next = 0;
  async function* flush(): AsyncGenerator<SpeechPiece> {
    while (announced.has(next)) {
      const object = await audio.get(audioKeys.segment(userId, taskId, next));
      if (!object) throw new Error(`segment ${next} of ${taskId} is announced but not stored`);
      const wav = pcmOfWav(new Uint8Array(await object.arrayBuffer()));
      next += 1;
      yield { kind: "pcm", sampleRate: wav.sampleRate, pcm: wav.pcm };
    }
  }
  for (;;) {
    const m = await feed.next();
    if (!m) throw new Error(`the task ${taskId} closed its socket before it ended`);
    switch (m.type) {
      case "snapshot":
        for (const s of m.segments) announced.add(s.index);
        yield* flush();
        if (m.task.status === "succeeded" && m.task.result) return yield { kind: "succeeded", result: m.task.result };
        if (m.task.status === "failed" || m.task.status === "cancelled") return yield { kind: "ended", status: m.task.status, error: m.task.error };
        break;
      case "segment":
        announced.add(m.index);
        yield* flush();
        break;
      case "completed":
        yield* flush();
        return yield { kind: "succeeded", result: m.result };
      case "failed":
        return yield { kind: "ended", status: "failed", error: m.error };
      case "cancelled":
        return yield { kind: "ended", status: "cancelled", error: null };
      default:
        break;
    }
  }
}
