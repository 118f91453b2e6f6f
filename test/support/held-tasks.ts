import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { createRequestContext } from "../../worker/context";
import { createGeneration } from "../../worker/services/generations";
import type { TaskMessage } from "../../worker/tasks/queue-message";
import type { TestUser } from "./http";

/**
 * Creates a generation through the real service, but with the TASKS queue
 * binding replaced by one that keeps the message: the test then delivers it
 * itself (createMessageBatch), in whatever batch, order and number it needs.
 */
export async function createHeldTask(user: TestUser, voiceId: string, text = "Hello there. This is a test.") {
  const held: TaskMessage[] = [];
  const queue = {
    async send(body: TaskMessage) {
      held.push(body);
    },
  } as unknown as Queue;
  const ctx = createRequestContext({ ...env, TASKS: queue }, createExecutionContext(), `held-${Math.random().toString(36).slice(2)}`);
  const row = await env.DB.prepare(`SELECT plan FROM user WHERE id = ?1`).bind(user.id).first<{ plan: string }>();
  const created = await createGeneration(
    ctx,
    { id: user.id, email: user.email, name: "held", plan: row?.plan ?? "free" },
    { voice_id: voiceId, text, language: "en" },
  );
  if (held.length !== 1) throw new Error(`expected one queued message, got ${held.length}`);
  return { ...created, message: held[0]! };
}

/** The task's row as the dispatcher sees it. */
export async function taskRow(taskId: string) {
  return env.DB.prepare(`SELECT status, call_id, engine, claimed_by, lease_until, attempts FROM tasks WHERE id = ?1`)
    .bind(taskId)
    .first<{
      status: string;
      call_id: string | null;
      engine: string | null;
      claimed_by: string | null;
      lease_until: number | null;
      attempts: number;
    }>();
}
