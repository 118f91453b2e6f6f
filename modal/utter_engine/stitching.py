"""Join generated segments into one file without clicks."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from .wav import Audio


def crossfade_samples(sample_rate: int, crossfade_ms: float) -> int:
    return max(0, int(round(sample_rate * crossfade_ms / 1000.0)))


def stitch(
    segments: list[NDArray[np.floating]], sample_rate: int, *, crossfade_ms: float = 15.0, edge_fade_ms: float = 5.0
) -> Audio:
    """Concatenate with short raised-cosine crossfades.

    The fade-out and fade-in gains sum to exactly 1 at every sample, so a
    steady signal passes a join unchanged and a step between segments becomes a
    smooth ramp. Each join overlaps `min(crossfade, half the shorter neighbour)`
    samples, so the result is `sum(lengths) - sum(overlaps)` long. The very start
    and end get a short fade-in/out so playback does not begin or stop on a step.
    """
    parts = [np.asarray(s, dtype=np.float32) for s in segments if len(s) > 0]
    if not parts:
        return np.zeros(0, dtype=np.float32)
    wanted = crossfade_samples(sample_rate, crossfade_ms)
    out = parts[0].copy()
    for part in parts[1:]:
        n = min(wanted, len(out) // 2, len(part) // 2)
        if n == 0:
            out = np.concatenate([out, part])
            continue
        fade_out = 0.5 * (1.0 + np.cos(np.linspace(0.0, np.pi, n, dtype=np.float64)))
        mixed = out[-n:] * fade_out + part[:n] * (1.0 - fade_out)
        out = np.concatenate([out[:-n], mixed.astype(np.float32), part[n:]])
    edge = min(crossfade_samples(sample_rate, edge_fade_ms), len(out) // 2)
    if edge > 0:
        ramp = np.linspace(0.0, 1.0, edge, dtype=np.float32)
        out[:edge] *= ramp
        out[-edge:] *= ramp[::-1]
    return out


def overlap_total(lengths: list[int], sample_rate: int, crossfade_ms: float = 15.0) -> int:
    """Samples lost to crossfades when segments of these lengths are stitched."""
    wanted = crossfade_samples(sample_rate, crossfade_ms)
    total = 0
    running = 0
    for i, length in enumerate(x for x in lengths if x > 0):
        if i == 0:
            running = length
            continue
        n = min(wanted, running // 2, length // 2)
        total += n
        running += length - n
    return total
