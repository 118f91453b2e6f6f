"""Batched segment generation: shrink batches on out-of-memory, regenerate runaways once."""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from .errors import DeviceFailure, EngineFailure, JobStopped, ModelOutOfMemory
from .length_guard import LengthBudget

log = logging.getLogger(__name__)

# speak(texts, max_new_tokens, seed) -> one waveform per text
SpeakFn = Callable[[list[str], int, "int | None"], list[NDArray[np.float32]]]


class BatchGenerator:
    def __init__(
        self,
        speak: SpeakFn,
        *,
        texts: list[str],
        sample_rate: int,
        frame_rate: float,
        token_cap: int,
        max_batch_size: int,
        seed: int | None,
        budget: LengthBudget | None = None,
        checkpoint: Callable[[], None] = lambda: None,
        release_memory: Callable[[], None] = gc.collect,
    ) -> None:
        self._speak = speak
        self._release_memory = release_memory
        self._texts = texts
        self._sample_rate = sample_rate
        self._frame_rate = frame_rate
        self._token_cap = token_cap
        self._seed = seed
        self._budget = budget or LengthBudget()
        self._checkpoint = checkpoint
        self.batch_size = max(1, max_batch_size)
        self.model_calls = 0

    def tokens_for(self, index: int) -> int:
        return self._budget.max_new_tokens(self._texts[index], self._frame_rate, self._token_cap)

    def generate(self, indices: list[int]) -> list[NDArray[np.float32]]:
        """Audio for `indices`, in order; raises EngineFailure when a segment cannot be made."""
        audio = self._fit(indices, attempt=0)
        for pos, index in enumerate(indices):
            problem = self._judge(index, audio[pos], batch=indices)
            if problem is None:
                continue
            log.warning("segment %d rejected (%s); regenerating it alone", index, problem[1])
            retry = self._fit([index], attempt=1)[0]
            second = self._judge(index, retry, batch=[index])
            if second is not None:
                code, why = second
                raise EngineFailure(
                    code,
                    f"Segment {index + 1} failed twice: {why}. Rephrasing or splitting that sentence usually helps.",
                    retryable=True,
                )
            audio[pos] = retry
        return audio

    def _judge(self, index: int, audio: NDArray[np.float32], *, batch: list[int]) -> tuple[str, str] | None:
        budget = max(self.tokens_for(i) for i in batch)
        return self._budget.verdict(
            self._texts[index], len(audio), self._sample_rate, max_new_tokens=budget, frame_rate=self._frame_rate
        )

    def _fit(self, indices: list[int], *, attempt: int) -> list[NDArray[np.float32]]:
        """Generate, halving the batch (and remembering the smaller size) while it does not fit."""
        if len(indices) > self.batch_size:
            size = self.batch_size  # fixed for this split, even if a chunk shrinks it further
            out: list[NDArray[np.float32]] = []
            for start in range(0, len(indices), size):
                out.extend(self._fit(indices[start : start + size], attempt=attempt))
            return out
        self._checkpoint()
        oom: str | None = None
        try:
            return self._call(indices, attempt)
        except ModelOutOfMemory as exc:
            # Only the message leaves this block: the exception's traceback holds the failed
            # batch's frames (and so its tensors) until the block ends.
            oom = str(exc) or "out of memory"
        # Outside the `except`: the failed batch is unreferenced now, so collecting frees it.
        self._release_memory()
        if len(indices) == 1:
            raise EngineFailure(
                "out_of_memory",
                f"Segment {indices[0] + 1} does not fit in GPU memory even on its own ({oom[:120]}).",
                retryable=True,
            )
        self.batch_size = max(1, len(indices) // 2)
        log.warning("out of memory with a batch of %d; retrying with batches of %d", len(indices), self.batch_size)
        return self._fit(indices, attempt=attempt)

    def _call(self, indices: list[int], attempt: int) -> list[NDArray[np.float32]]:
        texts = [self._texts[i] for i in indices]
        tokens = max(self.tokens_for(i) for i in indices)
        seed = None if self._seed is None else (self._seed + 7919 * indices[0] + 104729 * attempt) % 2**31
        self.model_calls += 1
        try:
            audio = self._speak(texts, tokens, seed)
        except (ModelOutOfMemory, EngineFailure, JobStopped, DeviceFailure):
            raise
        except Exception as exc:
            raise EngineFailure(
                "generation_failed",
                f"Speech generation failed on segment {indices[0] + 1}: {type(exc).__name__}: {exc}",
                retryable=True,
            ) from exc
        if len(audio) != len(indices):
            raise EngineFailure("generation_failed", "The model returned the wrong number of segments.", retryable=True)
        return [np.asarray(a, dtype=np.float32).reshape(-1) for a in audio]
