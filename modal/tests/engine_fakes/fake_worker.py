"""A fake Worker: real HTTP and WebSocket servers on 127.0.0.1 speaking the engine's callback side.

Protocol 1 routes mirror the Worker's (`/internal/engine/jobs/{id}/{events,reference,segments/{n},final}`).
Protocol 2 (ADR 0009) adds the engine socket (`…/stream`: hello, acks by seq, binary frames checked
frame by frame, cancel + close 4009) and the artifact routes (single PUT up to 8 MiB, R2-style
multipart above, checked against the artifact registry). Everything checks the job token, validates
with the protocol models, and records what arrived in order as fixture-style steps.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.sync.server import ServerConnection, serve

from utter_engine.alignment import Alignment
from utter_engine.artifacts import ARTIFACT_KINDS, MAX_SINGLE_BYTES, PART_SIZE
from utter_engine.frames import FrameError, decode_frame
from utter_engine.protocol import TERMINAL_STATES, EngineEvent, MultipartComplete, Peaks

_ROUTE = re.compile(
    r"^/internal/engine/jobs/(?P<job>[A-Za-z0-9_-]+)/(?P<rest>events|reference|final|final\.mp3|segments/\d+"
    r"|artifacts/[a-z_0-9]+(?:/\d+)?(?:/uploads(?:/[A-Za-z0-9-]+/(?:parts/\d+|complete))?)?)$"
)
_ARTIFACT = re.compile(
    r"^artifacts/(?P<kind>[a-z_0-9]+)(?:/(?P<index>\d+))?(?P<mp>/uploads(?:/(?P<upload>[A-Za-z0-9-]+)/"
    r"(?:parts/(?P<part>\d+)|(?P<complete>complete)))?)?$"
)
_STREAM = re.compile(r"^/internal/engine/jobs/(?P<job>[A-Za-z0-9_-]+)/stream$")


@dataclass
class JobState:
    last_seq: int = -1
    state: str = "running"
    last_frame: int = -1
    stream_offset: int = 0
    # (kind, index) of every artifact stored, in arrival order
    artifacts: list[tuple[str, int | None]] = field(default_factory=list)
    uploads: dict[str, dict[int, bytes]] = field(default_factory=dict)


@dataclass
class SocketRecord:
    """One engine socket as the fake saw it."""

    job_id: str
    hello: dict[str, Any]
    close_code: int | None = None


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
    multipart_uploads: int = 0
    lost_events: list[Any] = field(default_factory=list)
    # v2: binary frames as decoded (AudioFrame), in arrival order, and every socket opened.
    frames: list[Any] = field(default_factory=list)
    sockets: list[SocketRecord] = field(default_factory=list)
    # Called with each accepted socket event / frame; return "cancelled"/"failed" to end the task from outside.
    cancel_on: Callable[[str, Any], str | None] | None = None
    # Drop the socket without a close frame (a network failure) after this many frames, once.
    drop_after_frames: int | None = None
    # Drop the socket when the event with this seq arrives, before reading it (it is lost), once.
    drop_event_seq: int | None = None
    # Refuse sockets with this HTTP status (e.g. 503: the engine must fall back to HTTP events).
    refuse_sockets: int | None = None
    # Serve GET on segment artifacts (the resume path of a preempted rerun).
    serve_artifacts: bool = True

    def __post_init__(self) -> None:
        self._lock = threading.RLock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self._ws = serve(self._socket, "127.0.0.1", 0, process_request=self._check_upgrade, max_size=2**20)
        self._ws_thread = threading.Thread(target=self._ws.serve_forever, daemon=True)
        self._multipart: dict[str, dict[str, Any]] = {}

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def job_base(self, job_id: str) -> str:
        return f"{self.base_url}/internal/engine/jobs/{job_id}"

    def stream_url(self, job_id: str) -> str:
        host, port = self._ws.socket.getsockname()[:2]
        return f"ws://{host}:{port}/internal/engine/jobs/{job_id}/stream"

    def job(self, job_id: str) -> JobState:
        with self._lock:
            return self.jobs.setdefault(job_id, JobState())

    def live_pcm(self, segment: int | None = None) -> bytes:
        """The live stream's PCM, in frame order (optionally one segment's)."""
        return b"".join(f.pcm for f in self.frames if segment is None or f.segment == segment)

    def events(self) -> list[dict[str, Any]]:
        return [s["value"] for s in self.steps if s["op"] == "event"]

    def event_types(self) -> list[str]:
        return [e["type"] for e in self.events()]

    def __enter__(self) -> FakeWorker:
        self._thread.start()
        self._ws_thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._ws.shutdown()

    # -- the engine socket (v2) --------------------------------------------------------

    def _check_upgrade(self, connection: ServerConnection, request: Any) -> Any:
        parts = urlsplit(request.path)
        match = _STREAM.match(parts.path)
        if match is None:
            return connection.respond(404, "not found\n")
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        token = token or (parse_qs(parts.query).get("token") or [""])[0]
        if token != self.token:
            return connection.respond(401, "bad token\n")
        if self.refuse_sockets is not None:
            return connection.respond(self.refuse_sockets, "refused\n")
        return None

    def _socket(self, ws: ServerConnection) -> None:
        match = _STREAM.match(urlsplit(ws.request.path).path)
        assert match is not None
        job_id = match["job"]
        job = self.job(job_id)
        with self._lock:
            hello = {
                "type": "hello",
                "acked_seq": job.last_seq,
                "state": job.state,
                "artifacts": [{"kind": k, "index": i} for k, i in job.artifacts],
                "last_frame": job.last_frame,
                "stream_offset": job.stream_offset,
            }
            record = SocketRecord(job_id, hello)
            self.sockets.append(record)
        ws.send(json.dumps(hello))
        try:
            for message in ws:
                code = self._on_message(job, message, ws, record)
                if code is not None:
                    record.close_code = code
                    return
        except Exception:  # the engine went away
            return

    def _end_from_outside(self, job: JobState, state: str, ws: ServerConnection, record: SocketRecord) -> int:
        with self._lock:
            job.state = state
        ws.send(json.dumps({"type": "cancel", "state": state}))
        # Recorded before the closing handshake: a test may look as soon as the engine has stopped.
        record.close_code = 4009
        ws.close(4009, "task ended")
        return 4009

    def _on_message(self, job: JobState, message: str | bytes, ws: ServerConnection, record: SocketRecord) -> int | None:
        if isinstance(message, bytes):
            try:
                frame = decode_frame(message)
            except FrameError:
                record.close_code = 4400
                ws.close(4400, "malformed frame")
                return 4400
            with self._lock:
                if job.state in TERMINAL_STATES or frame.frame != job.last_frame + 1:
                    record.close_code = 4409
                    ws.close(4409, "frame out of order")
                    return 4409
                job.last_frame = frame.frame
                job.stream_offset += frame.sample_count
                self.frames.append(frame)
                self.steps.append({"op": "frame", "segment": frame.segment, "frame": frame.frame})
                drop = self.drop_after_frames is not None and len(self.frames) >= self.drop_after_frames
                if drop:
                    self.drop_after_frames = None
            if drop:
                ws.socket.close()  # no close frame: what a network failure looks like
                return 1006
            if self.cancel_on is not None and (state := self.cancel_on("frame", frame)):
                return self._end_from_outside(job, state, ws, record)
            return None
        try:
            value = json.loads(message)
            EngineEvent.validate_python(value)
        except Exception:
            self.invalid_events.append(message)
            record.close_code = 4400
            ws.close(4400, "malformed event")
            return 4400
        with self._lock:
            lose = self.drop_event_seq is not None and value["seq"] == self.drop_event_seq
            if lose:
                self.drop_event_seq = None
                self.lost_events.append(value)
        if lose:
            ws.socket.close()
            return 1006
        with self._lock:
            accepted = self._apply_event(job, value)
            ack = {"type": "ack", "seq": value["seq"], "accepted": accepted, "state": job.state}
        ws.send(json.dumps(ack))
        if accepted and self.cancel_on is not None and (state := self.cancel_on("event", value)):
            return self._end_from_outside(job, state, ws, record)
        return None

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
        if rest.startswith("artifacts/"):
            return self._artifact(job, rest, method, h, body)
        if method == "PUT":
            return self._upload(job, rest, h, body)
        return _error(405, "method_not_allowed")

    # -- artifacts (v2) --------------------------------------------------------------

    def _artifact(
        self, job: JobState, rest: str, method: str, h: BaseHTTPRequestHandler, body: bytes
    ) -> tuple[int, bytes, str]:
        m = _ARTIFACT.match(rest)
        if m is None or m["kind"] not in ARTIFACT_KINDS:
            return _error(404, "unknown_artifact_kind")
        kind, spec = m["kind"], ARTIFACT_KINDS[m["kind"]]
        index = int(m["index"]) if m["index"] is not None else None
        if spec.indexed != (index is not None):
            return _error(400, "artifact_index")
        if index is not None and spec.max_index is not None and index > spec.max_index:
            return _error(400, "artifact_index")
        if method == "GET" and not m["mp"]:
            stored = job.uploads.get(kind, {}).get(-1 if index is None else index)
            if stored is None or not self.serve_artifacts:
                return _error(404, "not_found")
            return 200, stored, spec.content_types[0]
        with self._lock:
            if job.state in TERMINAL_STATES and not (spec.after_completed and job.state == "succeeded"):
                return _error(409, "job_terminal")
        ctype = h.headers.get("Content-Type", "")
        if not m["mp"]:
            if method != "PUT":
                return _error(405, "method_not_allowed")
            with self._lock:
                queued = self.fail_uploads.get(rest)
                if queued:
                    return _error(queued.pop(0), "upload_error")
            if ctype not in spec.content_types:
                return _error(415, "bad_content_type")
            if len(body) > MAX_SINGLE_BYTES:
                return _error(413, "too_large_for_one_put")
            if spec.content_schema == "alignment":
                # As the Worker: a JSON kind is parsed with its schema before anything is stored.
                try:
                    Alignment.model_validate_json(body)
                except Exception:
                    return _error(400, "invalid_artifact_content")
            return self._store(job, kind, index, body, rest)
        if m["upload"] is None:
            if method != "POST":
                return _error(405, "method_not_allowed")
            if spec.content_schema is not None:
                return _error(400, "single_body_required")
            upload_id = uuid.uuid4().hex
            with self._lock:
                self._multipart[upload_id] = {"rest": rest.split("/uploads")[0], "kind": kind, "parts": {}}
            return 201, json.dumps({"upload_id": upload_id, "part_size": PART_SIZE}).encode(), "application/json"
        pending = self._multipart.get(m["upload"])
        if pending is None:
            return _error(404, "no_such_upload")
        if m["part"] is not None:
            if method != "PUT" or ctype not in spec.content_types:
                return _error(415, "bad_content_type")
            number = int(m["part"])
            etag = hashlib.md5(body).hexdigest()  # noqa: S324 - an etag, as R2 makes them
            pending["parts"][number] = (etag, body)
            return 200, json.dumps({"part_number": number, "etag": etag}).encode(), "application/json"
        if method != "POST":
            return _error(405, "method_not_allowed")
        try:
            done = MultipartComplete.model_validate(json.loads(body))
        except Exception:
            return _error(400, "invalid_complete")
        stored_parts = pending["parts"]
        numbers = [p.part_number for p in done.parts]
        if numbers != sorted(stored_parts) or any(stored_parts[p.part_number][0] != p.etag for p in done.parts):
            return _error(400, "parts_mismatch")
        sizes = [len(stored_parts[n][1]) for n in numbers]
        if any(size != PART_SIZE for size in sizes[:-1]):
            return _error(400, "part_size")
        whole = b"".join(stored_parts[n][1] for n in numbers)
        with self._lock:
            del self._multipart[m["upload"]]
            self.multipart_uploads += 1
        return self._store(job, kind, index, whole, pending["rest"])

    def _store(self, job: JobState, kind: str, index: int | None, body: bytes, path: str) -> tuple[int, bytes, str]:
        if len(body) > ARTIFACT_KINDS[kind].max_bytes:
            return _error(413, "too_large")
        if kind == "peaks":
            # Checked before it is stored, as the Worker does (ADR 0023).
            try:
                Peaks.model_validate_json(body)
            except Exception:
                return _error(400, "invalid_artifact_content")
        with self._lock:
            job.uploads.setdefault(kind, {})[-1 if index is None else index] = body
            if (kind, index) not in job.artifacts:
                job.artifacts.append((kind, index))
            self.uploads[path] = body
            self.steps.append({"op": "upload", "path": path})
        return 201, json.dumps({"kind": kind, "index": index, "size_bytes": len(body)}).encode(), "application/json"

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
            accepted = self._apply_event(job, value)
            ack = {"accepted": accepted, "state": job.state}
        return 200, json.dumps(ack).encode(), "application/json"

    def _apply_event(self, job: JobState, value: dict[str, Any]) -> bool:
        """One event, over either transport, as the DO takes it: once, in seq order, not after the end.
        Call with the lock held."""
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
        return accepted

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
            # v1 paths are aliases of the artifact kinds: a resumed v1 attempt reads its parts back (ADR 0023).
            m = re.match(r"^segments/(\d+)$", path)
            if m is not None:
                job.uploads.setdefault("segment", {})[int(m[1])] = body
            elif path == "final":
                job.uploads.setdefault("final", {})[-1] = body
        return 201, json.dumps({"size_bytes": len(body)}).encode(), "application/json"


def _error(status: int, code: str) -> tuple[int, bytes, str]:
    return status, json.dumps({"error": {"code": code, "message": code}}).encode(), "application/json"
