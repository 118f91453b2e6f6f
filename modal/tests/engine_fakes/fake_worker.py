"""A fake Worker: a real HTTP server on 127.0.0.1 speaking the engine's callback side.

Routes mirror the Worker's (`/internal/engine/jobs/{id}/{events,reference,segments/{n},final}`),
check the job token, validate events with the protocol models, answer EventAck /
UploadAck, and record what arrived in order as fixture-style steps.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from utter_engine.protocol import TERMINAL_STATES, EngineEvent

_ROUTE = re.compile(r"^/internal/engine/jobs/(?P<job>[A-Za-z0-9_-]+)/(?P<rest>events|reference|final|final\.mp3|segments/\d+)$")


@dataclass
class JobState:
    last_seq: int = -1
    state: str = "running"


@dataclass
class FakeWorker:
    token: str
    # job_id -> (status, body, content type) served at .../reference
    references: dict[str, tuple[int, bytes, str]] = field(default_factory=dict)
    # Answer this many event POSTs with 503 before accepting (transient failure).
    fail_events: int = 0
    # path ("segments/0", "final") -> statuses to answer before accepting.
    fail_uploads: dict[str, list[int]] = field(default_factory=dict)
    # Called with each accepted event; may return a state for the EventAck (e.g. "cancelled").
    state_for: Callable[[dict[str, Any]], str | None] | None = None
    steps: list[dict[str, Any]] = field(default_factory=list)
    uploads: dict[str, bytes] = field(default_factory=dict)
    requests: list[tuple[str, str, int]] = field(default_factory=list)
    jobs: dict[str, JobState] = field(default_factory=dict)
    invalid_events: list[Any] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def job_base(self, job_id: str) -> str:
        return f"{self.base_url}/internal/engine/jobs/{job_id}"

    def events(self) -> list[dict[str, Any]]:
        return [s["value"] for s in self.steps if s["op"] == "event"]

    def event_types(self) -> list[str]:
        return [e["type"] for e in self.events()]

    def __enter__(self) -> FakeWorker:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- request handling -------------------------------------------------

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        worker = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: Any) -> None:  # keep test output quiet
                pass

            def do_GET(self) -> None:
                worker._dispatch(self, "GET")

            def do_POST(self) -> None:
                worker._dispatch(self, "POST")

            def do_PUT(self) -> None:
                worker._dispatch(self, "PUT")

        return Handler

    def _dispatch(self, h: BaseHTTPRequestHandler, method: str) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        match = _ROUTE.match(h.path)
        status, payload, ctype = self._route(h, method, match, body)
        with self._lock:
            self.requests.append((method, h.path, status))
        h.send_response(status)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(payload)))
        h.end_headers()
        h.wfile.write(payload)

    def _route(
        self, h: BaseHTTPRequestHandler, method: str, match: re.Match[str] | None, body: bytes
    ) -> tuple[int, bytes, str]:
        if match is None:
            return _error(404, "not_found")
        if h.headers.get("Authorization") != f"Bearer {self.token}":
            return _error(401, "unauthorized")
        job_id, rest = match["job"], match["rest"]
        with self._lock:
            job = self.jobs.setdefault(job_id, JobState())
        if rest == "reference" and method == "GET":
            status, data, ctype = self.references.get(job_id, (404, b"", "application/json"))
            return (status, data, ctype) if status == 200 else _error(status, "reference_error")
        if rest == "events" and method == "POST":
            return self._event(job, body)
        if method == "PUT":
            return self._upload(job, rest, h, body)
        return _error(405, "method_not_allowed")

    def _event(self, job: JobState, body: bytes) -> tuple[int, bytes, str]:
        with self._lock:
            if self.fail_events > 0:
                self.fail_events -= 1
                return _error(503, "unavailable")
        try:
            value = json.loads(body)
            EngineEvent.validate_python(value)
        except Exception:
            self.invalid_events.append(body)
            return _error(400, "invalid_event")
        with self._lock:
            accepted = value["seq"] > job.last_seq and job.state not in TERMINAL_STATES
            if accepted:
                job.last_seq = value["seq"]
                self.steps.append({"op": "event", "value": value})
                if value["type"] == "completed":
                    job.state = "succeeded"
                elif value["type"] == "failed":
                    job.state = "failed"
                elif self.state_for is not None:
                    job.state = self.state_for(value) or job.state
            ack = {"accepted": accepted, "state": job.state}
        return 200, json.dumps(ack).encode(), "application/json"

    def _upload(self, job: JobState, path: str, h: BaseHTTPRequestHandler, body: bytes) -> tuple[int, bytes, str]:
        with self._lock:
            queued = self.fail_uploads.get(path)
            if queued:
                status = queued.pop(0)
                return _error(status, "upload_error")
            if job.state in TERMINAL_STATES:
                return _error(409, "job_terminal")
        if h.headers.get("Content-Type") != ("audio/mpeg" if path == "final.mp3" else "audio/wav"):
            return _error(400, "bad_content_type")
        with self._lock:
            self.uploads[path] = body
            self.steps.append({"op": "upload", "path": path})
        return 201, json.dumps({"size_bytes": len(body)}).encode(), "application/json"


def _error(status: int, code: str) -> tuple[int, bytes, str]:
    return status, json.dumps({"error": {"code": code, "message": code}}).encode(), "application/json"
