"""Deterministic speech-like test signals: voiced 'syllables' separated by gaps and pauses."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def syllable(duration_s: float, sample_rate: int, pitch_hz: float, amplitude: float) -> NDArray[np.float32]:
    n = max(1, int(duration_s * sample_rate))
    t = np.arange(n) / sample_rate
    tone = sum(np.sin(2 * np.pi * pitch_hz * k * t) / k for k in range(1, 5))
    envelope = np.hanning(n)
    return (amplitude * 0.5 * tone * envelope).astype(np.float32)


def speech_like(
    seconds: float,
    sample_rate: int = 24000,
    *,
    seed: int = 0,
    amplitude: float = 0.3,
    noise_dbfs: float = -60.0,
) -> NDArray[np.float32]:
    """Bursts of 150-400 ms with short gaps, and a 0.4-0.7 s pause every 2-4 s."""
    rng = np.random.default_rng(seed)
    out: list[NDArray[np.float32]] = []
    total = 0
    target = int(seconds * sample_rate)
    until_pause = rng.uniform(2.0, 4.0)
    while total < target:
        dur = rng.uniform(0.15, 0.4)
        out.append(syllable(dur, sample_rate, rng.uniform(110, 220), amplitude))
        total += len(out[-1])
        gap = rng.uniform(0.04, 0.12)
        until_pause -= dur + gap
        if until_pause <= 0:
            gap = rng.uniform(0.4, 0.7)
            until_pause = rng.uniform(2.0, 4.0)
        out.append(np.zeros(int(gap * sample_rate), dtype=np.float32))
        total += len(out[-1])
    signal = np.concatenate(out)[:target]
    noise = rng.standard_normal(target).astype(np.float32) * np.float32(10 ** (noise_dbfs / 20))
    return (signal + noise).astype(np.float32)


def silence(
    seconds: float, sample_rate: int = 24000, *, noise_dbfs: float | None = -70.0, seed: int = 1
) -> NDArray[np.float32]:
    n = int(seconds * sample_rate)
    if noise_dbfs is None:
        return np.zeros(n, dtype=np.float32)
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(n) * 10 ** (noise_dbfs / 20)).astype(np.float32)
