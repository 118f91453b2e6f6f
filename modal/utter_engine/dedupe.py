"""One GPU job per submitted job: a repeated submit answers the first call's id.

The Worker resubmits when an accepted submit's reply is lost, and sends the job
id as `Idempotency-Key`. The first submit claims the key in a shared store
(a `modal.Dict` on Modal, a dict when self-hosted) *before* spawning, so two
submits racing each other cannot both start a job; the loser waits briefly for
the winner's call id.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from typing import Any, Protocol

_PENDING = "pending:"


class ClaimStore(Protocol):
    def get(self, key: Any, default: Any = None) -> Any: ...
    def put(self, key: Any, value: Any, *, skip_if_exists: bool = False) -> Any: ...
    def pop(self, key: Any, default: Any = None) -> Any: ...


class MemoryClaimStore:
    """The self-hosted (single process) store."""

    def __init__(self) -> None:
        self._data: dict[Any, Any] = {}
        self._lock = threading.Lock()

    def get(self, key: Any, default: Any = None) -> Any:
        with self._lock:
            return self._data.get(key, default)

    def put(self, key: Any, value: Any, *, skip_if_exists: bool = False) -> bool:
        with self._lock:
            if skip_if_exists and key in self._data:
                return False
            self._data[key] = value
            return True

    def pop(self, key: Any, default: Any = None) -> Any:
        with self._lock:
            return self._data.pop(key, default)


class SubmitInFlight(Exception):
    """Another submit of the same job is still starting it; try again shortly."""


class SubmitDeduper:
    def __init__(
        self,
        store: ClaimStore,
        *,
        wait_s: float = 5.0,
        poll_s: float = 0.1,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._wait = wait_s
        self._poll = poll_s
        self._sleep = sleep
        self._clock = clock

    def submit(self, key: str, spawn: Callable[[], str]) -> tuple[str, bool]:
        """(call id, whether this call spawned it)."""
        name = f"submit:{key}"
        claim = f"{_PENDING}{uuid.uuid4().hex}"
        if self._store.put(name, claim, skip_if_exists=True) is False:
            return self._wait_for(name), False
        try:
            call_id = spawn()
        except BaseException:
            self._store.pop(name, None)  # let a retry start it
            raise
        self._store.put(name, call_id)
        return call_id, True

    def _wait_for(self, name: str) -> str:
        until = self._clock() + self._wait
        while True:
            value = self._store.get(name)
            if isinstance(value, str) and not value.startswith(_PENDING):
                return value
            if value is None or self._clock() >= until:
                raise SubmitInFlight(name)
            self._sleep(self._poll)
