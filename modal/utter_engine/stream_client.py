"""The engine's side of the protocol v2 socket (ADR 0009).

One WebSocket to the task's Durable Object (`callbacks.stream_url`, job token
as a bearer). The DO opens with a `hello` saying where the task stands; events
(v1 `EngineEvent`s, JSON text) are acknowledged one by one by `seq`; binary
audio frames are fire-and-forget. A dropped socket is reopened and only the
events above the new hello's `acked_seq` are resent, so `seq` stays monotonic
across reconnects and across a preempted rerun (which starts from the hello).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import ValidationError

from .errors import JobStopped
from .frames import AudioFrame, encode_frame
from .protocol import TERMINAL_STATES, EngineEvent, StreamAck, StreamCancel, StreamHello, StreamMessage

log = logging.getLogger(__name__)

# Close codes after which reconnecting cannot help (ADR 0009).
FATAL_CLOSE_CODES = frozenset({4009, 4401, 4403})


class Socket(Protocol):
    """The part of `websockets.sync.client.ClientConnection` the session uses."""

    def send(self, message: str | bytes) -> None: ...
    def recv(self, timeout: float | None = None) -> str | bytes: ...
    def close(self, code: int = 1000, reason: str = "") -> None: ...


Connect = Callable[[str, str], Socket]


def websocket_connect(url: str, token: str, *, open_timeout: float = 10.0) -> Socket:
    from websockets.sync.client import connect

    return connect(
        url,
        additional_headers={"Authorization": f"Bearer {token}"},
        open_timeout=open_timeout,
        max_size=2**20,
        user_agent_header="utter-engine/2",
    )


class StreamUnavailable(Exception):
    """The socket could not be opened (or reopened); `fatal` when the DO refused it for good."""

    def __init__(self, message: str, *, fatal: bool = False) -> None:
        super().__init__(message)
        self.fatal = fatal


@dataclass(frozen=True)
class StreamSettings:
    ack_timeout_s: float = 30.0
    reconnect_delays_s: tuple[float, ...] = (0.25, 1.0, 3.0)


class StreamSession:
    """Owns the socket; thread-safe (the heartbeat thread sends events too)."""

    def __init__(
        self,
        url: str,
        token: str,
        job_id: str,
        *,
        connect: Connect | None = None,
        settings: StreamSettings | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._url = url
        self._token = token
        self._job_id = job_id
        self._connect = connect or (lambda u, t: websocket_connect(u, t))
        self._settings = settings or StreamSettings()
        self._sleep = sleep
        self._lock = threading.RLock()
        self._ws: Socket | None = None
        self.hello: StreamHello | None = None
        self.first_hello: StreamHello | None = None
        self.next_seq = 0
        # Sent but not yet acknowledged, by seq: resent after a reconnect.
        self._unacked: dict[int, dict[str, Any]] = {}
        # Frame bookkeeping: frame number -> stream offset of its first sample.
        self.next_frame = 0
        self.stream_offset = 0
        self._frame_offsets: dict[int, int] = {}
        self.cancelled: str | None = None
        self.reconnects = 0
        self.needs_stream_offset = False

    # -- opening ------------------------------------------------------------------------------

    def open(self) -> StreamHello:
        with self._lock:
            hello = self._open_once()
            self.first_hello = hello
            # A rerun (preemption) or a reconnect continues numbering above what the DO has.
            self.next_seq = hello.acked_seq + 1
            self._resume_frames(hello)
            return hello

    def _open_once(self) -> StreamHello:
        try:
            ws = self._connect(self._url, self._token)
        except Exception as exc:
            code = _close_code(exc)
            raise StreamUnavailable(
                f"the engine socket could not be opened ({type(exc).__name__}: {exc})",
                fatal=code in FATAL_CLOSE_CODES or _http_status(exc) in (401, 403, 404, 409, 410),
            ) from exc
        try:
            raw = ws.recv(timeout=self._settings.ack_timeout_s)
            message = StreamMessage.validate_python(json.loads(raw))
        except Exception as exc:
            _quiet_close(ws)
            if _close_code(exc) in FATAL_CLOSE_CODES:
                raise StreamUnavailable(f"the engine socket was refused ({exc})", fatal=True) from exc
            raise StreamUnavailable(f"no hello on the engine socket ({type(exc).__name__}: {exc})") from exc
        if isinstance(message, StreamCancel):
            _quiet_close(ws)
            self.cancelled = message.state
            raise JobStopped(f"the task is {message.state}")
        if not isinstance(message, StreamHello):
            _quiet_close(ws)
            raise StreamUnavailable(f"expected hello, got {message.type}")
        self._ws = ws
        self.hello = message
        if message.state in TERMINAL_STATES:
            self.cancelled = message.state
        return message

    def _resume_frames(self, hello: StreamHello) -> None:
        self.next_frame = hello.last_frame + 1
        if hello.last_frame < 0:
            self.stream_offset = 0
        elif hello.stream_offset is not None:
            self.stream_offset = hello.stream_offset
        elif self.next_frame in self._frame_offsets:
            self.stream_offset = self._frame_offsets[self.next_frame]
        else:
            # A rerun without the DO's count: the runner sets it from the durable segments.
            self.needs_stream_offset = True

    def _reconnect(self, why: str) -> None:
        """Reopen after a drop and resend what the DO did not acknowledge; raises when it cannot."""
        _quiet_close(self._ws)
        self._ws = None
        last: Exception | None = None
        for delay in (0.0, *self._settings.reconnect_delays_s):
            if delay:
                self._sleep(delay)
            try:
                hello = self._open_once()
            except StreamUnavailable as exc:
                if exc.fatal:
                    raise JobStopped(f"the engine socket was refused ({exc})") from exc
                last = exc
                continue
            self.reconnects += 1
            log.info("engine socket for %s reopened after %s (acked_seq=%d)", self._job_id, why, hello.acked_seq)
            if self.cancelled:
                raise JobStopped(f"the task is {self.cancelled}")
            for seq in sorted(s for s in self._unacked if s <= hello.acked_seq):
                del self._unacked[seq]
            # Frames lost with the old socket are gone from the live path; the segment artifacts keep them.
            self._frame_offsets.setdefault(self.next_frame, self.stream_offset)
            if hello.last_frame + 1 < self.next_frame:
                self.next_frame = hello.last_frame + 1
                self.stream_offset = self._frame_offsets.get(self.next_frame, self.stream_offset)
            if hello.stream_offset is not None:
                self.stream_offset = hello.stream_offset
            for seq in sorted(self._unacked):
                self._send_text(self._unacked[seq])
            return
        raise JobStopped(f"the engine socket is gone ({why}; {last})")

    # -- sending ------------------------------------------------------------------------------

    def send_event(self, event_type: str, **fields: Any) -> StreamAck:
        with self._lock:
            if self.cancelled:
                raise JobStopped(f"the task is {self.cancelled}")
            payload = {"job_id": self._job_id, "seq": self.next_seq, "type": event_type, **fields}
            payload = EngineEvent.validate_python(payload).to_json()
            self.next_seq += 1
            self._unacked[payload["seq"]] = payload
            try:
                self._send_text(payload)
            except _Dropped as exc:
                self._reconnect(str(exc))
            return self._await_ack(payload["seq"])

    def send_audio(self, *, segment: int, segment_offset: int, pcm: bytes, last_in_segment: bool) -> AudioFrame:
        with self._lock:
            if self.cancelled:
                raise JobStopped(f"the task is {self.cancelled}")
            frame = AudioFrame(
                segment=segment,
                frame=self.next_frame,
                segment_offset=segment_offset,
                stream_offset=self.stream_offset,
                pcm=pcm,
                last_in_segment=last_in_segment,
            )
            data = encode_frame(frame)
            self._frame_offsets[frame.frame] = frame.stream_offset
            self.next_frame += 1
            self.stream_offset += frame.sample_count
            try:
                assert self._ws is not None
                self._ws.send(data)
            except Exception as exc:  # the frame is lost from the live path only
                self._reconnect(f"{type(exc).__name__}: {exc}")
            return frame

    def poll(self) -> None:
        """Read anything the DO sent unasked (a cancel); cheap, never blocks."""
        with self._lock:
            if self.cancelled:
                raise JobStopped(f"the task is {self.cancelled}")
            if self._ws is None:
                return
            while True:
                try:
                    raw = self._ws.recv(timeout=0)
                except TimeoutError:
                    return
                except Exception as exc:
                    if _close_code(exc) in FATAL_CLOSE_CODES:
                        self.cancelled = self.cancelled or "ended"
                        raise JobStopped("the DO closed the engine socket") from exc
                    self._reconnect(f"{type(exc).__name__}: {exc}")
                    return
                self._handle(raw, waiting_for=None)

    def close(self) -> None:
        with self._lock:
            _quiet_close(self._ws)
            self._ws = None

    # -- internals ----------------------------------------------------------------------------

    def _send_text(self, payload: dict[str, Any]) -> None:
        try:
            assert self._ws is not None
            self._ws.send(json.dumps(payload))
        except Exception as exc:
            raise _Dropped(f"{type(exc).__name__}: {exc}") from exc

    def _await_ack(self, seq: int) -> StreamAck:
        deadline = time.monotonic() + self._settings.ack_timeout_s
        while True:
            assert self._ws is not None
            try:
                raw = self._ws.recv(timeout=max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                self._reconnect(f"no ack for seq {seq}")
                deadline = time.monotonic() + self._settings.ack_timeout_s
                continue
            except Exception as exc:
                if _close_code(exc) in FATAL_CLOSE_CODES:
                    self.cancelled = self.cancelled or "ended"
                    raise JobStopped("the DO closed the engine socket") from exc
                self._reconnect(f"{type(exc).__name__}: {exc}")
                if seq not in self._unacked:  # the new hello covered it
                    assert self.hello is not None
                    return StreamAck(type="ack", seq=seq, accepted=True, state=self.hello.state)
                continue
            ack = self._handle(raw, waiting_for=seq)
            if ack is not None:
                return ack

    def _handle(self, raw: str | bytes, *, waiting_for: int | None) -> StreamAck | None:
        if isinstance(raw, bytes):
            return None  # the DO sends the engine no binary messages
        try:
            message = StreamMessage.validate_python(json.loads(raw))
        except (ValueError, ValidationError):
            log.warning("ignoring a malformed message on the engine socket: %.200s", raw)
            return None
        if isinstance(message, StreamCancel):
            self.cancelled = message.state
            raise JobStopped(f"the task is {message.state}")
        if isinstance(message, StreamHello):
            self.hello = message
            return None
        self._unacked.pop(message.seq, None)
        if message.state in TERMINAL_STATES and message.seq == waiting_for:
            return message
        return message if message.seq == waiting_for else None


class _Dropped(Exception):
    pass


def _close_code(exc: BaseException) -> int | None:
    # websockets' ConnectionClosed carries the peer's close frame as `.rcvd`.
    rcvd = getattr(exc, "rcvd", None)
    return getattr(rcvd, "code", None)


def _http_status(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    return getattr(response, "status_code", None)


def _quiet_close(ws: Socket | None) -> None:
    if ws is None:
        return
    try:
        ws.close()
    except Exception:  # noqa: BLE001 - closing a dead socket may fail; nothing to do
        pass
