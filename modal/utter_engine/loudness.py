"""Integrated loudness (ITU-R BS.1770-4, mono) and loudness normalisation.

K-weighting = a high-shelf (head effects) then a high-pass (RLB curve). The
biquads are derived for any sample rate from the analog prototype the standard
tabulates at 48 kHz, the same derivation libebur128 uses.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from .wav import Audio

SILENCE_LUFS = -70.0  # the standard's absolute gate


def k_weighting(
    sample_rate: int,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """(b_shelf, a_shelf, b_highpass, a_highpass)."""
    f0, gain_db, q = 1681.974450955533, 3.999843853973347, 0.7071752369554196
    k = math.tan(math.pi * f0 / sample_rate)
    vh = 10.0 ** (gain_db / 20.0)
    vb = vh**0.4996667741545416
    a0 = 1.0 + k / q + k * k
    b_shelf = np.array([(vh + vb * k / q + k * k) / a0, 2.0 * (k * k - vh) / a0, (vh - vb * k / q + k * k) / a0])
    a_shelf = np.array([1.0, 2.0 * (k * k - 1.0) / a0, (1.0 - k / q + k * k) / a0])

    f0, q = 38.13547087602444, 0.5003270373238773
    k = math.tan(math.pi * f0 / sample_rate)
    a0 = 1.0 + k / q + k * k
    b_hp = np.array([1.0, -2.0, 1.0])
    a_hp = np.array([1.0, 2.0 * (k * k - 1.0) / a0, (1.0 - k / q + k * k) / a0])
    return b_shelf, a_shelf, b_hp, a_hp


def integrated_loudness(samples: NDArray[np.floating], sample_rate: int) -> float:
    """LUFS of a mono signal; `-inf` for digital silence."""
    from scipy.signal import lfilter

    x = np.asarray(samples, dtype=np.float64)
    if x.size == 0:
        return float("-inf")
    b1, a1, b2, a2 = k_weighting(sample_rate)
    y = lfilter(b2, a2, lfilter(b1, a1, x))
    block = int(round(0.4 * sample_rate))
    hop = int(round(0.1 * sample_rate))  # 75 % overlap
    if len(y) < block:
        powers = np.array([np.mean(y * y)])  # too short to gate: measure it whole
    else:
        starts = np.arange(0, len(y) - block + 1, hop)
        cumulative = np.concatenate([[0.0], np.cumsum(y * y)])
        powers = (cumulative[starts + block] - cumulative[starts]) / block

    def lufs(power: NDArray[np.float64] | float) -> NDArray[np.float64]:
        with np.errstate(divide="ignore"):
            return -0.691 + 10.0 * np.log10(np.asarray(power, dtype=np.float64))

    gated = powers[lufs(powers) > SILENCE_LUFS]
    if gated.size == 0:
        return float("-inf")
    relative_gate = float(lufs(gated.mean())) - 10.0
    final = gated[lufs(gated) > relative_gate]
    return float(lufs(final.mean() if final.size else gated.mean()))


def normalize_loudness(
    samples: NDArray[np.floating], sample_rate: int, *, target_lufs: float = -16.0, peak_dbfs: float = -1.0
) -> Audio:
    """Scale to `target_lufs`, never letting the sample peak exceed `peak_dbfs`.

    A gain change, not a compressor: speech keeps its dynamics, and when the
    peak ceiling binds the result is simply quieter than the target.
    """
    x = np.asarray(samples, dtype=np.float32)
    loudness = integrated_loudness(x, sample_rate)
    if not math.isfinite(loudness):
        return x
    gain = 10.0 ** ((target_lufs - loudness) / 20.0)
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    ceiling = 10.0 ** (peak_dbfs / 20.0)
    if peak * gain > ceiling and peak > 0:
        gain = ceiling / peak
    return np.asarray(x * np.float32(gain), dtype=np.float32)


def live_gain(
    samples: NDArray[np.floating], sample_rate: int, *, target_lufs: float = -16.0, max_gain: float = 30.0
) -> float:
    """One gain for a job's live frames, from its first chunk (they cannot wait for a whole segment).

    Bounded, and 1.0 for silence; the durable segments are still normalised as a whole.
    """
    x = np.asarray(samples, dtype=np.float32)
    loudness = integrated_loudness(x, sample_rate)
    if not math.isfinite(loudness):
        return 1.0
    gain = 10.0 ** ((target_lufs - loudness) / 20.0)
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    if peak > 0 and peak * gain > 0.89:
        gain = 0.89 / peak
    return float(min(max(gain, 1.0 / max_gain), max_gain))
