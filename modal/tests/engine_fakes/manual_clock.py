"""A monotonic clock the test moves by hand, and a heartbeat waiter that follows it.

No real time passes in tests that use it: the heartbeat thread parks on a
condition until the test advances the clock past its deadline (or stops it),
and `advance` returns only once that thread has acted and parked again, so what
it sent is settled before the test looks.
"""

from __future__ import annotations

import threading


class ManualClock:
    def __init__(self, start: float = 1024.0) -> None:
        self._now = start
        self._cond = threading.Condition()
        self._parked_until: float | None = None  # the heartbeat thread's deadline while it waits
        self._woken = False
        self._ever_parked = False

    def __call__(self) -> float:
        with self._cond:
            return self._now

    def advance(self, seconds: float, *, step: float | None = None) -> None:
        """Move time forward (in `step`s, so the waiter sees each) and wait for the waiter to settle."""
        with self._cond:  # the heartbeat thread must be waiting before time moves, or it would miss it
            while not self._ever_parked and not self._woken:
                self._cond.wait()
        remaining = seconds
        while remaining > 1e-12:
            delta = min(step or remaining, remaining)
            remaining -= delta
            with self._cond:
                self._now += delta
                self._cond.notify_all()
                # Settled: nobody waiting yet, or parked again on a deadline still ahead, or stopped.
                while self._parked_until is not None and self._parked_until <= self._now and not self._woken:
                    self._cond.wait()

    # --- the Waiter protocol (utter_engine.events.Waiter) -----------------------------

    def wait(self, stop: threading.Event, timeout_s: float) -> bool:
        with self._cond:
            deadline = self._now + timeout_s
            self._parked_until = deadline
            self._ever_parked = True
            self._cond.notify_all()
            while not stop.is_set() and not self._woken and self._now < deadline:
                self._cond.wait()
            stopped = stop.is_set() or self._woken
            # Busy (acting on the deadline outside the lock) until the next wait() parks again.
            self._parked_until = None if stopped else -1.0
            return stopped

    def wake(self) -> None:
        with self._cond:
            self._woken = True
            self._cond.notify_all()
