"""Utter speech engine on Modal: engine protocols 1 and 2 in front of Qwen3-TTS.

    modal run modal/app.py::download_weights   # once: weights onto the Volume
    modal deploy modal/app.py                  # the web endpoint + GPU classes

Pieces:
- `web` (CPU, FastAPI): POST /jobs -> spawns a GPU job, 202 {call_id};
  POST /jobs/{call_id}/cancel; POST /transcribe; GET /health.
- `CloneEngine` (GPU): Qwen3-TTS Base (voice cloning) + Whisper for reference transcripts.
- `DesignEngine` (GPU): Qwen3-TTS VoiceDesign, for `design_preview` jobs.
- `download_weights`: fills the `utter-models` Volume from Hugging Face.
- `enforce_cancel`: kills a cancelled job that did not stop by itself in time.

This file must import on a machine without torch (tests, `modal deploy` from a
laptop): GPU-only imports sit under `engine_image.imports()`. Anything the web
endpoint calls (cancel, dedupe) is pure Python and imported at the top, because
the web image has no numpy and `Image.imports()` swallows ImportErrors.
Everything else is the `utter_engine` package, which also runs self-hosted
(`utter_engine.selfhosted`, docs/engine.md): only this file is Modal-specific.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import modal

# Pure Python, needed by the web endpoint too: never inside an `imports()` block (see the docstring).
from utter_engine.cancel_flags import CancelFlags
from utter_engine.config import MINUTES, EngineConfig
from utter_engine.dedupe import SubmitDeduper

config = EngineConfig.from_env()
app = modal.App(config.app_name)

_HERE = Path(__file__).resolve().parent
# Pinned so an image rebuild months from now installs the same way.
UV_VERSION = "0.13.9"
PYTHON_VERSION = "3.11"

models_volume = modal.Volume.from_name(config.models_volume, create_if_missing=True)
engine_secret = modal.Secret.from_name(config.secret_name, required_keys=["ENGINE_TOKEN"])
cancel_store = modal.Dict.from_name(config.cancel_dict, create_if_missing=True)
jobs_store = modal.Dict.from_name(config.jobs_dict, create_if_missing=True)

engine_image = (
    modal.Image.debian_slim(python_version=PYTHON_VERSION)
    # ffmpeg decodes MP3/M4A/OGG/WEBM/FLAC references; sox and libsndfile back qwen-tts' audio I/O.
    .apt_install("ffmpeg", "sox", "libsndfile1")
    .uv_pip_install(requirements=[str(_HERE / "requirements-image.txt")], uv_version=UV_VERSION)
    .env({"TOKENIZERS_PARALLELISM": "false", "HF_HUB_ENABLE_HF_TRANSFER": "1"})
    .add_local_python_source("utter_engine")
)
web_image = (
    modal.Image.debian_slim(python_version=PYTHON_VERSION)
    .uv_pip_install(requirements=[str(_HERE / "requirements-web.txt")], uv_version=UV_VERSION)
    .add_local_python_source("utter_engine")
)
download_image = (
    modal.Image.debian_slim(python_version=PYTHON_VERSION)
    .uv_pip_install("huggingface_hub[hf_transfer]==0.36.2", uv_version=UV_VERSION)
    .env({"HF_HUB_ENABLE_HF_TRANSFER": "1"})
    .add_local_python_source("utter_engine")
)

with engine_image.imports():
    # Pure Python + numpy/scipy: present in the engine image (and the tests), not in the web image.
    from utter_engine.audio_decode import DecodeError, decode_audio
    from utter_engine.errors import UnusableAudio
    from utter_engine.mp3 import encode_mp3_ffmpeg
    from utter_engine.prompt_cache import PromptCache
    from utter_engine.qwen_model import LazyTranscriber, QwenSpeechModel, WhisperTranscriber
    from utter_engine.runner import JobRunner, RunnerSettings, report_unavailable

with engine_image.imports():
    # GPU-only. Imported at container start, before the memory snapshot is taken,
    # so a restored container skips the ~10 s of importing torch and transformers.
    import faster_qwen3_tts  # noqa: F401
    import qwen_tts  # noqa: F401
    import torch  # noqa: F401
    import transformers  # noqa: F401

with web_image.imports():
    from utter_engine.protocol import SubmitRequest
    from utter_engine.web import create_web_app

log = logging.getLogger("utter.engine")

# The runner's clock (job deadlines). A module attribute so tests can fix it instead of
# depending on today's date.
clock: Callable[[], datetime] = lambda: datetime.now(UTC)


def _configure_logging() -> None:
    # Containers only: Modal streams stdout/stderr to the app's logs, and job
    # progress is logged at INFO, below Python's default WARNING threshold.
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")


# Everything a GPU class shares. retries=0 on purpose: a retried input would replay the job.
# (Preemption still restarts an input; the runner resumes a v2 job from the socket's hello
# and never replays a v1 one: ADR 0013.)
_ENGINE_OPTIONS: dict[str, Any] = dict(
    image=engine_image,
    gpu=config.gpu_list(),
    cpu=config.cpu,
    memory=config.memory_mb,
    max_containers=config.max_containers,
    volumes={config.models_dir: models_volume},
    env={**config.to_env(), "HF_HUB_OFFLINE": "1"},  # weights come from the Volume only
    timeout=config.job_timeout_seconds,
    scaledown_window=config.scaledown_seconds,
    min_containers=config.min_containers,
    retries=0,
    enable_memory_snapshot=True,
    experimental_options={"enable_gpu_snapshot": True} if config.gpu_snapshot else None,
)


class _Engine:
    """Loads its models once per container and runs jobs with the shared runner."""

    model_id: str
    with_asr: bool = False

    @modal.enter(snap=True)
    def boot(self) -> None:
        _configure_logging()
        self.prompt_cache = PromptCache()
        self.speech: Any = None
        self.asr: Any = None
        self.load_error: str | None = None
        self.preempted = threading.Event()
        _watch_for_preemption(self.preempted)
        if config.gpu_snapshot:
            # With GPU snapshots the weights already on the GPU are part of the snapshot.
            self._load_models()

    @modal.enter(snap=False)
    def ready(self) -> None:
        if self.speech is None and self.load_error is None:
            self._load_models()

    def _load_models(self) -> None:
        path = config.model_dir(self.model_id)
        if not os.path.isdir(path):
            self.load_error = f"{self.model_id} is not on the Volume; run `modal run modal/app.py::download_weights`"
            log.error(self.load_error)
            return
        try:
            self.speech = QwenSpeechModel.load(
                path, attn_implementation=config.attn_implementation, streaming=config.streaming
            )
        except Exception as exc:  # reported on every job instead of crash-looping the container
            self.load_error = f"loading {self.model_id} failed: {type(exc).__name__}: {exc}"
            log.exception("model load failed")
            return
        if self.with_asr:
            # Whisper loads on first use: the Worker sends transcripts with most voices.
            self.asr = LazyTranscriber(_whisper_loader(config.model_dir(config.asr_model)))

    @modal.method()
    def run_job(self, job: dict[str, Any]) -> dict[str, Any]:
        if self.speech is None:
            outcome = report_unavailable(job, self.load_error or "the speech model is not loaded")
            return dataclasses.asdict(outcome)
        call_id = modal.current_function_call_id() or ""
        runner = JobRunner(
            self.speech,
            transcriber=self.asr,
            prompt_cache=self.prompt_cache,
            settings=RunnerSettings(max_batch_size=config.max_batch_size, heartbeat_seconds=config.heartbeat_seconds),
            mp3_encoder=encode_mp3_ffmpeg,
            now=lambda: clock(),
            attempts=jobs_store,
        )
        is_cancelled = CancelFlags(cancel_store).checker(call_id, str(job.get("job_id", "")))
        outcome = runner.run(job, is_cancelled=is_cancelled, is_preempted=self.preempted.is_set)
        if outcome.device_failed:
            # A sticky CUDA error poisons this container: finish this input, take no more.
            log.error("stopping input fetching after a GPU failure: %s", outcome.detail)
            stop_fetching_inputs()
        return dataclasses.asdict(outcome)


@app.cls(**_ENGINE_OPTIONS)
class CloneEngine(_Engine):
    model_id = config.clone_model
    with_asr = True

    @modal.method()
    def transcribe(self, audio: bytes, language: str | None) -> str:
        if self.asr is None:
            raise RuntimeError("the ASR model is not loaded")
        rate = LazyTranscriber.SAMPLE_RATE
        try:
            samples = decode_audio(audio, rate)
        except DecodeError as exc:
            raise UnusableAudio(str(exc)) from exc
        return str(self.asr.transcribe(samples, rate, language))


@app.cls(**_ENGINE_OPTIONS)
class DesignEngine(_Engine):
    model_id = config.design_model


def _whisper_loader(path: str) -> Callable[[], Any]:
    return lambda: WhisperTranscriber.load(path)


def _watch_for_preemption(flag: threading.Event) -> None:
    """Modal preempts with SIGINT: note it (for a job thread) and keep Python's KeyboardInterrupt."""
    if threading.current_thread() is not threading.main_thread():
        return
    previous = signal.getsignal(signal.SIGINT)

    def on_sigint(signum: int, frame: Any) -> None:
        flag.set()
        if callable(previous):
            previous(signum, frame)
        else:
            raise KeyboardInterrupt

    signal.signal(signal.SIGINT, on_sigint)


def stop_fetching_inputs() -> None:
    import modal.experimental

    modal.experimental.stop_fetching_inputs()


def spawn_job(job: SubmitRequest) -> str:
    engine = CloneEngine() if job.kind == "generate" else DesignEngine()
    return str(engine.run_job.spawn(job.to_json()).object_id)


def cancel_job(call_id: str) -> bool:
    """Flag the job (it stops between segments), then arm the hard-cancel backstop."""
    if not call_id.startswith("fc-"):
        return False
    call = modal.FunctionCall.from_id(call_id)
    try:
        call.get(timeout=0)
        return False  # already finished
    except TimeoutError:
        pass  # the builtin TimeoutError: still queued or running
    except Exception:
        return False  # unknown id, expired, or already failed/cancelled
    CancelFlags(cancel_store).set(call_id)
    enforce_cancel.spawn(call_id, config.cancel_grace_seconds)
    return True


def transcribe_audio(audio: bytes, language: str | None) -> str:
    return str(CloneEngine().transcribe.remote(audio, language))


@app.function(image=web_image, env=config.to_env(), timeout=config.cancel_grace_seconds + 2 * MINUTES)
def enforce_cancel(call_id: str, grace_seconds: int) -> bool:
    """A cancelled job normally stops at its next segment boundary; this kills one that did not."""
    call = modal.FunctionCall.from_id(call_id)
    try:
        call.get(timeout=grace_seconds)
        return False  # it stopped by itself
    except TimeoutError:
        call.cancel()
        return True
    except Exception:
        return False


@app.function(image=web_image, secrets=[engine_secret], env=config.to_env())
@modal.concurrent(max_inputs=100)
@modal.asgi_app()
def web() -> Any:
    _configure_logging()
    return create_web_app(
        engine_token=os.environ.get("ENGINE_TOKEN", ""),
        spawn_job=spawn_job,
        cancel_job=cancel_job,
        transcribe=transcribe_audio,
        deduper=SubmitDeduper(jobs_store),
        health_info=lambda: {
            "engine": "modal",
            "clone_model": config.clone_model,
            "design_model": config.design_model,
            "asr_model": config.asr_model,
        },
    )


@app.function(
    image=download_image,
    volumes={config.models_dir: models_volume},
    env=config.to_env(),
    secrets=[modal.Secret.from_name(config.hf_secret)] if config.hf_secret else [],
    timeout=60 * MINUTES,
)
def download_weights(models: str = "") -> list[str]:
    """Download model snapshots onto the Volume. `models`: comma-separated repo ids (default: all configured)."""
    from huggingface_hub import snapshot_download

    wanted = [m.strip() for m in models.split(",") if m.strip()] or config.download_list()
    for repo_id in wanted:
        target = config.model_dir(repo_id)
        print(f"downloading {repo_id} -> {target}")
        # Framework duplicates we never load (Flax/TF) would only cost Volume space and time.
        snapshot_download(
            repo_id=repo_id, local_dir=target, ignore_patterns=["*.msgpack", "*.h5", "flax_model*", "tf_model*"]
        )
    models_volume.commit()
    return wanted
