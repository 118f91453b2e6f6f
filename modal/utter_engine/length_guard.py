"""Guards against runaway generation.

An autoregressive TTS model sometimes misses its end-of-speech token and keeps
going: repeating a phrase, babbling or humming until `max_new_tokens`. We bound
`max_new_tokens` by what the text could plausibly need, and call a segment
runaway when its audio is far longer than its text warrants or it used up its
token budget (which means no end-of-speech was produced).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .segmentation import speech_units


@dataclass(frozen=True)
class LengthBudget:
    # ~14 units/s is brisk reading; slow, expressive reading stays well inside the slack.
    units_per_second: float = 14.0
    slack_factor: float = 2.5
    slack_seconds: float = 3.0

    def expected_seconds(self, text: str) -> float:
        return speech_units(text) / self.units_per_second

    def allowed_seconds(self, text: str) -> float:
        return self.slack_seconds + self.slack_factor * self.expected_seconds(text)

    def max_new_tokens(self, text: str, frame_rate: float, cap: int) -> int:
        return max(8, min(cap, math.ceil(self.allowed_seconds(text) * frame_rate) + 1))

    def verdict(
        self, text: str, samples: int, sample_rate: int, *, max_new_tokens: int, frame_rate: float
    ) -> tuple[str, str] | None:
        """None when the audio is plausible, else (protocol error code, why)."""
        seconds = samples / sample_rate
        if samples == 0:
            return "generation_failed", "the model returned no audio"
        if seconds * frame_rate >= max_new_tokens - 1:
            return "runaway_generation", f"it used its whole budget of {max_new_tokens} tokens without ending"
        if seconds > self.allowed_seconds(text):
            return "runaway_generation", f"it produced {seconds:.1f} s of audio for {len(text)} characters"
        return None
