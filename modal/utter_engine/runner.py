"""Runs one protocol v1 job end to end, with the model injected.

Event order (docs/engine-protocol.md): `started`, then `progress`/`segment`/
`heartbeat`, then exactly one `completed` or `failed`; nothing at all after a
cancel. Each segment is uploaded before its `segment` event and the stitched
file before `completed`.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import httpx
import numpy as np
from numpy.typing import NDArray

from .errors import EngineFailure, JobStopped
from .events import EventChannel, Heartbeat, Waiter
from .generation import BatchGenerator, SpeakFn
from .length_guard import LengthBudget
from .loudness import normalize_loudness
from .model_api import SpeechModel, Transcriber
from .prompt_cache import PromptCache
from .protocol import SubmitRequest
from .segmentation import SegmentLimits, split_text
from .stitching import master
from .voice_prep import VoiceSettings, prepare_voice
from .wav import duration_ms, encode_wav, resample
from .worker_client import RetryPolicy, WorkerClient, WorkerRejected, WorkerUnreachable

log = logging.getLogger(__name__)

# Upload refusals that mean "this job is over for you" rather than "this upload failed".
_STOP_STATUSES = frozenset({401, 403, 409, 410})


@dataclass(frozen=True)
class RunnerSettings:
    max_batch_size: int = 4
    heartbeat_seconds: float = 5.0
    crossfade_ms: float = 15.0
    target_lufs: float = -16.0
    segment_limits: SegmentLimits = field(default_factory=SegmentLimits)
    voice: VoiceSettings = field(default_factory=VoiceSettings)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    budget: LengthBudget = field(default_factory=LengthBudget)


@dataclass(frozen=True)
class JobOutcome:
    status: Literal["completed", "failed", "stopped"]
    detail: str = ""
    error_code: str | None = None
    segments: int = 0
    duration_ms: int = 0


class JobRunner:
    def __init__(
        self,
        model: SpeechModel,
        *,
        transcriber: Transcriber | None = None,
        prompt_cache: PromptCache | None = None,
        settings: RunnerSettings | None = None,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Callable[[float], None] = time.sleep,
        waiter: Waiter | None = None,
        mp3_encoder: Callable[[bytes], bytes] | None = None,
    ) -> None:
        self.model = model
        # Optional: an MP3 of the final file for downloads (the Modal app passes ffmpeg's).
        self._mp3_encoder = mp3_encoder
        self.transcriber = transcriber
        self.prompt_cache = prompt_cache if prompt_cache is not None else PromptCache()
        self.settings = settings or RunnerSettings()
        self._transport = transport
        self._clock = clock
        self._now = now
        self._sleep = sleep
        self._waiter = waiter

    def run(
        self, job: SubmitRequest | dict[str, Any], *, is_cancelled: Callable[[], bool] = lambda: False
    ) -> JobOutcome:
        request = job if isinstance(job, SubmitRequest) else SubmitRequest.model_validate(job)
        client = WorkerClient(
            request.callbacks.token, retry=self.settings.retry, transport=self._transport, sleep=self._sleep
        )
        channel = EventChannel(client, request.job_id, request.callbacks.events_url, clock=self._clock)
        heartbeat = Heartbeat(
            channel, self.settings.heartbeat_seconds, clock=self._clock, is_cancelled=is_cancelled, waiter=self._waiter
        )
        deadline = parse_deadline(request.deadline)

        def checkpoint() -> None:
            if channel.halt_reason is not None:
                raise JobStopped(channel.halt_reason)
            if is_cancelled():
                channel.halt("cancelled")
                raise JobStopped("cancelled")
            if self._now() >= deadline:
                # The Worker no longer accepts this job's events: stop spending GPU on it.
                channel.halt("the job's deadline has passed")
                raise JobStopped("the job's deadline has passed")

        try:
            return self._run(request, client, channel, heartbeat, checkpoint)
        except JobStopped as stop:
            log.info("job %s stopped: %s", request.job_id, stop.reason)
            return JobOutcome("stopped", stop.reason)
        except EngineFailure as failure:
            log.warning("job %s failed: %s", request.job_id, failure)
            self._report(channel, failure)
            return JobOutcome("failed", failure.message, failure.code)
        except Exception as exc:
            log.exception("job %s crashed", request.job_id)
            self._report(
                channel,
                EngineFailure(
                    "internal", f"The engine hit an unexpected error ({type(exc).__name__}).", retryable=True
                ),
            )
            return JobOutcome("failed", str(exc), "internal")
        finally:
            heartbeat.stop()
            client.close()

    def _run(
        self,
        job: SubmitRequest,
        client: WorkerClient,
        channel: EventChannel,
        heartbeat: Heartbeat,
        checkpoint: Callable[[], None],
    ) -> JobOutcome:
        texts = split_text(job.text, self.settings.segment_limits)
        channel.send("started", **({"segments_total": len(texts)} if texts else {}))
        heartbeat.start()
        if not texts:
            raise EngineFailure("invalid_input", "The text has nothing to speak.", retryable=False)
        checkpoint()
        speak = self._speaker(job, client, channel)
        rate = job.output.sample_rate
        generator = BatchGenerator(
            speak,
            texts=texts,
            sample_rate=self.model.sample_rate,
            frame_rate=self.model.frame_rate,
            token_cap=self.model.max_new_tokens_cap,
            max_batch_size=self.settings.max_batch_size,
            seed=job.seed,
            budget=self.settings.budget,
            checkpoint=checkpoint,
        )
        checkpoint()
        channel.send("progress", progress=0.05, stage="generating")
        finished: list[NDArray[np.float32]] = []
        pending = list(range(len(texts)))
        while pending:
            checkpoint()
            # The first segment goes alone (and is short): time to first audio is one short generation.
            take = 1 if not finished and len(texts) > 1 else generator.batch_size
            batch, pending = pending[:take], pending[take:]
            for index, samples in zip(batch, generator.generate(batch), strict=True):
                checkpoint()
                audio = normalize_loudness(
                    resample(samples, self.model.sample_rate, rate), rate, target_lufs=self.settings.target_lufs
                )
                self._upload(client, channel, job, f"segments/{index}", encode_wav(audio, rate))
                finished.append(audio)
                channel.send("segment", index=index, duration_ms=duration_ms(audio, rate))
                channel.send(
                    "progress", progress=round(0.05 + 0.85 * len(finished) / len(texts), 4), stage="generating"
                )

        checkpoint()
        channel.send("progress", progress=0.95, stage="stitching")
        final = master(finished, rate, crossfade_ms=self.settings.crossfade_ms, target_lufs=self.settings.target_lufs)
        wav = encode_wav(final, rate)
        self._upload(client, channel, job, "final", wav)
        if self._mp3_encoder is not None and job.kind == "generate":
            self._upload_mp3(client, job, wav)
        checkpoint()
        total_ms = duration_ms(final, rate)
        channel.send("completed", duration_ms=total_ms, sample_rate=rate, size_bytes=len(wav))
        return JobOutcome("completed", segments=len(texts), duration_ms=total_ms)

    def _speaker(self, job: SubmitRequest, client: WorkerClient, channel: EventChannel) -> SpeakFn:
        model = self.model
        if job.kind == "design_preview":
            instruct = job.instruct or ""
            return lambda texts, tokens, seed: model.generate_design(
                texts, job.language, instruct, max_new_tokens=tokens, seed=seed
            )
        assert job.voice is not None  # guaranteed by SubmitRequest's refinement
        channel.send("progress", progress=0.02, stage="preparing_voice")
        prepared = prepare_voice(
            client=client,
            voice=job.voice,
            language=job.language,
            model=model,
            transcriber=self.transcriber,
            cache=self.prompt_cache,
            settings=self.settings.voice,
        )
        log.info(
            "job %s voice prompt: cache_hit=%s transcript=%s",
            job.job_id,
            prepared.cache_hit,
            prepared.transcript_source,
        )
        # `instruct` is ignored for cloning: the Base checkpoints take no style instruction.
        return lambda texts, tokens, seed: model.generate_clone(
            texts, job.language, prepared.prompt, max_new_tokens=tokens, seed=seed
        )

    def _upload(self, client: WorkerClient, channel: EventChannel, job: SubmitRequest, path: str, wav: bytes) -> None:
        url = f"{job.callbacks.upload_url.rstrip('/')}/{path}"
        try:
            client.put_upload(url, wav)
        except WorkerRejected as exc:
            if exc.status in _STOP_STATUSES:
                channel.halt(f"the Worker refused the {path} upload (HTTP {exc.status})")
                raise JobStopped(channel.halt_reason or "upload refused") from exc
            raise EngineFailure(
                "upload_failed", f"Uploading {path} was refused (HTTP {exc.status}).", retryable=False
            ) from exc
        except WorkerUnreachable as exc:
            raise EngineFailure("upload_failed", f"Uploading {path} failed ({exc.last}).", retryable=True) from exc

    def _upload_mp3(self, client: WorkerClient, job: SubmitRequest, wav: bytes) -> None:
        """Best effort: the WAV is the product; a failed MP3 only hides that download."""
        assert self._mp3_encoder is not None
        url = f"{job.callbacks.upload_url.rstrip('/')}/final.mp3"
        try:
            client.put_upload(url, self._mp3_encoder(wav), content_type="audio/mpeg")
        except Exception as exc:  # noqa: BLE001 - any failure here must not fail a finished job
            log.warning("mp3 upload skipped for %s: %s", job.job_id, exc)

    @staticmethod
    def _report(channel: EventChannel, failure: EngineFailure) -> None:
        with contextlib.suppress(JobStopped):  # cancelled, or the Worker is gone: nobody to tell
            channel.send("failed", error=failure.to_error().to_json())


def report_unavailable(
    job: SubmitRequest | dict[str, Any],
    message: str,
    *,
    retry: RetryPolicy | None = None,
    transport: httpx.BaseTransport | None = None,
) -> JobOutcome:
    """Fail a job the engine cannot run at all (e.g. its weights are missing), at once,
    so the Worker shows the reason instead of timing out a minute later."""
    request = job if isinstance(job, SubmitRequest) else SubmitRequest.model_validate(job)
    client = WorkerClient(request.callbacks.token, retry=retry, transport=transport)
    channel = EventChannel(client, request.job_id, request.callbacks.events_url)
    try:
        channel.send("started")
        JobRunner._report(channel, EngineFailure("engine_unavailable", message, retryable=True))
    except JobStopped:
        pass
    finally:
        client.close()
    return JobOutcome("failed", message, "engine_unavailable")


def parse_deadline(value: str) -> datetime:
    """The protocol's ISO instant; fractions beyond microseconds are dropped (Python's limit)."""
    text = value.replace("Z", "+00:00")
    if "." in text:
        head, rest = text.split(".", 1)
        digits = len(rest) - len(rest.lstrip("0123456789"))
        text = f"{head}.{rest[:digits][:6].ljust(6, '0')}{rest[digits:]}"
    return datetime.fromisoformat(text)
