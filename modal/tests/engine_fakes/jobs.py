"""Builders for jobs, references and runners used across the runner tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from utter_engine.prompt_cache import PromptCache
from utter_engine.runner import JobRunner, RunnerSettings
from utter_engine.wav import encode_wav
from utter_engine.stream_client import StreamSettings
from utter_engine.worker_client import RetryPolicy

from .fake_model import FakeSpeechModel
from .fake_worker import FakeWorker
from .manual_clock import ManualClock
from .synthetic_audio import speech_like

FAST_RETRY = RetryPolicy(delays_s=(0.01, 0.02, 0.03), connect_timeout_s=2.0, read_timeout_s=10.0)
FAST_STREAM = StreamSettings(ack_timeout_s=10.0, reconnect_delays_s=(0.0, 0.0))
FIXED_NOW = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)

THREE_SENTENCES = (
    "Welcome back to the studio, everyone. "
    "Today we are going to walk through the whole process of recording a clean reference clip, "
    "from choosing a quiet room to checking the levels before you press record. "
    "After that, we will clone the voice, generate a few paragraphs of narration, and listen "
    "carefully for any artefacts at the joins between sentences and segments."
)


def reference_wav(seconds: float = 12.0, seed: int = 11, rate: int = 24000) -> bytes:
    return encode_wav(speech_like(seconds, rate, seed=seed), rate)


def make_job(
    worker: FakeWorker,
    *,
    job_id: str = "job_test_1",
    kind: str = "generate",
    text: str = THREE_SENTENCES,
    reference_text: str | None = None,
    reference_id: str | None = None,
    seed: int | None = None,
    sample_rate: int = 24000,
    token: str | None = None,
    instruct: str | None = None,
    deadline: str | None = None,
    protocol: int = 1,
) -> dict[str, Any]:
    """A submit body; its deadline defaults to an hour after FIXED_NOW, the runners' fixed clock."""
    base = worker.job_base(job_id)
    if deadline is None:
        deadline = (FIXED_NOW + timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    job: dict[str, Any] = {
        "protocol": protocol,
        "job_id": job_id,
        "kind": kind,
        "text": text,
        "language": "en",
        "output": {"format": "wav", "sample_rate": sample_rate},
        "callbacks": {"events_url": f"{base}/events", "upload_url": base, "token": token or worker.token},
        "deadline": deadline,
    }
    if kind == "generate":
        voice: dict[str, Any] = {"voice_id": "voice_1", "reference_url": f"{base}/reference"}
        if reference_text is not None:
            voice["reference_text"] = reference_text
        if reference_id is not None:
            voice["reference_id"] = reference_id
        job["voice"] = voice
    if instruct is not None or kind == "design_preview":
        job["instruct"] = instruct or "A bright, cheerful young voice."
    if seed is not None:
        job["seed"] = seed
    if protocol == 2:
        job["callbacks"]["stream_url"] = worker.stream_url(job_id)
    return job


def serve_reference(
    worker: FakeWorker, job_id: str = "job_test_1", data: bytes | None = None, status: int = 200
) -> None:
    worker.references[job_id] = (status, data if data is not None else reference_wav(), "audio/wav")


def make_runner(
    model: FakeSpeechModel | None = None,
    *,
    transcriber: Any = None,
    cache: PromptCache | None = None,
    heartbeat_seconds: float = 60.0,
    max_batch_size: int = 4,
    now: datetime = FIXED_NOW,
    mp3_encoder: Any = None,
    attempts: Any = None,
    chunk_schedule: tuple[int, ...] | None = None,
    clock: ManualClock | None = None,
) -> JobRunner:
    """A runner on FIXED_NOW; with `clock`, its monotonic time and heartbeat waits follow that manual clock."""
    return JobRunner(
        model or FakeSpeechModel(),
        transcriber=transcriber,
        prompt_cache=cache,
        settings=RunnerSettings(
            max_batch_size=max_batch_size,
            heartbeat_seconds=heartbeat_seconds,
            retry=FAST_RETRY,
            stream=FAST_STREAM,
            **({} if chunk_schedule is None else {"chunk_schedule": chunk_schedule}),
        ),
        now=lambda: now,
        mp3_encoder=mp3_encoder,
        attempts=attempts,
        sleep=lambda _s: None,
        **({"clock": clock, "waiter": clock} if clock is not None else {}),
    )
