"""The engine's HTTP endpoint, with spawning/cancelling/transcribing injected."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import FIXTURES, load_json
from fastapi.testclient import TestClient

from utter_engine.errors import UnusableAudio
from utter_engine.protocol import CancelResponse, SubmitRequest, SubmitResponse
from utter_engine.web import create_web_app

TOKEN = "engine-secret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
VALID_SUBMITS = [p for p in sorted((FIXTURES / "valid").glob("*.json")) if load_json(p)["schema"] == "SubmitRequest"]
INVALID_SUBMITS = [
    p for p in sorted((FIXTURES / "invalid").glob("*.json")) if load_json(p)["schema"] == "SubmitRequest"
]


class Engine:
    def __init__(self) -> None:
        self.spawned: list[SubmitRequest] = []
        self.cancelled: list[str] = []
        self.transcribed: list[tuple[bytes, str | None]] = []
        self.spawn_error: Exception | None = None
        self.cancel_answer: bool | Exception = True
        self.transcribe_error: Exception | None = None

    def spawn(self, job: SubmitRequest) -> str:
        if self.spawn_error:
            raise self.spawn_error
        self.spawned.append(job)
        return f"fc-{len(self.spawned):04d}"

    def cancel(self, call_id: str) -> bool:
        self.cancelled.append(call_id)
        if isinstance(self.cancel_answer, Exception):
            raise self.cancel_answer
        return self.cancel_answer

    def transcribe(self, audio: bytes, language: str | None) -> str:
        self.transcribed.append((audio, language))
        if self.transcribe_error:
            raise self.transcribe_error
        return "hello world"


@pytest.fixture
def engine() -> Engine:
    return Engine()


@pytest.fixture
def client(engine: Engine) -> TestClient:
    app = create_web_app(
        engine_token=TOKEN,
        spawn_job=engine.spawn,
        cancel_job=engine.cancel,
        transcribe=engine.transcribe,
        health_info=lambda: {"engine": "test"},
    )
    return TestClient(app)


def a_job() -> dict[str, Any]:
    return load_json(FIXTURES / "valid" / "submit-generate-minimal.json")["value"]


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status
    body = response.json()
    assert set(body) == {"error"} and body["error"]["code"] == code and body["error"]["message"]
    return body["error"]


def test_health_needs_no_token(client: TestClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "protocol": 2, "protocols": [1, 2], "engine": "test"}


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}, {"Authorization": TOKEN}],
    ids=["missing", "wrong", "basic-scheme", "no-scheme"],
)
def test_submit_requires_the_engine_token(client: TestClient, engine: Engine, headers: dict[str, str]) -> None:
    assert_error(client.post("/jobs", json=a_job(), headers=headers), 401, "unauthorized")
    assert engine.spawned == []


def test_auth_is_checked_before_the_body(client: TestClient) -> None:
    assert_error(client.post("/jobs", content=b"{not json"), 401, "unauthorized")


@pytest.mark.parametrize("path", VALID_SUBMITS, ids=[p.stem for p in VALID_SUBMITS])
def test_submit_accepts_every_valid_fixture(client: TestClient, engine: Engine, path: Path) -> None:
    value = load_json(path)["value"]
    response = client.post("/jobs", content=json.dumps(value), headers=AUTH)
    assert response.status_code == 202
    assert SubmitResponse.model_validate(response.json()).call_id == "fc-0001"
    assert engine.spawned == [SubmitRequest.model_validate(value)]


@pytest.mark.parametrize("path", INVALID_SUBMITS, ids=[p.stem for p in INVALID_SUBMITS])
def test_submit_rejects_every_invalid_fixture_with_a_clear_400(client: TestClient, engine: Engine, path: Path) -> None:
    response = client.post("/jobs", content=json.dumps(load_json(path)["value"]), headers=AUTH)
    error = assert_error(response, 400, "invalid_request")
    assert error["details"] and all({"path", "message"} == set(d) for d in error["details"])
    assert engine.spawned == []


def test_submit_names_the_bad_field(client: TestClient) -> None:
    job = a_job()
    job["output"]["sample_rate"] = 7
    error = assert_error(client.post("/jobs", json=job, headers=AUTH), 400, "invalid_request")
    assert [d["path"] for d in error["details"]] == ["output.sample_rate"]


@pytest.mark.parametrize("body", [b"{not json", b"", b'{"seq": NaN}'], ids=["broken", "empty", "nan"])
def test_submit_rejects_non_json(client: TestClient, body: bytes) -> None:
    assert_error(client.post("/jobs", content=body, headers=AUTH), 400, "invalid_json")


def test_submit_rejects_huge_bodies(client: TestClient) -> None:
    # Over the 1 MiB a 50,000-character submit may need (ADR 0023).
    assert_error(client.post("/jobs", content=b" " * (1024 * 1024 + 1), headers=AUTH), 413, "payload_too_large")


def test_submit_reports_a_spawn_failure_as_unavailable(client: TestClient, engine: Engine) -> None:
    engine.spawn_error = RuntimeError("modal is down")
    assert_error(client.post("/jobs", json=a_job(), headers=AUTH), 503, "engine_unavailable")


def test_cancel_answers_202_with_the_outcome(client: TestClient, engine: Engine) -> None:
    response = client.post("/jobs/fc-0001/cancel", headers=AUTH)
    assert response.status_code == 202 and CancelResponse.model_validate(response.json()).cancelled is True
    engine.cancel_answer = False
    assert client.post("/jobs/fc-unknown/cancel", headers=AUTH).json() == {"cancelled": False}
    assert engine.cancelled == ["fc-0001", "fc-unknown"]


def test_cancel_is_best_effort_when_the_backend_errors(client: TestClient, engine: Engine) -> None:
    engine.cancel_answer = RuntimeError("lookup failed")
    response = client.post("/jobs/fc-1/cancel", headers=AUTH)
    assert response.status_code == 202 and response.json() == {"cancelled": False}


def test_cancel_requires_the_engine_token(client: TestClient, engine: Engine) -> None:
    assert_error(client.post("/jobs/fc-1/cancel"), 401, "unauthorized")
    assert engine.cancelled == []


def test_cancel_of_an_over_long_id_is_not_attempted(client: TestClient, engine: Engine) -> None:
    assert client.post(f"/jobs/{'x' * 300}/cancel", headers=AUTH).json() == {"cancelled": False}
    assert engine.cancelled == []


def test_transcribe_returns_text(client: TestClient, engine: Engine) -> None:
    response = client.post("/transcribe?language=de", content=b"RIFF....", headers=AUTH)
    assert response.status_code == 200 and response.json() == {"text": "hello world", "language": "de"}
    client.post("/transcribe", content=b"audio", headers=AUTH)
    assert engine.transcribed == [(b"RIFF....", "de"), (b"audio", None)]


def test_transcribe_validation_and_errors(client: TestClient, engine: Engine) -> None:
    assert_error(client.post("/transcribe", content=b"x"), 401, "unauthorized")
    assert_error(client.post("/transcribe?language=xx", content=b"x", headers=AUTH), 400, "invalid_request")
    assert_error(client.post("/transcribe", content=b"", headers=AUTH), 400, "invalid_request")
    engine.transcribe_error = UnusableAudio("could not decode the reference audio")
    assert_error(client.post("/transcribe", content=b"x", headers=AUTH), 422, "reference_unusable")
    engine.transcribe_error = RuntimeError("gpu fell over")
    assert_error(client.post("/transcribe", content=b"x", headers=AUTH), 503, "engine_unavailable")


def test_transcribe_is_unavailable_without_a_model(engine: Engine) -> None:
    app = create_web_app(engine_token=TOKEN, spawn_job=engine.spawn, cancel_job=engine.cancel)
    assert_error(TestClient(app).post("/transcribe", content=b"x", headers=AUTH), 503, "transcription_unavailable")


def test_unknown_routes_use_the_error_shape(client: TestClient) -> None:
    assert_error(client.get("/nope"), 404, "not_found")
    assert_error(client.get("/jobs"), 405, "method_not_allowed")


def test_an_empty_engine_token_is_refused_at_startup(engine: Engine) -> None:
    with pytest.raises(ValueError, match="ENGINE_TOKEN"):
        create_web_app(engine_token="", spawn_job=engine.spawn, cancel_job=engine.cancel)
