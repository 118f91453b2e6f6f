"""HTTP calls from the engine to the Worker: events, uploads, reference download.

Every call carries the job token as a bearer. Transient failures (network
errors, 408/425/429/5xx) are retried with backoff; retrying is safe because an
event repeats its `seq` (the Worker acknowledges duplicates) and an upload PUT
overwrites the same path.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import ValidationError

from .protocol import EventAck, UploadAck

RETRYABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    # Waits between attempts; len(delays) + 1 attempts in all.
    delays_s: tuple[float, ...] = (0.5, 1.5, 4.0)
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 30.0
    max_retry_after_s: float = 10.0


class WorkerUnreachable(Exception):
    """Every attempt failed with a network error or a transient status."""

    def __init__(self, what: str, last: str) -> None:
        super().__init__(f"{what}: {last}")
        self.last = last


class WorkerRejected(Exception):
    """The Worker answered with a non-retryable error status."""

    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"HTTP {status}: {body[:200]}")
        self.status = status
        self.body = body


class ReferenceTooLarge(Exception):
    pass


class WorkerClient:
    def __init__(
        self,
        token: str,
        *,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._retry = retry or RetryPolicy()
        self._sleep = sleep
        timeout = httpx.Timeout(self._retry.read_timeout_s, connect=self._retry.connect_timeout_s)
        self._http = httpx.Client(
            timeout=timeout,
            transport=transport,
            headers={"Authorization": f"Bearer {token}", "User-Agent": "utter-engine/1"},
            follow_redirects=True,
        )

    def close(self) -> None:
        self._http.close()

    def post_event(self, url: str, event: dict[str, Any]) -> EventAck | None:
        """The Worker's EventAck, or None when a 2xx answer did not parse as one."""
        response = self._send("POST", url, json=event)
        try:
            return EventAck.model_validate(response.json())
        except (ValueError, ValidationError):
            return None

    def put_upload(self, url: str, wav: bytes, *, content_type: str = "audio/wav") -> UploadAck | None:
        response = self._send("PUT", url, content=wav, headers={"Content-Type": content_type})
        try:
            return UploadAck.model_validate(response.json())
        except (ValueError, ValidationError):
            return None

    def post_json(self, url: str, body: dict[str, Any]) -> Any:
        """POST a JSON body; the decoded JSON answer (multipart start/complete)."""
        return self._send("POST", url, json=body).json()

    def put_bytes(self, url: str, body: bytes, content_type: str) -> Any:
        """PUT a body; the decoded JSON answer (a multipart part's etag)."""
        return self._send("PUT", url, content=body, headers={"Content-Type": content_type}).json()

    def get_reference(self, url: str, *, max_bytes: int) -> tuple[bytes, str | None]:
        """The reference bytes and their Content-Type, refusing anything over `max_bytes`."""

        def attempt() -> httpx.Response | tuple[bytes, str | None]:
            with self._http.stream("GET", url) as response:
                if response.status_code >= 300:
                    response.read()
                    return response
                declared = response.headers.get("Content-Length")
                if declared and declared.isdigit() and int(declared) > max_bytes:
                    raise ReferenceTooLarge(f"the reference is {int(declared)} bytes; the limit is {max_bytes}")
                chunks: list[bytes] = []
                size = 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > max_bytes:
                        raise ReferenceTooLarge(f"the reference is larger than {max_bytes} bytes")
                    chunks.append(chunk)
                return b"".join(chunks), response.headers.get("Content-Type")

        result = self._with_retries("GET reference", attempt)
        assert isinstance(result, tuple)
        return result

    def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        result = self._with_retries(f"{method} {url}", lambda: self._http.request(method, url, **kwargs))
        assert isinstance(result, httpx.Response)
        return result

    def _with_retries(self, what: str, attempt: Callable[[], Any]) -> Any:
        delays = self._retry.delays_s
        last = "no attempt made"
        for i in range(len(delays) + 1):
            wait = delays[i] if i < len(delays) else None
            try:
                result = attempt()
            except httpx.TransportError as exc:
                last = f"{type(exc).__name__}: {exc}"
            else:
                if not isinstance(result, httpx.Response):
                    return result
                if 200 <= result.status_code < 300:
                    return result
                if result.status_code not in RETRYABLE_STATUSES:
                    raise WorkerRejected(result.status_code, result.text)
                last = f"HTTP {result.status_code}"
                if wait is not None:
                    wait = max(wait, self._retry_after(result))
            if wait is None:
                break
            self._sleep(wait)
        raise WorkerUnreachable(what, last)

    def _retry_after(self, response: httpx.Response) -> float:
        value = response.headers.get("Retry-After", "")
        try:
            return min(float(value), self._retry.max_retry_after_s)
        except ValueError:
            return 0.0
