"""Runs one job end to end, protocol v1 or v2, with the model injected.

Event order (docs/engine-protocol.md): `started`, then `progress`/`segment`/
`heartbeat`, then exactly one `completed` or `failed`; nothing at all after a
cancel. Each segment is uploaded before its `segment` event and the stitched
file before `completed`.

Protocol 2 (ADR 0009) adds the engine socket: events travel on it (acked by
seq), audio leaves as binary frames while the model decodes it (a streaming
model sends a small first chunk, then larger ones), and uploads are artifacts.
A rerun after preemption reads the socket's hello, fetches the segments that
are already durable and continues after them with `seq` above `acked_seq`
(ADR 0013); it never replays a job over itself.
"""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import httpx
import numpy as np
from numpy.typing import NDArray

from .alignment import align_script, build_alignment, segment_starts, voiced_span
from .cancel_flags import FlagStore
from .delivery import LiveAudio, Uploads
from .errors import DeviceFailure, EngineFailure, JobStopped, ModelOutOfMemory
from .events import EventChannel, Heartbeat, StreamChannel, Waiter
from .generation import BatchGenerator, SpeakFn
from .length_guard import LengthBudget
from .loudness import live_gain, normalize_loudness
from .model_api import SpeechModel, StreamFn, Transcriber
from .prompt_cache import PromptCache
from .peaks import compute_peaks
from .protocol import TERMINAL_STATES, StreamHello, SubmitRequest, submit_idempotency_key
from .joins import joins_after, pause_samples, sentence_pause_ms, with_silence
from .segmentation import SegmentLimits, split_text_with_breaks
from .stitching import stitch
from .stream_client import Connect, StreamSession, StreamSettings, StreamUnavailable
from .voice_prep import VoiceSettings, prepare_voice
from .wav import decode_wav, duration_ms, encode_wav, resample
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
    stream: StreamSettings = field(default_factory=StreamSettings)
    # Codec frames per live chunk of the job's first segment: small first so sound leaves the GPU
    # early, then larger (fewer decoder calls). Later segments use the largest size throughout:
    # by then the listener has audio buffered.
    chunk_schedule: tuple[int, ...] = (4, 8, 16, 25)


@dataclass(frozen=True)
class JobOutcome:
    status: Literal["completed", "failed", "stopped"]
    detail: str = ""
    error_code: str | None = None
    segments: int = 0
    duration_ms: int = 0
    # The accelerator hit a sticky error: the container must stop taking jobs.
    device_failed: bool = False
    resumed_from: int = 0
    live_frames: int = 0


@dataclass
class _Job:
    """What one run carries between its steps."""

    request: SubmitRequest
    client: WorkerClient
    channel: EventChannel | StreamChannel
    uploads: Uploads
    live: LiveAudio | None
    hello: StreamHello | None
    checkpoint: Callable[[], None]
    finished: dict[int, NDArray[np.float32]] = field(default_factory=dict)
    live_gain: float | None = None
    streamed_any: bool = False
    # How long the voice pauses, from its reference (None: unknown, or a designed voice).
    voice_pause_ms: int | None = None
    # Silence (at the model's rate) that ends each segment: its join to the next (joins.py).
    tails: list[int] = field(default_factory=list)


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
        connect: Connect | None = None,
        attempts: FlagStore | None = None,
    ) -> None:
        self.model = model
        # Opens the v2 engine socket (tests pass one bound to their fake).
        self._connect = connect
        # Remembers which jobs this deployment has started, so a preempted v1 job is not replayed.
        self._attempts = attempts
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
        self,
        job: SubmitRequest | dict[str, Any],
        *,
        is_cancelled: Callable[[], bool] = lambda: False,
        is_preempted: Callable[[], bool] = lambda: False,
    ) -> JobOutcome:
        request = job if isinstance(job, SubmitRequest) else SubmitRequest.model_validate(job)
        client = WorkerClient(
            request.callbacks.token, retry=self.settings.retry, transport=self._transport, sleep=self._sleep
        )
        session: StreamSession | None = None
        heartbeat: Heartbeat | None = None
        try:
            if self._is_replay(request):
                log.warning("job %s: a rerun of a protocol 1 job after preemption; not replaying it", request.job_id)
                return JobOutcome("stopped", "a protocol 1 job is never replayed after preemption")
            session, hello = self._open_stream(request)
            if session is not None:
                channel: EventChannel | StreamChannel = StreamChannel(session, clock=self._clock)
            else:
                channel = EventChannel(client, request.job_id, request.callbacks.events_url, clock=self._clock)
            heartbeat = Heartbeat(
                channel, self.settings.heartbeat_seconds, clock=self._clock, is_cancelled=is_cancelled, waiter=self._waiter
            )
            deadline = parse_deadline(request.deadline)

            def checkpoint() -> None:
                if is_preempted():
                    raise KeyboardInterrupt  # the SIGINT reached another thread; act on it in the job's
                if channel.halt_reason is not None:
                    raise JobStopped(channel.halt_reason)
                channel.poll()  # a StreamCancel from the DO
                if is_cancelled():
                    channel.halt("cancelled")
                    raise JobStopped("cancelled")
                if self._now() >= deadline:
                    # The Worker no longer accepts this job's events: stop spending GPU on it.
                    channel.halt("the job's deadline has passed")
                    raise JobStopped("the job's deadline has passed")

            live = LiveAudio(session, request.output.sample_rate) if session is not None else None
            state = _Job(request, client, channel, Uploads(client, request), live, hello, checkpoint)
            try:
                return self._run(state, heartbeat)
            except KeyboardInterrupt:
                return self._preempted(state)
            except JobStopped as stop:
                log.info("job %s stopped: %s", request.job_id, stop.reason)
                return JobOutcome("stopped", stop.reason)
            except DeviceFailure as exc:
                log.error("job %s: the GPU is unusable: %s", request.job_id, exc)
                self._report(
                    channel,
                    EngineFailure(
                        "engine_unavailable", "The GPU failed during generation; try again.", retryable=True
                    ),
                )
                return JobOutcome("failed", str(exc), "engine_unavailable", device_failed=True)
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
        except JobStopped as stop:  # the socket's hello already said the task is over
            log.info("job %s stopped: %s", request.job_id, stop.reason)
            return JobOutcome("stopped", stop.reason)
        finally:
            if heartbeat is not None:
                heartbeat.stop()
            if session is not None:
                session.close()
            client.close()

    def _is_replay(self, request: SubmitRequest) -> bool:
        """Marks the job as started; True when a protocol 1 job was already started here (a preempted rerun)."""
        if self._attempts is None:
            return False
        # Per attempt: a Worker resume (ADR 0023) of a v1 job is a new attempt, not a preempted rerun.
        key = f"attempt:{submit_idempotency_key(request)}"
        try:
            seen = self._attempts.get(key) is not None
            self._attempts.put(key, time.time())
        except Exception:  # noqa: BLE001 - a flaky store must not fail the job
            log.warning("attempt store unavailable", exc_info=True)
            return False
        return seen and request.protocol == 1

    def _open_stream(self, request: SubmitRequest) -> tuple[StreamSession | None, StreamHello | None]:
        url = request.callbacks.stream_url
        if request.protocol != 2 or url is None:
            return None, None
        session = StreamSession(
            url, request.callbacks.token, request.job_id, connect=self._connect, settings=self.settings.stream,
            sleep=self._sleep,
        )
        try:
            hello = session.open()
        except StreamUnavailable as exc:
            if exc.fatal:
                raise JobStopped(str(exc)) from exc
            # ADR 0009: an engine that cannot hold the socket falls back to v1 events (no live path).
            log.warning("job %s: %s; falling back to HTTP events without a live path", request.job_id, exc)
            session.close()
            return None, None
        if hello.state in TERMINAL_STATES:
            session.close()
            raise JobStopped(f"the task is already {hello.state}")
        return session, hello

    def _preempted(self, job: _Job) -> JobOutcome:
        """SIGINT/KeyboardInterrupt: the platform is taking the GPU away mid-job.

        v2 with a socket: say nothing; the rerun resumes from the DO's hello. Without a
        socket there is no resume, so the Worker hears a retryable failure now.
        """
        if job.live is None:
            self._report(
                job.channel,
                EngineFailure(
                    "engine_unavailable", "The GPU was taken away mid-job (preemption); try again.", retryable=True
                ),
            )
        log.warning("job %s preempted after %d segments", job.request.job_id, len(job.finished))
        raise KeyboardInterrupt  # Modal reschedules the input only if the interrupt propagates

    def _run(self, job: _Job, heartbeat: Heartbeat) -> JobOutcome:
        request, channel = job.request, job.channel
        texts, paragraph_breaks = split_text_with_breaks(request.text, self.settings.segment_limits)
        # A preempted rerun (the socket's hello) or a Worker resume (`resume_from`, ADR 0023).
        resuming = (job.hello is not None and job.hello.acked_seq >= 0) or request.resume_from is not None
        parts = request.render_parts
        if not resuming:
            channel.send("started", **({"segments_total": len(texts)} if texts else {}))
        heartbeat.start()
        if not texts:
            raise EngineFailure("invalid_input", "The text has nothing to speak.", retryable=False)
        if parts is not None and parts.segments_total != len(texts):
            # A part regeneration (ADR 0026) restitches the take's other parts: the split must match.
            raise EngineFailure(
                "invalid_input",
                f"The text splits into {len(texts)} parts here, not the {parts.segments_total} of the take whose part "
                "is regenerated.",
                retryable=False,
            )
        job.checkpoint()
        resumed_from = self._resume(job, texts) if resuming or parts is not None else 0
        batch_speak, stream_speak = self._speaker(job)
        pause_ms = sentence_pause_ms(request.pause_ms, job.voice_pause_ms)
        job.tails = [pause_samples(after, pause_ms, self.model.sample_rate) for after in joins_after(paragraph_breaks)]
        rate = request.output.sample_rate
        generator = BatchGenerator(
            batch_speak,
            texts=texts,
            sample_rate=self.model.sample_rate,
            frame_rate=self.model.frame_rate,
            token_cap=self.model.max_new_tokens_cap,
            max_batch_size=self.settings.max_batch_size,
            seed=request.seed,
            budget=self.settings.budget,
            checkpoint=job.checkpoint,
            release_memory=getattr(self.model, "release_memory", gc.collect),
        )
        job.checkpoint()
        channel.send("progress", progress=0.05, stage="generating")
        pending = [i for i in range(len(texts)) if i not in job.finished]
        if stream_speak is not None and job.live is not None:
            # Segments one after another, each streamed as it decodes: at ≥ 3× real time the
            # next segment is ready long before the listener reaches it.
            for index in pending:
                job.checkpoint()
                audio = self._stream_segment(job, generator, stream_speak, texts, index)
                self._finish_segment(job, index, audio, len(texts))
        else:
            while pending:
                job.checkpoint()
                # The first segment goes alone (and is short): time to first audio is one short generation.
                take = 1 if not job.finished and len(texts) > 1 else generator.batch_size
                batch, pending = pending[:take], pending[take:]
                for index, spoken in zip(batch, generator.generate(batch), strict=True):
                    job.checkpoint()
                    samples = with_silence(spoken, job.tails[index])
                    if job.live is not None:
                        job.live.send(index, self._live(job, samples), last=True)
                    self._finish_segment(job, index, samples, len(texts))

        job.checkpoint()
        channel.send("progress", progress=0.95, stage="stitching")
        ordered = [job.finished[i] for i in range(len(texts))]
        # Every segment is loudness-normalised already (`_finish_segment`), so the parts are joined as
        # they are: a gain over the whole would move every sample whenever one part is regenerated (ADR 0026).
        final = stitch(ordered, rate, crossfade_ms=self.settings.crossfade_ms)
        wav = encode_wav(final, rate)
        self._upload(job, "final", wav)
        if request.kind == "generate" and job.uploads.v2:
            self._upload_peaks(job, final, rate)
        mp3 = self._mp3_encoder is not None and request.kind == "generate"
        if mp3 and not job.uploads.v2:
            self._upload_mp3(job, wav)
        job.checkpoint()
        total_ms = duration_ms(final, rate)
        channel.send("completed", duration_ms=total_ms, sample_rate=rate, size_bytes=len(wav))
        if mp3 and job.uploads.v2:
            # `final_mp3` may arrive after `completed` (ADR 0009): the WAV's completion does not wait for it.
            self._upload_mp3(job, wav)
        if request.kind == "generate" and job.uploads.v2:
            # So may `alignment` (ADR 0021): the recogniser's pass over the audio must not delay it.
            self._upload_alignment(job, texts, ordered, len(final))
        live_frames = job.live.frames_sent if job.live is not None else 0
        return JobOutcome(
            "completed", segments=len(texts), duration_ms=total_ms, resumed_from=resumed_from, live_frames=live_frames
        )

    def _resume(self, job: _Job, texts: list[str]) -> int:
        """A rerun (preemption), a late reconnect or a part regeneration: take back the durable segments, in order.

        A part regeneration (ADR 0026) reads back every part it is not asked to render (the take's
        own, inherited by its tracker) and renders the rest; otherwise the durable prefix is taken back.
        """
        resume = job.request.resume_from
        parts = job.request.render_parts
        if job.hello is not None:
            have = {a.index for a in job.hello.artifacts if a.kind == "segment" and a.index is not None}
        else:
            # No socket (v1): the Worker's resume point says which parts are durable.
            have = set(range(resume.segment if resume is not None else 0))
        if parts is not None:
            rendered = set(parts.indices) - have
            reused = [i for i in range(len(texts)) if i not in rendered]
            first_new = min(rendered, default=len(texts))
        else:
            count = 0
            while count in have and count < len(texts):
                count += 1
            reused = list(range(count))
            first_new = count
        count = len(reused)
        rate = job.request.output.sample_rate
        for index in reused:
            try:
                audio, source_rate = decode_wav(job.uploads.fetch_segment(index))
            except Exception as exc:
                raise EngineFailure(
                    "engine_unavailable",
                    f"The job was interrupted after segment {count} and segment {index + 1} could not be read back "
                    "to resume it; try again.",
                    retryable=True,
                ) from exc
            job.finished[index] = np.asarray(resample(audio, source_rate, rate), dtype=np.float32)
        if job.live is not None and parts is not None and count > 0:
            # A part regeneration streams its new part where that part sits in the take.
            job.live.session.stream_offset = sum(len(job.finished[i]) for i in reused if i < first_new)
            job.live.session.needs_stream_offset = False
        elif job.live is not None and resume is not None and resume.stream_offset is not None:
            # The Worker knows where the first unfinished part started in the live stream.
            job.live.session.stream_offset = resume.stream_offset
            job.live.session.needs_stream_offset = False
        elif job.live is not None and job.live.session.needs_stream_offset:
            # Best estimate without the DO's count: the live stream held the durable segments.
            job.live.session.stream_offset = sum(len(job.finished[i]) for i in range(count))
            job.live.session.needs_stream_offset = False
        for index in reused:
            # Idempotent by (kind, index): announces it in case the first attempt's event was lost.
            job.channel.send("segment", index=index, duration_ms=duration_ms(job.finished[index], rate))
        log.info("job %s reads back %d durable segments (attempt %s)", job.request.job_id, count,
                 resume.attempt if resume is not None else ("parts" if parts is not None else "rerun"))
        if count or parts is None:
            job.channel.send(
                "progress", progress=round(0.05 + 0.85 * count / len(texts), 4),
                stage="resuming" if parts is None else "generating",
            )
        return count

    def _stream_segment(
        self, job: _Job, generator: BatchGenerator, speak: StreamFn, texts: list[str], index: int
    ) -> NDArray[np.float32]:
        assert job.live is not None
        text = texts[index]
        budget = self.settings.budget
        tokens = generator.tokens_for(index)
        allowed = budget.allowed_seconds(text)
        sr = self.model.sample_rate
        seed0 = job.request.seed
        for attempt in (0, 1):
            seed = None if seed0 is None else (seed0 + 7919 * index + 104729 * attempt) % 2**31
            if attempt:
                job.live.restart_segment(index)
            pieces: list[NDArray[np.float32]] = []
            total = 0
            runaway = False
            oom: str | None = None
            first = not job.streamed_any
            schedule = self.settings.chunk_schedule if first else (max(self.settings.chunk_schedule),)
            job.streamed_any = True
            stream = speak(text, tokens, seed, schedule)
            try:
                for chunk in stream:
                    job.checkpoint()
                    piece = np.asarray(chunk, dtype=np.float32).reshape(-1)
                    pieces.append(piece)
                    total += len(piece)
                    job.live.send(index, self._live(job, piece), last=False)
                    if total / sr > allowed:
                        runaway = True  # stop spending GPU on it at once, not at max_new_tokens
                        break
            except ModelOutOfMemory as exc:
                oom = str(exc) or "out of memory"
            except (EngineFailure, JobStopped, DeviceFailure):
                raise
            except Exception as exc:
                raise EngineFailure(
                    "generation_failed",
                    f"Speech generation failed on segment {index + 1}: {type(exc).__name__}: {exc}",
                    retryable=True,
                ) from exc
            finally:
                close = getattr(stream, "close", None)
                if callable(close):
                    close()
            if oom is not None:
                getattr(self.model, "release_memory", gc.collect)()
                raise EngineFailure(
                    "out_of_memory", f"Segment {index + 1} does not fit in GPU memory ({oom[:120]}).", retryable=True
                )
            audio = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.float32)
            if runaway:
                verdict: tuple[str, str] | None = (
                    "runaway_generation",
                    f"it produced more than {allowed:.1f} s of audio for {len(text)} characters",
                )
            else:
                verdict = budget.verdict(text, len(audio), sr, max_new_tokens=tokens, frame_rate=self.model.frame_rate)
            if verdict is None:
                # Its join to the next segment goes out live too, so the stream and the files agree.
                tail = np.zeros(job.tails[index] if index < len(job.tails) else 0, dtype=np.float32)
                if tail.size:
                    job.live.send(index, self._live(job, tail), last=False)
                job.live.send(index, np.zeros(0, dtype=np.float32), last=True)
                return with_silence(audio, tail.size)
            job.live.send(index, np.zeros(0, dtype=np.float32), last=True)
            if attempt == 1:
                code, why = verdict
                raise EngineFailure(
                    code,
                    f"Segment {index + 1} failed twice: {why}. Rephrasing or splitting that sentence usually helps.",
                    retryable=True,
                )
            log.warning("segment %d rejected (%s); regenerating it", index, verdict[1])
        raise AssertionError("unreachable")

    def _live(self, job: _Job, samples: NDArray[np.float32]) -> NDArray[np.float32]:
        """Live audio at the job's rate and a steady level (segments are normalised later, as a whole)."""
        rate = job.request.output.sample_rate
        audio = resample(samples, self.model.sample_rate, rate)
        if job.live_gain is None:
            job.live_gain = live_gain(audio, rate, target_lufs=self.settings.target_lufs)
        return np.asarray(audio * np.float32(job.live_gain), dtype=np.float32)

    def _finish_segment(self, job: _Job, index: int, samples: NDArray[np.float32], total: int) -> None:
        rate = job.request.output.sample_rate
        audio = normalize_loudness(
            resample(samples, self.model.sample_rate, rate), rate, target_lufs=self.settings.target_lufs
        )
        job.checkpoint()
        wav = encode_wav(audio, rate)
        self._upload(job, "segment", wav, index=index)
        # The final is stitched from the parts as stored (16-bit), as a part read back is: a take whose
        # part is regenerated later restitches to the same samples outside it (ADR 0026).
        job.finished[index] = np.asarray(decode_wav(wav)[0], dtype=np.float32)
        job.channel.send("segment", index=index, duration_ms=duration_ms(audio, rate))
        job.channel.send("progress", progress=round(0.05 + 0.85 * len(job.finished) / total, 4), stage="generating")

    def _speaker(self, job: _Job) -> tuple[SpeakFn, StreamFn | None]:
        """The batch speaker and, when the model can stream, the streaming one."""
        model = self.model
        request = job.request
        streams = bool(getattr(model, "can_stream", False))
        if request.kind == "design_preview":
            instruct = request.instruct or ""

            def design(texts: list[str], tokens: int, seed: int | None) -> list[NDArray[np.float32]]:
                return model.generate_design(texts, request.language, instruct, max_new_tokens=tokens, seed=seed)

            def design_stream(
                text: str, tokens: int, seed: int | None, schedule: tuple[int, ...]
            ) -> Iterator[NDArray[np.float32]]:
                return model.stream_design(  # type: ignore[attr-defined, no-any-return]
                    text, request.language, instruct, max_new_tokens=tokens, seed=seed, schedule=schedule
                )

            return design, (design_stream if streams else None)
        assert request.voice is not None  # guaranteed by SubmitRequest's refinement
        job.channel.send("progress", progress=0.02, stage="preparing_voice")
        prepared = prepare_voice(
            client=job.client,
            voice=request.voice,
            language=request.language,
            model=model,
            transcriber=self.transcriber,
            cache=self.prompt_cache,
            settings=self.settings.voice,
        )
        job.voice_pause_ms = prepared.pause_ms
        log.info(
            "job %s voice prompt: cache_hit=%s transcript=%s pause_ms=%s",
            request.job_id,
            prepared.cache_hit,
            prepared.transcript_source,
            prepared.pause_ms,
        )

        # `instruct` is ignored for cloning: the Base checkpoints take no style instruction.
        def clone(texts: list[str], tokens: int, seed: int | None) -> list[NDArray[np.float32]]:
            return model.generate_clone(texts, request.language, prepared.prompt, max_new_tokens=tokens, seed=seed)

        def clone_stream(
            text: str, tokens: int, seed: int | None, schedule: tuple[int, ...]
        ) -> Iterator[NDArray[np.float32]]:
            return model.stream_clone(  # type: ignore[attr-defined, no-any-return]
                text, request.language, prepared.prompt, max_new_tokens=tokens, seed=seed, schedule=schedule
            )

        return clone, (clone_stream if streams else None)

    def _upload(self, job: _Job, kind: str, body: bytes, *, index: int | None = None) -> None:
        what = job.uploads.describe(kind, index)
        try:
            job.uploads.put(kind, body, index=index)
        except WorkerRejected as exc:
            if exc.status in _STOP_STATUSES:
                job.channel.halt(f"the Worker refused the {what} upload (HTTP {exc.status})")
                raise JobStopped(job.channel.halt_reason or "upload refused") from exc
            raise EngineFailure(
                "upload_failed", f"Uploading {what} was refused (HTTP {exc.status}).", retryable=False
            ) from exc
        except WorkerUnreachable as exc:
            raise EngineFailure("upload_failed", f"Uploading {what} failed ({exc.last}).", retryable=True) from exc

    def _upload_peaks(self, job: _Job, final: NDArray[np.float32], rate: int) -> None:
        """The waveform, so the player never decodes the whole file (ADR 0023). Best effort, like the MP3."""
        try:
            job.uploads.put("peaks", compute_peaks(final, rate).model_dump_json().encode())
        except WorkerRejected as exc:
            if exc.status in _STOP_STATUSES:
                raise JobStopped(f"the Worker refused the peaks upload (HTTP {exc.status})") from exc
            log.warning("peaks upload refused for %s: %s", job.request.job_id, exc)
        except WorkerUnreachable as exc:
            log.warning("peaks upload skipped for %s: %s", job.request.job_id, exc)

    def _upload_mp3(self, job: _Job, wav: bytes) -> None:
        """Best effort: the WAV is the product; a failed MP3 only hides that download."""
        assert self._mp3_encoder is not None
        try:
            job.uploads.put("final_mp3", self._mp3_encoder(wav))
        except Exception as exc:  # noqa: BLE001 - any failure here must not fail a finished job
            log.warning("mp3 upload skipped for %s: %s", job.request.job_id, exc)

    def _upload_alignment(self, job: _Job, texts: list[str], segments: list[NDArray[np.float32]], final_len: int) -> None:
        """Word timings from the recogniser, segment by segment, moved to where the stitching put each one.

        Best effort, like the MP3: a missing alignment only hides the subtitles.
        """
        transcribe_words = getattr(self.transcriber, "transcribe_words", None)
        if not callable(transcribe_words):
            return
        request = job.request
        rate = request.output.sample_rate
        language = None if request.language == "auto" else request.language
        try:
            starts = segment_starts([len(s) for s in segments], rate, self.settings.crossfade_ms)
            words = [
                align_script(text, transcribe_words(audio, rate, language), voiced_span(audio, rate))
                for text, audio in zip(texts, segments, strict=True)
            ]
            alignment = build_alignment(request.text, texts, words, [s / rate for s in starts], final_len / rate)
            job.uploads.put("alignment", json.dumps(alignment.to_json()).encode("utf-8"))
        except Exception as exc:  # noqa: BLE001 - any failure here must not fail a finished job
            log.warning("alignment skipped for %s: %s", request.job_id, exc)

    @staticmethod
    def _report(channel: EventChannel | StreamChannel, failure: EngineFailure) -> None:
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
