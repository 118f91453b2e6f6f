"""One job's event stream: numbering, serialisation, heartbeats, and stop signals."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from .errors import JobStopped
from .protocol import TERMINAL_STATES, EngineEvent, EventAck
from .stream_client import StreamSession
from .worker_client import WorkerClient, WorkerRejected, WorkerUnreachable

log = logging.getLogger(__name__)

_FINAL_TYPES = frozenset({"completed", "failed"})


class EventChannel:
    """Sends a job's events with `seq` 0, 1, 2, … one at a time.

    The lock covers numbering *and* delivery, so the heartbeat thread can never
    overtake the main thread with a higher seq that arrives first (the Worker
    would then drop the lower one as stale). Once the Worker says the task is
    terminal, or stops answering, the channel halts: nothing more is sent.
    """

    def __init__(
        self, client: WorkerClient, job_id: str, events_url: str, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._client = client
        self._job_id = job_id
        self._url = events_url
        self._clock = clock
        self._lock = threading.RLock()
        self._next_seq = 0
        self._halt_reason: str | None = None
        self.last_sent_at = clock()

    @property
    def halt_reason(self) -> str | None:
        return self._halt_reason

    @property
    def sent_count(self) -> int:
        return self._next_seq

    def halt(self, reason: str) -> None:
        with self._lock:
            self._halt_reason = self._halt_reason or reason

    def send(self, event_type: str, **fields: Any) -> EventAck | None:
        with self._lock:
            if self._halt_reason is not None:
                raise JobStopped(self._halt_reason)
            payload = {"job_id": self._job_id, "seq": self._next_seq, "type": event_type, **fields}
            # Never send what the Worker would reject: it would cost the job its seq and a retry budget.
            payload = EngineEvent.validate_python(payload).to_json()
            self._next_seq += 1
            try:
                ack = self._client.post_event(self._url, payload)
            except WorkerRejected as exc:
                self._halt_reason = f"the Worker rejected a {event_type} event (HTTP {exc.status})"
                raise JobStopped(self._halt_reason) from exc
            except WorkerUnreachable as exc:
                self._halt_reason = f"the Worker is unreachable ({exc.last})"
                raise JobStopped(self._halt_reason) from exc
            finally:
                self.last_sent_at = self._clock()
            if event_type in _FINAL_TYPES:
                # Nothing may follow completed/failed, not even a heartbeat already waiting on the lock.
                self._halt_reason = "the job has finished"
            elif ack is not None and ack.state in TERMINAL_STATES:
                self._halt_reason = f"the Worker reports the task {ack.state}"
            return ack

    def heartbeat_if_idle(self, interval_s: float) -> None:
        with self._lock:
            if self._clock() - self.last_sent_at >= interval_s:
                self.send("heartbeat")

    def poll(self) -> None:
        """Nothing arrives unasked over HTTP; the acks carry the task's state."""


class StreamChannel:
    """The same contract as `EventChannel`, over the v2 engine socket (acks by seq)."""

    def __init__(self, session: StreamSession, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._session = session
        self._clock = clock
        self._lock = threading.RLock()
        self._halt_reason: str | None = None
        self.last_sent_at = clock()

    @property
    def halt_reason(self) -> str | None:
        return self._halt_reason

    @property
    def sent_count(self) -> int:
        return self._session.next_seq

    def halt(self, reason: str) -> None:
        with self._lock:
            self._halt_reason = self._halt_reason or reason

    def send(self, event_type: str, **fields: Any) -> Any:
        with self._lock:
            if self._halt_reason is not None:
                raise JobStopped(self._halt_reason)
            try:
                ack = self._session.send_event(event_type, **fields)
            except JobStopped as stop:
                self._halt_reason = stop.reason
                raise
            finally:
                self.last_sent_at = self._clock()
            if event_type in _FINAL_TYPES:
                self._halt_reason = "the job has finished"
            elif ack.state in TERMINAL_STATES:
                self._halt_reason = f"the Worker reports the task {ack.state}"
            return ack

    def heartbeat_if_idle(self, interval_s: float) -> None:
        with self._lock:
            if self._clock() - self.last_sent_at >= interval_s:
                self.send("heartbeat")

    def poll(self) -> None:
        with self._lock:
            if self._halt_reason is not None:
                return
            try:
                self._session.poll()
            except JobStopped as stop:
                self._halt_reason = stop.reason
                raise


class Waiter(Protocol):
    """How the heartbeat thread waits: real time in production, a manual clock in tests."""

    def wait(self, stop: threading.Event, timeout_s: float) -> bool:
        """Block until `stop` is set (return True) or `timeout_s` has passed (return False)."""
        ...

    def wake(self) -> None:
        """The heartbeat is over (stopped, or its thread ended): a waiter that does not poll `stop` returns."""
        ...


class RealTimeWaiter:
    def wait(self, stop: threading.Event, timeout_s: float) -> bool:
        return stop.wait(timeout_s)

    def wake(self) -> None:
        pass


class Heartbeat:
    """Background thread: a heartbeat whenever the channel has been quiet for `interval_s`.

    The GPU call holds the main thread for seconds at a time; torch releases
    the GIL inside CUDA kernels, so this thread keeps the Worker's silence
    deadline (60 s) from firing during long generations.
    """

    def __init__(
        self,
        channel: EventChannel | StreamChannel,
        interval_s: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        is_cancelled: Callable[[], bool] = lambda: False,
        waiter: Waiter | None = None,
    ) -> None:
        self._channel = channel
        self._waiter: Waiter = waiter or RealTimeWaiter()
        self._interval = interval_s
        self._clock = clock
        self._is_cancelled = is_cancelled
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="utter-heartbeat", daemon=True)

    def start(self) -> Heartbeat:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._waiter.wake()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout=5.0)

    def _run(self) -> None:
        try:
            self._beat()
        finally:
            self._waiter.wake()

    def _beat(self) -> None:
        while True:
            due_in = self._channel.last_sent_at + self._interval - self._clock()
            if self._waiter.wait(self._stop, max(0.01, due_in)):
                return
            try:
                if self._is_cancelled():
                    # The main thread may be inside a long GPU call: stop vouching for a cancelled job.
                    self._channel.halt("cancelled")
                    return
                self._channel.heartbeat_if_idle(self._interval)
            except JobStopped:
                return
            except Exception:  # a heartbeat must never take the job down
                log.exception("heartbeat failed")
