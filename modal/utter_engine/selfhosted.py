"""The engine on any CUDA machine: the same HTTP face and runner as on Modal, served by uvicorn.

    UTTER_ENGINE_TOKEN=… UTTER_MODELS_DIR=/srv/utter-models \\
        python -m utter_engine.selfhosted --host 0.0.0.0 --port 8000

The Worker selects it with `ENGINE=selfhosted` and `ENGINE_URL`/`ENGINE_TOKEN`; the wire protocol
is the one the Modal engine speaks (docs/engine.md). Jobs run one at a time on the GPU, in
submission order, on a worker thread; cancel flags a queued or running job; a sticky CUDA error
stops the engine taking jobs (health turns `degraded`, submits answer 503) until it is restarted.
"""

from __future__ import annotations

import argparse
import logging
import os
import queue
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI

from .cancel_flags import CancelFlags, MemoryFlagStore
from .config import EngineConfig
from .dedupe import MemoryClaimStore, SubmitDeduper
from .protocol import SubmitRequest
from .web import create_web_app

log = logging.getLogger("utter.selfhosted")

RunJob = Callable[[SubmitRequest, Callable[[], bool]], Any]


@dataclass
class _Queued:
    call_id: str
    job: SubmitRequest
    done: threading.Event = field(default_factory=threading.Event)
    outcome: Any = None


class LocalJobs:
    """A single-GPU job queue: one worker thread, calls identified like Modal's (`sh-…`)."""

    def __init__(self, run_job: RunJob) -> None:
        self._run_job = run_job
        self._queue: queue.Queue[_Queued | None] = queue.Queue()
        self._calls: dict[str, _Queued] = {}
        self._lock = threading.Lock()
        self._flags = MemoryFlagStore()
        self._cancel = CancelFlags(self._flags, min_check_interval_s=0.0)
        self.accepting = True
        self.failure: str | None = None
        self._thread = threading.Thread(target=self._work, name="utter-gpu-jobs", daemon=True)
        self._thread.start()

    def spawn(self, job: SubmitRequest) -> str:
        if not self.accepting:
            raise RuntimeError(f"the engine stopped taking jobs: {self.failure}")
        item = _Queued(f"sh-{uuid.uuid4().hex}", job)
        with self._lock:
            self._calls[item.call_id] = item
        self._queue.put(item)
        return item.call_id

    def cancel(self, call_id: str) -> bool:
        with self._lock:
            item = self._calls.get(call_id)
        if item is None or item.done.is_set():
            return False
        self._cancel.set(call_id)
        return True

    def wait(self, call_id: str, timeout: float | None = None) -> Any:
        item = self._calls[call_id]
        item.done.wait(timeout)
        return item.outcome

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=5)

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            try:
                checker = self._cancel.checker(item.call_id, item.job.job_id)
                if checker():
                    item.outcome = None  # cancelled while queued: never started, nothing to report
                    continue
                item.outcome = self._run_job(item.job, checker)
                if getattr(item.outcome, "device_failed", False):
                    self.accepting = False
                    self.failure = getattr(item.outcome, "detail", "GPU failure")
                    log.error("GPU failure; no more jobs until the engine restarts: %s", self.failure)
            except Exception:  # the runner reports its own failures; this is a bug, keep serving
                log.exception("job %s crashed the worker thread", item.call_id)
            finally:
                item.done.set()


def create_selfhosted_app(
    *,
    engine_token: str,
    run_job: RunJob,
    transcribe: Callable[[bytes, str | None], str] | None = None,
    health_info: Callable[[], dict[str, Any]] = dict,
) -> tuple[FastAPI, LocalJobs]:
    jobs = LocalJobs(run_job)
    app = create_web_app(
        engine_token=engine_token,
        spawn_job=jobs.spawn,
        cancel_job=jobs.cancel,
        transcribe=transcribe,
        deduper=SubmitDeduper(MemoryClaimStore()),
        health_info=lambda: {
            "engine": "selfhosted",
            **({"state": "degraded", "reason": jobs.failure} if not jobs.accepting else {}),
            **health_info(),
        },
    )
    app.state.jobs = jobs
    return app, jobs


def create_app() -> FastAPI:
    """uvicorn factory: loads the models named by the UTTER_* environment (docs/engine.md)."""
    from .mp3 import encode_mp3_ffmpeg
    from .prompt_cache import PromptCache
    from .qwen_model import LazyTranscriber, QwenSpeechModel, WhisperTranscriber
    from .runner import JobRunner, RunnerSettings

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    config = EngineConfig.from_env()
    token = os.environ.get("UTTER_ENGINE_TOKEN") or os.environ.get("ENGINE_TOKEN", "")
    device = os.environ.get("UTTER_DEVICE", "cuda:0")
    load = dict(device=device, attn_implementation=config.attn_implementation, streaming=config.streaming)
    clone = QwenSpeechModel.load(config.model_dir(config.clone_model), **load)  # type: ignore[arg-type]
    design = QwenSpeechModel.load(config.model_dir(config.design_model), **load)  # type: ignore[arg-type]
    asr = LazyTranscriber(lambda: WhisperTranscriber.load(config.model_dir(config.asr_model), device=device))
    cache = PromptCache()
    attempts = MemoryFlagStore()
    settings = RunnerSettings(max_batch_size=config.max_batch_size, heartbeat_seconds=config.heartbeat_seconds)

    def run_job(job: SubmitRequest, is_cancelled: Callable[[], bool]) -> Any:
        model = clone if job.kind == "generate" else design
        runner = JobRunner(
            model, transcriber=asr, prompt_cache=cache, settings=settings, mp3_encoder=encode_mp3_ffmpeg,
            attempts=attempts,
        )
        return runner.run(job, is_cancelled=is_cancelled)

    def transcribe(audio: bytes, language: str | None) -> str:
        from .audio_decode import decode_audio

        rate = LazyTranscriber.SAMPLE_RATE
        return asr.transcribe(decode_audio(audio, rate), rate, language)

    app, _ = create_selfhosted_app(
        engine_token=token,
        run_job=run_job,
        transcribe=transcribe,
        health_info=lambda: {"clone_model": config.clone_model, "design_model": config.design_model},
    )
    return app



def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve the Utter engine over HTTP on this machine's GPU.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    import uvicorn

    uvicorn.run("utter_engine.selfhosted:create_app", factory=True, host=args.host, port=args.port, workers=1)


if __name__ == "__main__":
    main()
