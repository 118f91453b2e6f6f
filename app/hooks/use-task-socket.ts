import { useEffect, useRef, useState } from "react";
import { readApiError } from "../lib/api";
import {
  applyMessage,
  EMPTY_TASK_STATE,
  fromSnapshot,
  isTerminal,
  socketMessages,
  type TaskSnapshot,
  type TaskState,
} from "../lib/task-state";

/** How the hook is hearing about the task right now. */
export type TaskTransport = "idle" | "connecting" | "socket" | "reconnecting" | "polling" | "done";

export interface TaskSocketState extends TaskState {
  transport: TaskTransport;
  /** A sentence for the person, when we lost track of the task for good. */
  error: string | null;
}

export interface TaskSocketOptions {
  /** A snapshot the loader already has (server-rendered pages start from it). */
  initial?: TaskSnapshot | null;
  /** Consecutive socket failures before falling back to polling. */
  maxSocketFailures?: number;
  pollIntervalMs?: number;
  pingIntervalMs?: number;
  /**
   * Live audio (engine protocol v2): each binary message is one frame, handed
   * over as it arrives, before anything else happens to it. Reconnects need no
   * help here: the snapshot lists the segment artifacts, and the player fills
   * any hole from them.
   */
  onFrame?: (frame: ArrayBuffer) => void;
}

const BACKOFF_BASE_MS = 500;
const BACKOFF_MAX_MS = 8_000;

function backoff(attempt: number): number {
  const ms = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** attempt);
  return Math.round(ms * (0.75 + Math.random() * 0.5));
}

function socketUrl(taskId: string): string {
  const proto = window.location.protocol === "https:" ? "wss:" : "ws:";
  return `${proto}//${window.location.host}/api/tasks/${encodeURIComponent(taskId)}/ws`;
}

/**
 * Follows one task live (DESIGN §5): connects to its WebSocket, starts from
 * the snapshot the server sends on connect, ignores duplicates (seq ≤ last
 * applied), asks for a fresh snapshot when it notices a gap, reconnects with
 * exponential backoff (the snapshot on reconnect fills in anything missed),
 * keeps the connection alive with "ping", and after repeated socket failures
 * falls back to polling `GET /api/tasks/:id`. Stops at a terminal state.
 */
export function useTaskSocket(taskId: string | null | undefined, options: TaskSocketOptions = {}): TaskSocketState {
  const { initial = null, maxSocketFailures = 3, pollIntervalMs = 2_500, pingIntervalMs = 20_000 } = options;
  const initialState = (): TaskSocketState => {
    const base = initial && initial.task.id === taskId ? fromSnapshot(initial) : EMPTY_TASK_STATE;
    return { ...base, transport: taskId ? (isTerminal(base.task) ? "done" : "connecting") : "idle", error: null };
  };
  const [state, setState] = useState<TaskSocketState>(initialState);
  // The latest state for the event handlers below, which outlive renders.
  const stateRef = useRef(state);
  stateRef.current = state;
  const initialRef = useRef(initial);
  initialRef.current = initial;
  // Live frames: read through a ref so a new callback does not reconnect the socket.
  const onFrameRef = useRef(options.onFrame);
  onFrameRef.current = options.onFrame;

  useEffect(() => {
    if (!taskId) {
      setState({ ...EMPTY_TASK_STATE, transport: "idle", error: null });
      return;
    }
    const fromInitial = initialRef.current && initialRef.current.task.id === taskId ? fromSnapshot(initialRef.current) : EMPTY_TASK_STATE;
    let current: TaskSocketState = {
      ...(stateRef.current.task?.id === taskId && stateRef.current.seq >= fromInitial.seq ? stateRef.current : fromInitial),
      transport: "connecting",
      error: null,
    };
    let stopped = false;
    let ws: WebSocket | null = null;
    let failures = 0;
    let attempt = 0;
    let reconnectTimer: ReturnType<typeof setTimeout> | undefined;
    let pingTimer: ReturnType<typeof setInterval> | undefined;
    let pollTimer: ReturnType<typeof setTimeout> | undefined;
    let pollController: AbortController | null = null;
    let pollMisses = 0;

    const publish = (patch: Partial<TaskSocketState>) => {
      current = { ...current, ...patch };
      setState(current);
    };

    const stop = (transport: TaskTransport = "done") => {
      stopped = true;
      clearTimeout(reconnectTimer);
      clearInterval(pingTimer);
      clearTimeout(pollTimer);
      pollController?.abort();
      if (ws && ws.readyState <= WebSocket.OPEN) ws.close(1000, "done");
      ws = null;
      window.removeEventListener("online", onOnline);
      if (current.transport !== transport) publish({ transport });
    };

    const afterApply = () => {
      if (isTerminal(current.task)) stop("done");
    };

    const connect = () => {
      if (stopped) return;
      let heard = false;
      const socket = new WebSocket(socketUrl(taskId));
      socket.binaryType = "arraybuffer"; // live audio frames
      ws = socket;
      socket.onopen = () => {
        clearInterval(pingTimer);
        // The Durable Object answers "ping" without waking (setWebSocketAutoResponse); it keeps proxies from idling us out.
        pingTimer = setInterval(() => {
          if (socket.readyState === WebSocket.OPEN) socket.send("ping");
        }, pingIntervalMs);
      };
      socket.onmessage = (event) => {
        // Frames go to the player; a batch of them may also carry the pass's JSON messages (ADR 0031).
        if (event.data instanceof ArrayBuffer) onFrameRef.current?.(event.data);
        const messages = socketMessages(event.data);
        if (!messages.length) return;
        if (!heard) {
          heard = true;
          failures = 0;
          attempt = 0;
          publish({ transport: "socket", error: null });
        }
        for (const msg of messages) {
          const { state: next, gap } = applyMessage(current, msg);
          if (next !== current) publish({ seq: next.seq, task: next.task, segments: next.segments });
          if (gap && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: "snapshot" }));
          afterApply();
          if (stopped || gap) break; // the snapshot asked for covers the rest
        }
      };
      socket.onclose = () => {
        clearInterval(pingTimer);
        if (stopped || ws !== socket) return;
        ws = null;
        if (!heard) failures += 1;
        if (failures >= maxSocketFailures) {
          startPolling();
          return;
        }
        publish({ transport: "reconnecting" });
        reconnectTimer = setTimeout(connect, backoff(attempt++));
      };
    };

    const startPolling = () => {
      if (stopped) return;
      publish({ transport: "polling" });
      const poll = async () => {
        if (stopped) return;
        pollController = new AbortController();
        try {
          const res = await fetch(`/api/tasks/${encodeURIComponent(taskId)}`, {
            signal: pollController.signal,
            headers: { accept: "application/json" },
          });
          if (res.ok) {
            pollMisses = 0;
            const snapshot = (await res.json()) as TaskSnapshot;
            const { state: next } = applyMessage(current, { type: "snapshot", ...snapshot });
            if (next !== current) publish({ seq: next.seq, task: next.task, segments: next.segments, error: null });
            afterApply();
          } else if (res.status === 401 || res.status === 403 || res.status === 404) {
            publish({ error: (await readApiError(res)).message });
            stop("done");
            return;
          }
        } catch (err) {
          if ((err as Error)?.name === "AbortError") return;
          // Unreachable: keep polling, and say so from the second miss on (a success clears it).
          pollMisses += 1;
          if (pollMisses >= 2) publish({ error: "Utter is not answering right now. Still trying…" });
        }
        if (!stopped) pollTimer = setTimeout(poll, pollIntervalMs);
      };
      void poll();
    };

    // Coming back online: do not sit out the rest of a long backoff.
    const onOnline = () => {
      if (stopped || ws || current.transport === "polling") return;
      clearTimeout(reconnectTimer);
      connect();
    };

    publish({});
    if (isTerminal(current.task)) {
      stop("done");
      return;
    }
    window.addEventListener("online", onOnline);
    connect();
    return () => {
      stopped = true;
      clearTimeout(reconnectTimer);
      clearInterval(pingTimer);
      clearTimeout(pollTimer);
      pollController?.abort();
      window.removeEventListener("online", onOnline);
      if (ws && ws.readyState <= WebSocket.OPEN) ws.close(1000, "unmounted");
      ws = null;
    };
  }, [taskId, maxSocketFailures, pollIntervalMs, pingIntervalMs]);

  return state;
}
