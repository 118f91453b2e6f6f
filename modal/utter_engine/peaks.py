"""The `peaks` artifact (ADR 0023): the final audio's waveform, so the player never decodes it whole.

Computed as `computePeaks` in worker/engine/peaks.ts does (the schema, `Peaks`, is mirrored in
protocol.py): the largest absolute amplitude per window of `samples_per_peak` samples, three
decimals rounded half up as JavaScript's Math.round does.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from .protocol import MAX_PEAKS, PEAKS_PER_SECOND, Peaks


def samples_per_peak(length: int, sample_rate: int) -> int:
    return max(math.ceil(sample_rate / PEAKS_PER_SECOND), math.ceil(length / MAX_PEAKS), 1)


def compute_peaks(samples: NDArray[np.float32], sample_rate: int) -> Peaks:
    audio = np.abs(np.asarray(samples, dtype=np.float32).reshape(-1))
    length = max(1, len(audio))
    step = samples_per_peak(length, sample_rate)
    count = -(-length // step)
    padded = np.zeros(count * step, dtype=np.float32)
    padded[: len(audio)] = audio
    maxima = np.minimum(padded.reshape(count, step).max(axis=1), 1.0)
    peaks = [math.floor(float(m) * 1000 + 0.5) / 1000 for m in maxima]
    return Peaks(version=1, sample_rate=sample_rate, length=length, samples_per_peak=step, peaks=peaks)
