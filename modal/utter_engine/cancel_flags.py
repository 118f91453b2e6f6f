"""Cancel flags shared between the web endpoint and the GPU containers.

The cancel endpoint runs in a different container from the job, so the flag
lives in a store both reach (a `modal.Dict` in production, a plain dict in
tests). The job checks it between segments; `FunctionCall.cancel` is only the
backstop for a job that does not stop in time.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

log = logging.getLogger(__name__)


class FlagStore(Protocol):
    def get(self, key: Any, default: Any = None) -> Any: ...
    def put(self, key: Any, value: Any) -> Any: ...


class CancelFlags:
    def __init__(
        self, store: FlagStore, *, min_check_interval_s: float = 1.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._store = store
        self._interval = min_check_interval_s
        self._clock = clock
        self._lock = threading.Lock()
        self._last_check: dict[tuple[str, ...], float] = {}
        self._seen: set[str] = set()

    def set(self, key: str) -> None:
        self._store.put(_key(key), time.time())

    def checker(self, *keys: str) -> Callable[[], bool]:
        """A cheap `is_cancelled()` for one job: remote look-ups at most once per interval."""
        wanted = tuple(k for k in keys if k)

        def is_cancelled() -> bool:
            with self._lock:
                if any(k in self._seen for k in wanted):
                    return True
                now = self._clock()
                last = self._last_check.get(wanted)
                if last is not None and now - last < self._interval:
                    return False
                self._last_check[wanted] = now
            for k in wanted:
                try:
                    flagged = self._store.get(_key(k)) is not None
                except Exception:
                    # A flaky flag store must not fail the job; the FunctionCall.cancel backstop remains.
                    log.warning("cancel flag look-up failed", exc_info=True)
                    return False
                if flagged:
                    with self._lock:
                        self._seen.add(k)
                    return True
            return False

        return is_cancelled


class MemoryFlagStore:
    def __init__(self) -> None:
        self._data: dict[Any, Any] = {}

    def get(self, key: Any, default: Any = None) -> Any:
        return self._data.get(key, default)

    def put(self, key: Any, value: Any) -> None:
        self._data[key] = value


def _key(key: str) -> str:
    return f"cancel:{key}"
