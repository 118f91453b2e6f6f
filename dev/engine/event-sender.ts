import { EngineEvent, EventAck, TERMINAL_STATES } from "../../worker/engine/protocol.ts";
import { CallbackError, type CallbackClient } from "./callback-client.ts";
import { JobError, JobStopped } from "./job-errors.ts";
import { errorMessage, type Logger } from "./log.ts";

/** An event as the job writes it; the sender adds `job_id` and `seq`. */
export type EventBody = EngineEvent extends infer E ? (E extends EngineEvent ? Omit<E, "job_id" | "seq"> : never) : never;

export type EventSender = {
  /**
   * Queues an event; resolves with the Worker's ack once delivered, or with
   * undefined when it was dropped because the job is stopping.
   */
  send(body: EventBody): Promise<EventAck | undefined>;
  /** A heartbeat from the timer: skipped while one is still waiting, and its failures are only logged. */
  heartbeat(): void;
  /** No event is sent after this (cancel, stop, or after the terminal event). */
  close(): void;
  /** Resolves once nothing is queued or in flight. */
  idle(): Promise<void>;
};

/**
 * Every event of a job goes through one queue, so the heartbeat timer and the
 * job's own events never race: `seq` is assigned when an event is actually
 * sent, strictly increasing from 0 with no gaps. Each event is validated with
 * the protocol's `EngineEvent` before it leaves, and each answer with `EventAck`.
 */
export function createEventSender(deps: {
  jobId: string;
  eventsUrl: string;
  client: CallbackClient;
  log: Logger;
  /** First seq to send (default 0); a v2 job falling back to HTTP continues its socket's seqs. */
  firstSeq?: number;
  /**
   * Called when the job must stop without another event: an ack says the task
   * is already over (e.g. the user cancelled), or the Worker refused the token
   * or the job (401/403/409).
   */
  onStop(reason: string): void;
}): EventSender {
  const { jobId, log } = deps;
  let seq = deps.firstSeq ?? 0;
  let queue: Promise<unknown> = Promise.resolve();
  let closed = false;
  /** Set when a terminal event is queued: nothing may follow it. */
  let finishing = false;
  let heartbeatWaiting = false;

  async function deliver(body: EventBody): Promise<EventAck | undefined> {
    if (closed) return undefined;
    const parsed = EngineEvent.safeParse({ job_id: jobId, seq, ...body });
    if (!parsed.success) {
      // A bug in this engine, not in the Worker: fail loudly (tests see the job fail).
      throw new Error(`refusing to send an invalid ${body.type} event: ${parsed.error.message}`);
    }
    seq++;
    const event = parsed.data;
    let answer;
    try {
      answer = await deps.client.request("POST", deps.eventsUrl, { bytes: JSON.stringify(event), contentType: "application/json" });
    } catch (err) {
      if (err instanceof CallbackError && err.stopsJob) {
        closed = true;
        const reason = `the Worker refused event ${event.seq} (${err.status})`;
        deps.onStop(reason);
        throw new JobStopped(reason, { cause: err });
      }
      throw new JobError("internal", `could not deliver the ${event.type} event: ${errorMessage(err)}`, true, { cause: err });
    }
    const ack = EventAck.safeParse(parseJson(answer.body));
    if (!ack.success) {
      throw new JobError("internal", `the Worker answered event ${event.seq} without a valid EventAck: ${ack.error.message}`, true);
    }
    log.info("event_sent", { job_id: jobId, seq: event.seq, type: event.type, accepted: ack.data.accepted, state: ack.data.state });
    if (event.type === "completed" || event.type === "failed") {
      closed = true;
    } else if (TERMINAL_STATES.includes(ack.data.state)) {
      closed = true;
      deps.onStop(`the task is already ${ack.data.state}`);
    }
    return ack.data;
  }

  function send(body: EventBody): Promise<EventAck | undefined> {
    if (closed || finishing) return Promise.resolve(undefined);
    const terminal = body.type === "completed" || body.type === "failed";
    if (terminal) finishing = true;
    const delivery = queue.then(() => deliver(body));
    // One failure must not block the events queued behind it; and if `completed` could not be
    // delivered, the job may still report `failed`.
    queue = delivery.catch(() => {
      if (terminal) finishing = false;
    });
    return delivery;
  }

  return {
    send,
    heartbeat() {
      if (heartbeatWaiting) return;
      heartbeatWaiting = true;
      send({ type: "heartbeat" })
        .catch((err: unknown) => log.warn("heartbeat_failed", { job_id: jobId, error: errorMessage(err) }))
        .finally(() => {
          heartbeatWaiting = false;
        });
    },
    close() {
      closed = true;
    },
    async idle() {
      let seen: Promise<unknown> | undefined;
      while (seen !== queue) {
        seen = queue;
        await queue;
      }
    },
  };
}

function parseJson(bytes: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return undefined;
  }
}
