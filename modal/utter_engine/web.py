"""The engine's HTTP face: submit, cancel, health, and optional transcription.

Built by a factory with its collaborators injected (spawning a Modal call,
cancelling one, transcribing), so tests drive it with plain functions and no
Modal account. Errors use the API's shape: {"error": {"code", "message", "details"?}}.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from .dedupe import SubmitDeduper, SubmitInFlight
from .errors import UnusableAudio
from .protocol import (
    LANGUAGE_CODES,
    PROTOCOL_VERSIONS,
    CancelResponse,
    SubmitRequest,
    SubmitResponse,
    submit_idempotency_key,
)

log = logging.getLogger(__name__)

JobSpawner = Callable[[SubmitRequest], str]
JobCanceller = Callable[[str], bool]
TranscribeFn = Callable[[bytes, "str | None"], str]


def error_response(status: int, code: str, message: str, details: Any = None) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        body["details"] = details
    return JSONResponse({"error": body}, status_code=status)


def create_web_app(
    *,
    engine_token: str,
    spawn_job: JobSpawner,
    cancel_job: JobCanceller,
    transcribe: TranscribeFn | None = None,
    health_info: Callable[[], dict[str, Any]] = dict,
    # 50,000 characters (ADR 0023) escaped as JSON can be 600 kB (`\uXXXX\uXXXX` per astral character).
    max_job_bytes: int = 1024 * 1024,
    max_audio_bytes: int = 50 * 1024 * 1024,
    deduper: SubmitDeduper | None = None,
) -> FastAPI:
    if not engine_token:
        # A blank secret would make every request unauthorised, or worse, authorised.
        raise ValueError("ENGINE_TOKEN is empty; set it in the engine's Modal Secret")
    expected = engine_token.encode("utf-8")
    app = FastAPI(title="Utter engine", docs_url=None, redoc_url=None, openapi_url=None)

    def authorized(request: Request) -> bool:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode("utf-8"), expected)

    def unauthorized() -> JSONResponse:
        return error_response(401, "unauthorized", "Missing or invalid engine token.")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {404: "not_found", 405: "method_not_allowed"}
        return error_response(exc.status_code, codes.get(exc.status_code, "http_error"), str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def request_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(400, "invalid_request", "The request is malformed.", _issues(exc.errors()))

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "protocol": max(PROTOCOL_VERSIONS), "protocols": list(PROTOCOL_VERSIONS), **health_info()}

    @app.post("/jobs")
    async def submit(request: Request) -> JSONResponse:
        if not authorized(request):
            return unauthorized()
        too_large = error_response(413, "payload_too_large", f"A job body is at most {max_job_bytes} bytes.")
        if _declared_length(request) > max_job_bytes:
            return too_large
        body = await request.body()
        if len(body) > max_job_bytes:
            return too_large
        try:
            payload = json.loads(body, parse_constant=_reject_constant)
        except ValueError:
            return error_response(400, "invalid_json", "The body is not valid JSON.")
        try:
            job = SubmitRequest.model_validate(payload)
        except ValidationError as exc:
            return error_response(
                400, "invalid_request", "The body is not a valid SubmitRequest.", _issues(exc.errors())
            )
        # The Worker sends the job id (with a resume's attempt, ADR 0023) as the idempotency key; without one,
        # the key is computed the same way, so a resumed attempt is never answered with the first call.
        key = request.headers.get("idempotency-key", "").strip() or submit_idempotency_key(job)
        if len(key) > 256:
            return error_response(400, "invalid_request", "Idempotency-Key is at most 256 characters.")
        try:
            if deduper is None:
                call_id, spawned = await run_in_threadpool(spawn_job, job), True
            else:
                call_id, spawned = await run_in_threadpool(deduper.submit, key, lambda: spawn_job(job))
        except SubmitInFlight:
            return error_response(503, "engine_busy", "This job is being started by another submit; try again.")
        except Exception:
            log.exception("spawning job %s failed", job.job_id)
            return error_response(503, "engine_unavailable", "The engine could not start the job; try again.")
        log.info("job %s %s %s", job.job_id, "spawned as" if spawned else "already running as", call_id)
        return JSONResponse(SubmitResponse(call_id=call_id).to_json(), status_code=202)

    @app.post("/jobs/{call_id}/cancel")
    async def cancel(call_id: str, request: Request) -> JSONResponse:
        if not authorized(request):
            return unauthorized()
        cancelled = False
        if 0 < len(call_id) <= 256:
            try:
                cancelled = bool(await run_in_threadpool(cancel_job, call_id))
            except Exception:
                # Best effort by contract: an unknown or finished call is simply not cancelled.
                log.exception("cancelling %s failed", call_id)
        return JSONResponse(CancelResponse(cancelled=cancelled).to_json(), status_code=202)

    @app.post("/transcribe")
    async def transcribe_audio(request: Request) -> JSONResponse:
        if not authorized(request):
            return unauthorized()
        if transcribe is None:
            return error_response(503, "transcription_unavailable", "This engine has no transcription model.")
        language = request.query_params.get("language", "auto")
        if language not in LANGUAGE_CODES:
            return error_response(400, "invalid_request", f"language must be one of {', '.join(LANGUAGE_CODES)}.")
        if _declared_length(request) > max_audio_bytes:
            return error_response(413, "payload_too_large", f"Audio is at most {max_audio_bytes} bytes.")
        audio = await request.body()
        if len(audio) > max_audio_bytes:
            return error_response(413, "payload_too_large", f"Audio is at most {max_audio_bytes} bytes.")
        if not audio:
            return error_response(400, "invalid_request", "The body must be the audio bytes.")
        try:
            text = await run_in_threadpool(transcribe, audio, None if language == "auto" else language)
        except UnusableAudio as exc:
            return error_response(422, "reference_unusable", str(exc) or "The audio could not be used.")
        except Exception:
            log.exception("transcription failed")
            return error_response(503, "engine_unavailable", "Transcription failed; try again.")
        return JSONResponse({"text": text, "language": language})

    return app


def _declared_length(request: Request) -> int:
    # Refuse oversized bodies before reading them into memory.
    declared = request.headers.get("content-length", "")
    return int(declared) if declared.isdigit() else 0


def _reject_constant(name: str) -> Any:
    # Python's json accepts NaN/Infinity; JSON (and the Worker) does not.
    raise ValueError(f"{name} is not valid JSON")


def _issues(errors: Any) -> list[dict[str, str]]:
    out = []
    for e in errors:
        path = ".".join(str(part) for part in e.get("loc", ()) if part not in ("body",))
        message = str(e.get("msg", "invalid")).removeprefix("Value error, ")
        out.append({"path": path, "message": message})
    return out
