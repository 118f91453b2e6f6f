"""Self-hosted mode: the same engine package behind uvicorn, with a local GPU job queue."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import httpx
import pytest
import uvicorn
from engine_fakes.fake_model import FakeSpeechModel
from engine_fakes.fake_worker import FakeWorker
from engine_fakes.jobs import make_job, make_runner, serve_reference
from fastapi.testclient import TestClient

from utter_engine.protocol import SubmitRequest
from utter_engine.selfhosted import create_selfhosted_app

TOKEN = "self-hosted-engine-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _app(model: FakeSpeechModel) -> tuple[Any, Any]:
    def run_job(job: SubmitRequest, is_cancelled: Any) -> Any:
        return make_runner(model).run(job, is_cancelled=is_cancelled)

    return create_selfhosted_app(engine_token=TOKEN, run_job=run_job)


def test_a_job_submitted_over_http_runs_on_the_local_queue(worker: FakeWorker) -> None:
    serve_reference(worker)
    app, jobs = _app(FakeSpeechModel(can_stream=True))
    client = TestClient(app)
    assert client.get("/health").json()["engine"] == "selfhosted"
    body = make_job(worker, protocol=2, reference_text="words")
    first = client.post("/jobs", json=body, headers={**AUTH, "Idempotency-Key": body["job_id"]})
    again = client.post("/jobs", json=body, headers={**AUTH, "Idempotency-Key": body["job_id"]})
    assert first.status_code == 202 and first.json() == again.json(), "one job per job id"
    outcome = jobs.wait(first.json()["call_id"], timeout=30)
    assert outcome.status == "completed", outcome
    assert worker.event_types()[-1] == "completed" and worker.frames
    jobs.close()


def test_cancel_flags_the_running_job(worker: FakeWorker) -> None:
    serve_reference(worker)
    started = threading.Event()
    go = threading.Event()

    def hold(n: int) -> None:
        started.set()
        go.wait(10)

    app, jobs = _app(FakeSpeechModel(on_call=hold))
    client = TestClient(app)
    call_id = client.post("/jobs", json=make_job(worker, reference_text="w"), headers=AUTH).json()["call_id"]
    assert started.wait(10)
    assert client.post(f"/jobs/{call_id}/cancel", headers=AUTH).json() == {"cancelled": True}
    go.set()
    assert jobs.wait(call_id, timeout=30).status == "stopped"
    assert client.post(f"/jobs/{call_id}/cancel", headers=AUTH).json() == {"cancelled": False}
    jobs.close()


def test_a_gpu_failure_stops_the_engine_taking_jobs(worker: FakeWorker) -> None:
    app, jobs = _app(FakeSpeechModel(crash_on_call=1, crash_error="device"))
    client = TestClient(app)
    call_id = client.post("/jobs", json=make_job(worker, kind="design_preview"), headers=AUTH).json()["call_id"]
    assert jobs.wait(call_id, timeout=30).device_failed
    assert client.get("/health").json()["state"] == "degraded"
    refused = client.post("/jobs", json=make_job(worker, job_id="job_other", kind="design_preview"), headers=AUTH)
    assert refused.status_code == 503 and refused.json()["error"]["code"] == "engine_unavailable"
    jobs.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_uvicorn_serves_the_engine(worker: FakeWorker) -> None:
    app, jobs = _app(FakeSpeechModel())
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        for _ in range(200):
            if server.started:
                break
            time.sleep(0.02)
        assert server.started
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as http:
            assert http.get("/health").json()["protocols"] == [1, 2]
            job = make_job(worker, kind="design_preview")
            call_id = http.post("/jobs", json=job, headers=AUTH).json()["call_id"]
            assert call_id.startswith("sh-")
            assert jobs.wait(call_id, timeout=30).status == "completed"
            assert http.post("/jobs", json=job, headers={"Authorization": "Bearer nope"}).status_code == 401
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        jobs.close()


@pytest.mark.parametrize("argv", [["--port", "0", "--host", "127.0.0.1"]])
def test_the_command_line_parses(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda target, **kw: seen.update(target=target, **kw))
    from utter_engine import selfhosted

    selfhosted.main(argv)
    assert seen == {"target": "utter_engine.selfhosted:create_app", "factory": True, "host": "127.0.0.1",
                    "port": 0, "workers": 1}
