"""The Modal app: imports without GPU libraries, is wired as configured, and its glue works."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import modal
import pytest
from conftest import MODAL_DIR
from engine_fakes.fake_model import FakeSpeechModel, FakeTranscriber
from engine_fakes.fake_worker import FakeWorker
from engine_fakes.jobs import FIXED_NOW, make_job, reference_wav
from fastapi.testclient import TestClient

import app as engine_app
from utter_engine.cancel_flags import MemoryFlagStore
from utter_engine.config import EngineConfig
from utter_engine.errors import UnusableAudio
from utter_engine.protocol import SubmitRequest

pytestmark = pytest.mark.filterwarnings("ignore:The .* function is executing locally")


def run_python(code: str, **env: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=MODAL_DIR,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_app_imports_without_torch_or_qwen_tts() -> None:
    assert importlib.util.find_spec("torch") is None and importlib.util.find_spec("qwen_tts") is None
    out = run_python("import sys, app; print(app.app.name, 'torch' in sys.modules, 'qwen_tts' in sys.modules)")
    assert out.split() == ["utter-engine", "False", "False"]


def test_app_defines_the_endpoint_the_gpu_classes_and_the_weight_download() -> None:
    for name in ("web", "download_weights", "enforce_cancel"):
        assert isinstance(getattr(engine_app, name), modal.Function)
    for name in ("CloneEngine", "DesignEngine"):
        assert isinstance(getattr(engine_app, name), modal.Cls)


def test_gpu_classes_have_cold_start_settings_from_the_environment() -> None:
    code = (
        "import json, app; o = app._ENGINE_OPTIONS; "
        "print(json.dumps({k: o[k] for k in ('gpu', 'scaledown_window', 'min_containers', 'enable_memory_snapshot', "
        "'experimental_options', 'retries', 'timeout')} | {'env': o['env']}))"
    )
    defaults = json.loads(run_python(code))
    assert defaults["gpu"] == "L4" and defaults["scaledown_window"] == 300 and defaults["min_containers"] == 0
    assert defaults["enable_memory_snapshot"] is True and defaults["experimental_options"] is None
    assert defaults["retries"] == 0, "a retried job would restart at seq 0"
    assert defaults["env"]["HF_HUB_OFFLINE"] == "1"

    tuned = json.loads(
        run_python(
            code,
            UTTER_GPU="L40S,A10G",
            UTTER_SCALEDOWN_SECONDS="60",
            UTTER_MIN_CONTAINERS="1",
            UTTER_GPU_SNAPSHOT="true",
        )
    )
    assert tuned["gpu"] == ["L40S", "A10G"] and tuned["scaledown_window"] == 60 and tuned["min_containers"] == 1
    assert tuned["experimental_options"] == {"enable_gpu_snapshot": True}
    assert tuned["env"]["UTTER_GPU"] == "L40S,A10G", "containers see the deploy-time settings"


def test_model_ids_are_configurable() -> None:
    code = "import json, app; print(json.dumps({c.__name__: c.model_id for c in app._Engine.__subclasses__()}))"
    assert json.loads(run_python(code)) == {
        "CloneEngine": "Qwen/Qwen3-TTS-12Hz-1.7B-Base",
        "DesignEngine": "Qwen/Qwen3-TTS-12Hz-1.7B-VoiceDesign",
    }
    small = json.loads(run_python(code, UTTER_CLONE_MODEL="Qwen/Qwen3-TTS-12Hz-0.6B-Base"))
    assert small["CloneEngine"] == "Qwen/Qwen3-TTS-12Hz-0.6B-Base"


# --- the glue between the endpoint and Modal ----------------------------------------------


class FakeCall:
    def __init__(self, outcome: Any) -> None:
        self.outcome = outcome
        self.cancelled = False
        self.waited: list[float | None] = []

    def get(self, timeout: float | None = None) -> Any:
        self.waited.append(timeout)
        if isinstance(self.outcome, BaseException):
            raise self.outcome
        return self.outcome

    def cancel(self, terminate_containers: bool = False) -> None:
        self.cancelled = True


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> dict[str, FakeCall]:
    registry: dict[str, FakeCall] = {}

    def from_id(call_id: str, client: Any = None) -> FakeCall:
        return registry.setdefault(call_id, FakeCall(modal.exception.NotFoundError("no such call")))

    monkeypatch.setattr(modal.FunctionCall, "from_id", staticmethod(from_id))
    return registry


def test_spawn_routes_jobs_to_the_model_for_their_kind(monkeypatch: pytest.MonkeyPatch) -> None:
    spawned: list[tuple[str, dict[str, Any]]] = []

    def engine(name: str) -> Any:
        class Spawned:
            object_id = f"fc-{name}"

        class Method:
            def spawn(self, job: dict[str, Any]) -> Spawned:
                spawned.append((name, job))
                return Spawned()

        return type(name, (), {"run_job": Method()})

    monkeypatch.setattr(engine_app, "CloneEngine", engine("clone"))
    monkeypatch.setattr(engine_app, "DesignEngine", engine("design"))
    with FakeWorker(token="job-token-0123456789abcdef") as w:
        generate = SubmitRequest.model_validate(make_job(w))
        design = SubmitRequest.model_validate(make_job(w, kind="design_preview"))
    assert engine_app.spawn_job(generate) == "fc-clone"
    assert engine_app.spawn_job(design) == "fc-design"
    assert spawned[0][1] == generate.to_json(), "the job crosses to the GPU as plain protocol JSON"


def test_cancel_flags_a_running_job_and_arms_the_backstop(
    monkeypatch: pytest.MonkeyPatch, calls: dict[str, FakeCall]
) -> None:
    store = MemoryFlagStore()
    backstops: list[tuple[str, int]] = []
    monkeypatch.setattr(engine_app, "cancel_store", store)
    monkeypatch.setattr(
        engine_app, "enforce_cancel", type("F", (), {"spawn": staticmethod(lambda *a: backstops.append(a))})()
    )
    calls["fc-running"] = FakeCall(TimeoutError())
    calls["fc-done"] = FakeCall({"status": "completed"})
    calls["fc-crashed"] = FakeCall(RuntimeError("boom"))

    assert engine_app.cancel_job("fc-running") is True
    assert store.get("cancel:fc-running") is not None
    assert backstops == [("fc-running", engine_app.config.cancel_grace_seconds)]
    assert calls["fc-running"].waited == [0], "only polls; never waits for the job"

    for finished in ("fc-done", "fc-crashed", "fc-unknown"):
        assert engine_app.cancel_job(finished) is False
        assert store.get(f"cancel:{finished}") is None
    assert engine_app.cancel_job("not-a-call-id") is False
    assert len(backstops) == 1


def test_the_backstop_kills_only_a_job_that_did_not_stop(calls: dict[str, FakeCall]) -> None:
    calls["fc-stuck"] = FakeCall(TimeoutError())
    calls["fc-stopped"] = FakeCall({"status": "stopped"})
    assert engine_app.enforce_cancel.local("fc-stuck", 7) is True
    assert calls["fc-stuck"].cancelled and calls["fc-stuck"].waited == [7]
    assert engine_app.enforce_cancel.local("fc-stopped", 7) is False
    assert not calls["fc-stopped"].cancelled


def test_the_web_function_builds_the_endpoint_from_the_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENGINE_TOKEN", "from-the-modal-secret")
    client = TestClient(engine_app.web.local())
    health = client.get("/health").json()
    assert health["engine"] == "modal" and health["clone_model"] == engine_app.config.clone_model
    assert client.post("/jobs", json={}, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.post("/jobs", json={}, headers={"Authorization": "Bearer from-the-modal-secret"}).status_code == 400


# --- the GPU classes, run locally with the fake model --------------------------------------


# What the fixture's loader built (in order), and options for the speech models it builds.
MADE: list[Any] = []
MODEL_OPTIONS: dict[str, Any] = {}


@pytest.fixture
def models_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    config = EngineConfig(models_dir=str(tmp_path))
    for repo in (config.clone_model, config.design_model, config.asr_model):
        (tmp_path / repo).mkdir(parents=True)
    monkeypatch.setattr(engine_app, "config", config)
    monkeypatch.setattr(engine_app, "cancel_store", MemoryFlagStore())
    monkeypatch.setattr(engine_app, "jobs_store", MemoryFlagStore())
    monkeypatch.setattr(engine_app, "clock", lambda: FIXED_NOW)
    MADE.clear()
    MODEL_OPTIONS.clear()

    class Loader:
        @staticmethod
        def load(path: str, **_: Any) -> Any:
            made = FakeTranscriber("the words") if path.endswith(engine_app.config.asr_model) else FakeSpeechModel(**MODEL_OPTIONS)
            MADE.append(made)
            return made

    monkeypatch.setattr(engine_app, "QwenSpeechModel", Loader)
    monkeypatch.setattr(engine_app, "WhisperTranscriber", type("W", (Loader,), {"SAMPLE_RATE": 16000}))
    return tmp_path


def test_a_gpu_class_loads_its_models_once_and_runs_jobs(models_dir: Path) -> None:
    engine = engine_app.CloneEngine()
    with FakeWorker(token="job-token-0123456789abcdef") as w:
        w.references["job_test_1"] = (200, reference_wav(), "audio/wav")
        outcome = engine.run_job.local(make_job(w, text="Hello from the cloud."))
        assert outcome["status"] == "completed", outcome
        assert w.event_types()[-1] == "completed"


def test_the_clone_class_transcribes_uploads(models_dir: Path) -> None:
    engine = engine_app.CloneEngine()
    assert engine.transcribe.local(reference_wav(seconds=3.0), "en") == "the words"
    with pytest.raises(UnusableAudio):
        engine.transcribe.local(b"definitely not audio" * 50, None)


def test_missing_weights_fail_jobs_at_once_instead_of_timing_out(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(engine_app, "config", EngineConfig(models_dir=str(tmp_path / "empty")))
    with FakeWorker(token="job-token-0123456789abcdef") as w:
        outcome = engine_app.DesignEngine().run_job.local(make_job(w, kind="design_preview"))
        assert outcome["error_code"] == "engine_unavailable"
        assert w.event_types() == ["started", "failed"]
        assert "download_weights" in w.events()[-1]["error"]["message"]


# --- pins --------------------------------------------------------------------------------


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==([^\s#]+)", line.strip())
        if match:
            pins[match.group(1).lower().replace("_", "-")] = match.group(2)
    return pins


def test_tests_and_images_pin_the_same_versions_of_shared_packages() -> None:
    dev = _pins(MODAL_DIR / "requirements-dev.txt")
    for image in ("requirements-image.txt", "requirements-web.txt"):
        pinned = _pins(MODAL_DIR / image)
        assert pinned, image
        for package in set(dev) & set(pinned):
            assert dev[package] == pinned[package], f"{package} differs between requirements-dev.txt and {image}"
    image = _pins(MODAL_DIR / "requirements-image.txt")
    assert {"torch", "qwen-tts", "transformers", "faster-qwen3-tts", "websockets"} <= set(image)
    # The real-model tests run the image's versions of what they share with it.
    for tests in ("requirements-model.txt", "requirements-model-nodeps.txt"):
        pinned = _pins(MODAL_DIR / tests)
        assert pinned, tests
        for package in set(pinned) & set(image):
            assert pinned[package] == image[package], f"{package} differs between {tests} and the image"
    assert {"torch", "transformers"} <= set(_pins(MODAL_DIR / "requirements-model.txt"))
    assert {"qwen-tts", "faster-qwen3-tts"} <= set(_pins(MODAL_DIR / "requirements-model-nodeps.txt"))


# --- production correctness (issue 12) ---------------------------------------------------

_NO_NUMPY = """
import importlib.abc, sys

class NoNumpy(importlib.abc.MetaPathFinder):
    # The web image: numpy (and everything built on it) is not installed.
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("numpy", "scipy"):
            raise ModuleNotFoundError(f"No module named {name!r}")
        return None

sys.meta_path.insert(0, NoNumpy())
"""


def test_cancel_works_in_the_web_image_without_numpy() -> None:
    code = _NO_NUMPY + (
        "import app, modal\n"
        "from utter_engine.cancel_flags import MemoryFlagStore\n"
        "assert 'numpy' not in sys.modules\n"
        "class Call:\n"
        "    def get(self, timeout=None): raise TimeoutError()\n"
        "modal.FunctionCall.from_id = staticmethod(lambda call_id, client=None: Call())\n"
        "app.cancel_store = MemoryFlagStore()\n"
        "app.enforce_cancel = type('F', (), {'spawn': staticmethod(lambda *a: None)})()\n"
        "from fastapi.testclient import TestClient\n"
        "import os; os.environ['ENGINE_TOKEN'] = 'web-image-token'\n"
        "client = TestClient(app.web.local())\n"
        "r = client.post('/jobs/fc-running/cancel', headers={'Authorization': 'Bearer web-image-token'})\n"
        "print(r.status_code, r.json()['cancelled'], app.cancel_store.get('cancel:fc-running') is not None)\n"
    )
    out = run_python(code)
    assert out.split()[-3:] == ["202", "True", "True"]


def test_the_numpy_blocker_really_blocks() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _NO_NUMPY + "import numpy"], cwd=MODAL_DIR, capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0 and "No module named 'numpy'" in done.stderr


def test_gpu_classes_reserve_cpu_memory_and_cap_containers() -> None:
    code = (
        "import json, app; o = app._ENGINE_OPTIONS; "
        "print(json.dumps({k: o[k] for k in ('cpu', 'memory', 'max_containers')}))"
    )
    assert json.loads(run_python(code)) == {"cpu": 4.0, "memory": 16384, "max_containers": 10}
    tuned = json.loads(run_python(code, UTTER_CPU="8", UTTER_MEMORY_MB="32768", UTTER_MAX_CONTAINERS="3"))
    assert tuned == {"cpu": 8.0, "memory": 32768, "max_containers": 3}


def test_whisper_loads_on_first_use_not_at_container_start(models_dir: Path) -> None:
    engine = engine_app.CloneEngine()
    with FakeWorker(token="job-token-0123456789abcdef") as w:
        w.references["job_test_1"] = (200, reference_wav(), "audio/wav")
        assert engine.run_job.local(make_job(w, text="Hello.", reference_text="Hello."))["status"] == "completed"
    assert [type(m).__name__ for m in MADE] == ["FakeSpeechModel"], "no Whisper at container start"
    assert engine.transcribe.local(reference_wav(seconds=3.0), "en") == "the words"
    assert engine.transcribe.local(reference_wav(seconds=2.0), None) == "the words"
    assert [type(m).__name__ for m in MADE] == ["FakeSpeechModel", "FakeTranscriber"], "loaded once, on first use"


def test_a_sticky_gpu_error_stops_the_container_taking_inputs(
    models_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stopped: list[bool] = []
    monkeypatch.setattr(engine_app, "stop_fetching_inputs", lambda: stopped.append(True))
    MODEL_OPTIONS.update(crash_on_call=1, crash_error="device")
    engine = engine_app.DesignEngine()
    with FakeWorker(token="job-token-0123456789abcdef") as w:
        outcome = engine.run_job.local(make_job(w, kind="design_preview"))
    assert outcome["device_failed"] is True and outcome["error_code"] == "engine_unavailable"
    assert w.events()[-1]["error"]["retryable"] is True
    assert stopped == [True]


def test_an_ordinary_failure_keeps_the_container(models_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stopped: list[bool] = []
    monkeypatch.setattr(engine_app, "stop_fetching_inputs", lambda: stopped.append(True))
    MODEL_OPTIONS.update(crash_on_call=1)
    engine = engine_app.DesignEngine()
    with FakeWorker(token="job-token-0123456789abcdef") as w:
        outcome = engine.run_job.local(make_job(w, kind="design_preview"))
    assert outcome["status"] == "failed" and not outcome["device_failed"] and not stopped


def test_modal_has_the_stop_fetching_inputs_api() -> None:
    import modal.experimental

    assert callable(modal.experimental.stop_fetching_inputs)


def test_a_duplicate_submit_returns_the_first_call(monkeypatch: pytest.MonkeyPatch) -> None:
    from utter_engine.dedupe import MemoryClaimStore

    spawned: list[str] = []

    def spawn(job: SubmitRequest) -> str:
        spawned.append(job.job_id)
        return f"fc-{len(spawned)}"

    monkeypatch.setattr(engine_app, "spawn_job", spawn)
    monkeypatch.setattr(engine_app, "jobs_store", MemoryClaimStore())
    monkeypatch.setenv("ENGINE_TOKEN", "from-the-modal-secret")
    client = TestClient(engine_app.web.local())
    with FakeWorker(token="job-token-0123456789abcdef") as w:
        body = make_job(w)
    headers = {"Authorization": "Bearer from-the-modal-secret", "Idempotency-Key": body["job_id"]}
    first = client.post("/jobs", json=body, headers=headers)
    again = client.post("/jobs", json=body, headers=headers)
    assert first.status_code == again.status_code == 202
    assert first.json() == again.json() == {"call_id": "fc-1"}
    assert spawned == [body["job_id"]], "one GPU job"
