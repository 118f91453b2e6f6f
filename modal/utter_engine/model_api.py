"""The model interface the job runner depends on.

`qwen_model.QwenSpeechModel` implements it on a GPU; the tests use a fake with
the same interface. Keeping the runner behind this seam is what lets every
path around the model (events, uploads, retries, cancellation) be tested on a
machine with no GPU and no weights.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from .errors import ModelOutOfMemory

__all__ = ["ModelOutOfMemory", "SpeechModel", "StreamFn", "StreamingSpeechModel", "Transcriber", "VoicePrompt"]

# Opaque to the runner: whatever the model needs to speak in a cloned voice.
VoicePrompt = object
# stream(text, max_new_tokens, seed, chunk schedule in codec frames) -> audio chunks as the model decodes them
StreamFn = Callable[[str, int, "int | None", tuple[int, ...]], Iterator[NDArray[np.float32]]]


class SpeechModel(Protocol):
    @property
    def sample_rate(self) -> int:
        """Rate of the audio the model returns."""
        ...

    @property
    def frame_rate(self) -> float:
        """Codec frames (= generated tokens) per second of audio; bounds `max_new_tokens`."""
        ...

    @property
    def max_new_tokens_cap(self) -> int:
        """The most tokens one generation may ask for."""
        ...

    def create_voice_prompt(self, audio: NDArray[np.float32], sample_rate: int, transcript: str | None) -> VoicePrompt:
        """Build the reusable clone prompt. Without a transcript, clone from the speaker embedding alone."""
        ...

    def generate_clone(
        self, texts: list[str], language: str, prompt: VoicePrompt, *, max_new_tokens: int, seed: int | None
    ) -> list[NDArray[np.float32]]:
        """One waveform per text, in order. Raises ModelOutOfMemory when the batch does not fit."""
        ...

    def generate_design(
        self, texts: list[str], language: str, instruct: str, *, max_new_tokens: int, seed: int | None
    ) -> list[NDArray[np.float32]]:
        """Speak `texts` in a voice described by `instruct`. Raises ModelOutOfMemory when the batch does not fit."""
        ...


class StreamingSpeechModel(SpeechModel, Protocol):
    """A model that decodes audio while it generates (protocol v2's live path)."""

    @property
    def can_stream(self) -> bool: ...

    def stream_clone(
        self,
        text: str,
        language: str,
        prompt: VoicePrompt,
        *,
        max_new_tokens: int,
        seed: int | None,
        schedule: Sequence[int] | None = None,
    ) -> Iterator[NDArray[np.float32]]:
        """Audio of one text in chunks of `schedule[i]` codec frames (the last entry repeats), in order."""
        ...

    def stream_design(
        self,
        text: str,
        language: str,
        instruct: str,
        *,
        max_new_tokens: int,
        seed: int | None,
        schedule: Sequence[int] | None = None,
    ) -> Iterator[NDArray[np.float32]]: ...

    def release_memory(self) -> None:
        """Free what a failed (out-of-memory) call left behind: gc + the allocator's cache."""
        ...


class Transcriber(Protocol):
    def transcribe(self, audio: NDArray[np.float32], sample_rate: int, language: str | None) -> str:
        """Text spoken in `audio`; `language` is a protocol code or None for auto-detect."""
        ...
