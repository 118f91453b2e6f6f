"""The real models: Qwen3-TTS (qwen-tts package) and Whisper (transformers), on a GPU.

torch, qwen_tts and transformers are imported inside the functions that need
them, so this module imports anywhere; `app.py` imports them at container
start (under `image.imports()`) so they land in the memory snapshot.
"""

from __future__ import annotations

import gc
import random
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .alignment import HeardWord
from .errors import DeviceFailure, ModelOutOfMemory
from .wav import resample

# The names qwen-tts expects (it lower-cases them against the checkpoint's language table).
QWEN_LANGUAGE_NAMES: dict[str, str] = {
    "auto": "Auto",
    "en": "English",
    "zh": "Chinese",
    "ja": "Japanese",
    "ko": "Korean",
    "de": "German",
    "fr": "French",
    "ru": "Russian",
    "pt": "Portuguese",
    "es": "Spanish",
    "it": "Italian",
}

# The 12 Hz tokenizer: 24 kHz audio, one codec frame per 1920 samples = 12.5 frames/s.
_DEFAULT_SAMPLE_RATE = 24000
_DEFAULT_SAMPLES_PER_FRAME = 1920
_MAX_NEW_TOKENS_CAP = 4096


class QwenSpeechModel:
    """`model_api.SpeechModel` over `qwen_tts.Qwen3TTSModel` (Base checkpoints clone, VoiceDesign designs)."""

    def __init__(self, inner: Any, *, streaming: bool = True) -> None:
        self._inner = inner
        self._streaming = streaming
        self._streamer: Any = None
        tokenizer_config = getattr(getattr(getattr(inner, "model", None), "speech_tokenizer", None), "config", None)
        self._sample_rate = int(getattr(tokenizer_config, "output_sample_rate", _DEFAULT_SAMPLE_RATE))
        samples_per_frame = int(getattr(tokenizer_config, "decode_upsample_rate", _DEFAULT_SAMPLES_PER_FRAME))
        self._frame_rate = self._sample_rate / samples_per_frame

    @classmethod
    def load(
        cls,
        path: str,
        *,
        device: str = "cuda:0",
        attn_implementation: str = "sdpa",
        dtype: str = "bfloat16",
        streaming: bool = True,
    ) -> QwenSpeechModel:
        import torch
        from qwen_tts import Qwen3TTSModel

        # A local directory on the Volume: qwen-tts then never reaches for the Hub.
        inner = Qwen3TTSModel.from_pretrained(
            path, device_map=device, dtype=getattr(torch, dtype), attn_implementation=attn_implementation
        )
        model = cls(inner, streaming=streaming)
        if streaming:
            model.streamer().warmup()  # CUDA graphs are captured here, at container start, not on a job
        return model

    def streamer(self) -> Any:
        """The streaming path (static cache + CUDA graphs on a GPU, eager on CPU); built once."""
        if self._streamer is None:
            from .qwen_stream import QwenStreamer

            self._streamer = QwenStreamer(self._inner)
        return self._streamer

    @property
    def can_stream(self) -> bool:
        return self._streaming

    def release_memory(self) -> None:
        """Called by the batcher after an out-of-memory batch, outside its `except` block."""
        gc.collect()
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    @property
    def sample_rate(self) -> int:
        return self._sample_rate

    @property
    def frame_rate(self) -> float:
        return self._frame_rate

    @property
    def max_new_tokens_cap(self) -> int:
        return _MAX_NEW_TOKENS_CAP

    def create_voice_prompt(self, audio: NDArray[np.float32], sample_rate: int, transcript: str | None) -> object:
        text = transcript.strip() if transcript else ""
        with _oom_guard():
            # Without a transcript, ICL mode is impossible: clone from the speaker embedding only.
            return self._inner.create_voice_clone_prompt(
                ref_audio=(np.asarray(audio, dtype=np.float32), int(sample_rate)),
                ref_text=text or None,
                x_vector_only_mode=not text,
            )

    def generate_clone(
        self, texts: list[str], language: str, prompt: object, *, max_new_tokens: int, seed: int | None
    ) -> list[NDArray[np.float32]]:
        _seed_everything(seed)
        with _oom_guard():
            wavs, _ = self._inner.generate_voice_clone(
                text=list(texts),
                language=[QWEN_LANGUAGE_NAMES[language]] * len(texts),
                voice_clone_prompt=prompt,
                max_new_tokens=max_new_tokens,
            )
        return [np.asarray(w, dtype=np.float32).reshape(-1) for w in wavs]

    def generate_design(
        self, texts: list[str], language: str, instruct: str, *, max_new_tokens: int, seed: int | None
    ) -> list[NDArray[np.float32]]:
        _seed_everything(seed)
        with _oom_guard():
            wavs, _ = self._inner.generate_voice_design(
                text=list(texts),
                language=[QWEN_LANGUAGE_NAMES[language]] * len(texts),
                instruct=[instruct] * len(texts),
                max_new_tokens=max_new_tokens,
            )
        return [np.asarray(w, dtype=np.float32).reshape(-1) for w in wavs]


    def stream_clone(
        self, text: str, language: str, prompt: object, *, max_new_tokens: int, seed: int | None,
        schedule: Sequence[int] | None = None,
    ) -> Iterator[NDArray[np.float32]]:
        _seed_everything(seed)
        kwargs: dict[str, Any] = {} if schedule is None else {"schedule": schedule}
        stream = self.streamer().stream_clone(
            text, QWEN_LANGUAGE_NAMES[language], prompt, max_new_tokens=max_new_tokens, **kwargs
        )
        yield from _guarded(stream)

    def stream_design(
        self, text: str, language: str, instruct: str, *, max_new_tokens: int, seed: int | None,
        schedule: Sequence[int] | None = None,
    ) -> Iterator[NDArray[np.float32]]:
        _seed_everything(seed)
        kwargs: dict[str, Any] = {} if schedule is None else {"schedule": schedule}
        stream = self.streamer().stream_design(
            text, QWEN_LANGUAGE_NAMES[language], instruct, max_new_tokens=max_new_tokens, **kwargs
        )
        yield from _guarded(stream)


def _guarded(stream: Iterator[NDArray[np.float32]]) -> Iterator[NDArray[np.float32]]:
    while True:
        with _oom_guard():
            chunk = next(stream, None)
        if chunk is None:
            return
        yield chunk


class WhisperTranscriber:
    """`model_api.Transcriber` over a transformers ASR pipeline (Whisper)."""

    SAMPLE_RATE = 16000

    def __init__(self, pipe: Any) -> None:
        self._pipe = pipe

    @classmethod
    def load(cls, path: str, *, device: str = "cuda:0") -> WhisperTranscriber:
        import torch
        from transformers import pipeline

        return cls(pipeline("automatic-speech-recognition", model=path, torch_dtype=torch.float16, device=device))

    def transcribe(self, audio: NDArray[np.float32], sample_rate: int, language: str | None) -> str:
        # Resample here rather than let the pipeline do it: its resampler needs torchaudio.
        x = resample(audio, sample_rate, self.SAMPLE_RATE)
        generate_kwargs: dict[str, str] = {"task": "transcribe"}
        if language and language != "auto":
            generate_kwargs["language"] = language
        with _oom_guard():
            result = self._pipe(
                {"raw": x, "sampling_rate": self.SAMPLE_RATE},
                chunk_length_s=30,  # long-form: references may be 5 minutes
                batch_size=8,
                generate_kwargs=generate_kwargs,
            )
        return str(result["text"]).strip()

    def transcribe_words(self, audio: NDArray[np.float32], sample_rate: int, language: str | None) -> list[HeardWord]:
        """Word timestamps (Whisper's cross-attention alignment), seconds into `audio`."""
        x = resample(audio, sample_rate, self.SAMPLE_RATE)
        generate_kwargs: dict[str, str] = {"task": "transcribe"}
        if language and language != "auto":
            generate_kwargs["language"] = language
        with _oom_guard():
            result = self._pipe(
                {"raw": x, "sampling_rate": self.SAMPLE_RATE},
                chunk_length_s=30,
                batch_size=8,
                return_timestamps="word",
                generate_kwargs=generate_kwargs,
            )
        length = len(audio) / sample_rate
        words: list[HeardWord] = []
        for chunk in result.get("chunks") or []:
            start, end = chunk.get("timestamp") or (None, None)
            text = str(chunk.get("text", "")).strip()
            if not text or start is None:
                continue
            words.append(HeardWord(text, float(start), float(end) if end is not None else length))
        return words


class LazyTranscriber:
    """Loads Whisper on the first transcription, not at every cold start (the Worker seldom needs it)."""

    SAMPLE_RATE = WhisperTranscriber.SAMPLE_RATE

    def __init__(self, load: Any) -> None:
        import threading

        self._load = load
        self._lock = threading.Lock()
        self._inner: Any = None
        self.loads = 0

    @property
    def loaded(self) -> bool:
        return self._inner is not None

    def transcribe(self, audio: NDArray[np.float32], sample_rate: int, language: str | None) -> str:
        with self._lock:
            if self._inner is None:
                self._inner = self._load()
                self.loads += 1
        return str(self._inner.transcribe(audio, sample_rate, language))

    def transcribe_words(self, audio: NDArray[np.float32], sample_rate: int, language: str | None) -> list[HeardWord]:
        with self._lock:
            if self._inner is None:
                self._inner = self._load()
                self.loads += 1
        return list(self._inner.transcribe_words(audio, sample_rate, language))


def _seed_everything(seed: int | None) -> None:
    if seed is None:
        return
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device


# CUDA errors after which the context is unusable: every later kernel on this container fails too.
_STICKY_CUDA_ERRORS = (
    "device-side assert",
    "illegal memory access",
    "an illegal instruction",
    "unspecified launch failure",
    "misaligned address",
    "cuda error: unknown error",
    "uncorrectable ecc error",
    "cudaerrorlaunchfailure",
)


def is_sticky_cuda_error(exc: BaseException) -> bool:
    text = str(exc).lower()
    return any(marker in text for marker in _STICKY_CUDA_ERRORS)


@contextmanager
def _oom_guard() -> Iterator[None]:
    """Out-of-memory becomes ModelOutOfMemory (the caller frees memory after leaving its `except`);
    a sticky CUDA error becomes DeviceFailure (the container must stop taking jobs)."""
    import torch

    try:
        yield
    except torch.cuda.OutOfMemoryError as exc:
        raise ModelOutOfMemory(str(exc)[:200]) from None
    except RuntimeError as exc:
        # cuBLAS/cuDNN allocation failures surface as plain RuntimeErrors.
        if "out of memory" in str(exc).lower():
            raise ModelOutOfMemory(str(exc)[:200]) from None
        if is_sticky_cuda_error(exc):
            raise DeviceFailure(str(exc)[:200]) from exc
        raise
