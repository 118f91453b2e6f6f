"""A stand-in for `QwenSpeechModel` with the same interface and scriptable failures."""

from __future__ import annotations

import threading
import time
import weakref
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from utter_engine.alignment import HeardWord
from utter_engine.errors import DeviceFailure, ModelOutOfMemory
from utter_engine.segmentation import speech_units

from .synthetic_audio import speech_like


@dataclass
class ModelCall:
    kind: str
    texts: list[str]
    language: str
    max_new_tokens: int
    seed: int | None
    prompt: object = None
    instruct: str | None = None


class FakeBatch:
    """What a real batch leaves on the GPU: big buffers referenced from the failing call's frame."""

    def __init__(self, size: int) -> None:
        self.buffer = bytearray(size)


@dataclass
class FakePrompt:
    number: int
    transcript: str | None
    seconds: float


@dataclass
class FakeSpeechModel:
    sample_rate: int = 24000
    frame_rate: float = 12.5
    max_new_tokens_cap: int = 4096
    seconds_per_unit: float = 0.06
    delay_s: float = 0.0
    # Raise ModelOutOfMemory for any batch larger than this.
    oom_above_batch: int | None = None
    # Texts containing one of these keep talking until max_new_tokens, `runaway_times` times each.
    runaway_markers: tuple[str, ...] = ()
    runaway_times: int = 1
    # Raise this on the n-th generate call (1-based); "device" raises a sticky CUDA error.
    crash_on_call: int | None = None
    crash_error: str = "runtime"
    calls: list[ModelCall] = field(default_factory=list)
    prompts: list[FakePrompt] = field(default_factory=list)
    on_call: object = None  # optional callable(call_number) for tests that act mid-job
    # Streaming (protocol v2's live path): off by default, so v1 behaviour is what the old tests see.
    can_stream: bool = False
    default_schedule: tuple[int, ...] = (4, 8, 16, 25)
    # Raise KeyboardInterrupt (what Modal's preemption SIGINT becomes) when this chunk is due (0-based, job-wide).
    interrupt_at_chunk: int | None = None
    chunks_yielded: int = 0
    stream_chunk_frames: list[int] = field(default_factory=list)
    # For each generate call: whether each earlier out-of-memory batch was still alive when it started.
    alive_at_call: list[list[bool]] = field(default_factory=list)
    released: int = 0
    _oom_batches: list[weakref.ref[FakeBatch]] = field(default_factory=list)
    _runaways_left: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def create_voice_prompt(self, audio: NDArray[np.float32], sample_rate: int, transcript: str | None) -> object:
        prompt = FakePrompt(len(self.prompts) + 1, transcript, len(audio) / sample_rate)
        self.prompts.append(prompt)
        return prompt

    def generate_clone(
        self, texts: list[str], language: str, prompt: object, *, max_new_tokens: int, seed: int | None
    ) -> list[NDArray[np.float32]]:
        return self._speak(ModelCall("clone", list(texts), language, max_new_tokens, seed, prompt=prompt))

    def generate_design(
        self, texts: list[str], language: str, instruct: str, *, max_new_tokens: int, seed: int | None
    ) -> list[NDArray[np.float32]]:
        return self._speak(ModelCall("design", list(texts), language, max_new_tokens, seed, instruct=instruct))

    def release_memory(self) -> None:
        import gc

        gc.collect()
        self.released += 1

    def stream_clone(
        self, text: str, language: str, prompt: object, *, max_new_tokens: int, seed: int | None,
        schedule: Sequence[int] | None = None,
    ) -> Iterator[NDArray[np.float32]]:
        call = ModelCall("stream_clone", [text], language, max_new_tokens, seed, prompt=prompt)
        return self._stream(call, schedule)

    def stream_design(
        self, text: str, language: str, instruct: str, *, max_new_tokens: int, seed: int | None,
        schedule: Sequence[int] | None = None,
    ) -> Iterator[NDArray[np.float32]]:
        call = ModelCall("stream_design", [text], language, max_new_tokens, seed, instruct=instruct)
        return self._stream(call, schedule)

    def _stream(self, call: ModelCall, schedule: Sequence[int] | None) -> Iterator[NDArray[np.float32]]:
        audio = self._speak(call)[0]
        per_frame = int(round(self.sample_rate / self.frame_rate))
        sizes = tuple(schedule or self.default_schedule)
        start, n = 0, 0
        while start < len(audio):
            if self.interrupt_at_chunk is not None and self.chunks_yielded == self.interrupt_at_chunk:
                self.interrupt_at_chunk = None
                raise KeyboardInterrupt
            frames = sizes[min(n, len(sizes) - 1)]
            piece = audio[start : start + frames * per_frame]
            self.stream_chunk_frames.append(frames)
            self.chunks_yielded += 1
            yield piece
            start += len(piece)
            n += 1

    def _speak(self, call: ModelCall) -> list[NDArray[np.float32]]:
        with self._lock:
            self.alive_at_call.append([ref() is not None for ref in self._oom_batches])
            self.calls.append(call)
            number = len(self.calls)
        if callable(self.on_call):
            self.on_call(number)
        if self.delay_s:
            time.sleep(self.delay_s)
        if self.crash_on_call == number:
            if self.crash_error == "device":
                raise DeviceFailure("CUDA error: an illegal memory access was encountered")
            raise RuntimeError("generation exploded")
        if self.oom_above_batch is not None and len(call.texts) > self.oom_above_batch:
            batch = FakeBatch(len(call.texts) * 1_000_000)  # alive for as long as this frame is
            self._oom_batches.append(weakref.ref(batch))
            raise ModelOutOfMemory(f"CUDA out of memory (batch of {len(call.texts)})")
        return [self._voice(text, call) for text in call.texts]

    def _voice(self, text: str, call: ModelCall) -> NDArray[np.float32]:
        seconds = max(0.3, speech_units(text) * self.seconds_per_unit)
        for marker in self.runaway_markers:
            if marker in text:
                left = self._runaways_left.setdefault(marker, self.runaway_times)
                if left > 0:
                    self._runaways_left[marker] = left - 1
                    seconds = call.max_new_tokens / self.frame_rate  # never emitted end-of-speech
        seed = zlib.crc32(text.encode("utf-8")) ^ (call.seed or 0)
        return speech_like(seconds, self.sample_rate, seed=seed % 2**31)


class FakeTranscriber:
    """Transcribes to a fixed text; with `model`, also hears word times in audio that model spoke.

    `transcribe_words` works as a recogniser does, from the audio alone: it recognises which of the
    model's texts the audio starts with (by correlation with what the model made for each), finds
    where the sound is (10 ms frames above a floor), and spreads that text's words over it by length.
    """

    def __init__(self, text: str = "words heard in the window", fail: bool = False, model: FakeSpeechModel | None = None) -> None:
        self.text = text
        self.fail = fail
        self.model = model
        self.calls: list[tuple[float, str | None]] = []
        self.word_calls: list[float] = []

    def transcribe_words(self, audio: NDArray[np.float32], sample_rate: int, language: str | None) -> list[HeardWord]:
        self.word_calls.append(len(audio) / sample_rate)
        if self.fail:
            raise RuntimeError("ASR exploded")
        text = self._recognise(np.asarray(audio, dtype=np.float32), sample_rate)
        if text is None:
            return []
        frame = max(1, sample_rate // 100)
        n = len(audio) // frame
        rms = np.sqrt(np.mean(np.square(audio[: n * frame].reshape(n, frame)), axis=1)) if n else np.zeros(0)
        loud = np.flatnonzero(rms > 0.01 * float(rms.max())) if n and rms.max() > 0 else np.zeros(0, dtype=int)
        if loud.size == 0:
            return []
        start, end = loud[0] * frame / sample_rate, (loud[-1] + 1) * frame / sample_rate
        words = text.split()
        total = sum(len(w) + 1 for w in words)
        out: list[HeardWord] = []
        t = start
        for w in words:
            step = (end - start) * (len(w) + 1) / total
            out.append(HeardWord(w.lower().strip(".,!?;:"), round(t, 4), round(t + 0.85 * step, 4)))
            t += step
        return out

    def _recognise(self, audio: NDArray[np.float32], sample_rate: int) -> str | None:
        if self.model is None or sample_rate != self.model.sample_rate:
            return None
        best, best_score = None, 0.5
        for call in list(self.model.calls):
            for text in call.texts:
                ref = self.model._voice(text, call)
                k = min(len(ref), len(audio))
                if k == 0 or abs(len(ref) - len(audio)) > len(audio):
                    continue
                a, r = audio[:k], ref[:k]
                denom = float(np.linalg.norm(a) * np.linalg.norm(r))
                score = float(np.dot(a, r)) / denom if denom else 0.0
                if score > best_score:
                    best, best_score = text, score
        return best

    def transcribe(self, audio: NDArray[np.float32], sample_rate: int, language: str | None) -> str:
        self.calls.append((len(audio) / sample_rate, language))
        if self.fail:
            raise RuntimeError("ASR exploded")
        return self.text
