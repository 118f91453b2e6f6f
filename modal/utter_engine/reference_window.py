"""Pick the stretch of a reference recording the cloning model should hear.

Uploads may be up to 5 minutes of anything: silence at the ends, long pauses,
clipped shouts, room noise. The model wants roughly 10-20 s of clean,
continuous speech. This finds speech by frame energy against the recording's
own noise floor, avoids clipped frames, and cuts at pauses so no word is
chopped in half.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from .loudness import normalize_loudness
from .wav import Audio


class ReferenceUnusable(ValueError):
    pass


@dataclass(frozen=True)
class WindowSettings:
    min_seconds: float = 10.0
    target_seconds: float = 15.0
    max_seconds: float = 20.0
    min_speech_seconds: float = 3.0
    frame_ms: float = 20.0
    pad_ms: float = 150.0
    clip_level: float = 0.98
    target_lufs: float = -20.0


@dataclass(frozen=True)
class ReferenceWindow:
    audio: Audio
    sample_rate: int
    start_s: float
    end_s: float
    # True when the window holds all the speech in the upload, so the upload's transcript matches it.
    covers_all_speech: bool


@dataclass(frozen=True)
class _Frames:
    voiced: NDArray[np.bool_]
    clipped: NDArray[np.bool_]
    hop: int


def select_reference_window(
    samples: NDArray[np.floating], sample_rate: int, settings: WindowSettings | None = None
) -> ReferenceWindow:
    s = settings or WindowSettings()
    x = np.asarray(samples, dtype=np.float32)
    x = x - np.float32(x.mean()) if x.size else x
    frames = _analyse(x, sample_rate, s)
    voiced_idx = np.flatnonzero(frames.voiced)
    speech_s = len(voiced_idx) * s.frame_ms / 1000.0
    if speech_s < s.min_speech_seconds:
        raise ReferenceUnusable(
            f"the reference has only {speech_s:.1f} s of audible speech; "
            f"at least {s.min_speech_seconds:.0f} s is needed"
        )
    first, last = int(voiced_idx[0]), int(voiced_idx[-1]) + 1
    frame_s = s.frame_ms / 1000.0
    if (last - first) * frame_s <= s.max_seconds:
        start, end, whole = first, last, True
    else:
        start, end = _best_window(frames, first, last, s)
        whole = False
    pad = int(round(s.pad_ms / 1000.0 * sample_rate))
    a = max(0, start * frames.hop - pad)
    b = min(len(x), end * frames.hop + pad)
    clip = normalize_loudness(x[a:b], sample_rate, target_lufs=s.target_lufs)
    return ReferenceWindow(clip, sample_rate, a / sample_rate, b / sample_rate, whole)


def _analyse(x: NDArray[np.float32], sample_rate: int, s: WindowSettings) -> _Frames:
    hop = max(1, int(round(sample_rate * s.frame_ms / 1000.0)))
    n = len(x) // hop
    if n == 0:
        empty = np.zeros(0, dtype=bool)
        return _Frames(empty, empty, hop)
    blocks = x[: n * hop].reshape(n, hop).astype(np.float64)
    with np.errstate(divide="ignore"):
        level_db = 10.0 * np.log10(np.mean(blocks * blocks, axis=1) + 1e-12)
    floor = float(np.percentile(level_db, 10))
    loud = float(np.percentile(level_db, 95))
    # Speech must stand clear of this recording's own noise floor and be within
    # 30 dB of its loud parts; an all-noise file has nothing that qualifies.
    threshold = max(floor + 10.0, loud - 30.0, -55.0)
    voiced = level_db > threshold
    # Three or more samples pinned at full scale in a frame = clipping.
    clipped = np.sum(np.abs(blocks) >= s.clip_level, axis=1) >= 3
    return _Frames(voiced, clipped, hop)


def _best_window(frames: _Frames, first: int, last: int, s: WindowSettings) -> tuple[int, int]:
    frame_s = s.frame_ms / 1000.0
    min_len = int(s.min_seconds / frame_s)
    max_len = int(s.max_seconds / frame_s)
    target = int(s.target_seconds / frame_s)
    voiced_sum = np.concatenate([[0], np.cumsum(frames.voiced)])
    clipped_sum = np.concatenate([[0], np.cumsum(frames.clipped)])
    silent = np.flatnonzero(~frames.voiced)
    silent_list = silent.tolist()
    # Start where speech starts after a pause, so the clip opens on a word.
    onsets = [first] + [int(i) + 1 for i in silent if first <= i < last - min_len and frames.voiced[i + 1]]
    best: tuple[float, int, int] | None = None
    for start in onsets:
        end = _pause_near(silent_list, start + target, start + min_len, min(start + max_len, last))
        if end is None:
            end = min(start + target, last)
        if end - start < min_len:
            continue
        speech = voiced_sum[end] - voiced_sum[start]
        clipped = clipped_sum[end] - clipped_sum[start]
        score = (speech - 5.0 * clipped) / target
        if best is None or score > best[0] + 1e-9:
            best = (score, start, end)
    if best is None:  # speech span shorter than min_len after all: take it whole
        return first, min(last, first + max_len)
    return best[1], best[2]


def _pause_near(silent: list[int], want: int, lo: int, hi: int) -> int | None:
    """The silent frame in [lo, hi] closest to `want`, if any."""
    i = bisect.bisect_left(silent, want)
    candidates = [silent[j] for j in (i - 1, i) if 0 <= j < len(silent) and lo <= silent[j] <= hi]
    if not candidates:
        left = bisect.bisect_left(silent, lo)
        right = bisect.bisect_right(silent, hi)
        candidates = silent[left:right]
    return min(candidates, key=lambda f: abs(f - want)) if candidates else None
