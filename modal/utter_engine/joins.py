"""Natural joins (issue 11): parts are followed by a pause, not butted together.

The model speaks each segment (a few sentences) with the voice's own pauses
inside it; between segments the engine adds the silence the job asks for
(`pause_ms`), or the voice's own pause measured from its reference, and twice
that at a paragraph break. The silence is the end of the segment's audio, so the
live frames, the segment artifacts and the final file agree sample for sample.
Mirrors dev/engine/joins.ts.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import NDArray

DEFAULT_PAUSE_MS = 350
MEASURED_PAUSE_MS = (200, 900)
PARAGRAPH_FACTOR = 2
# Silences shorter than this are stops inside words, not pauses.
MIN_PAUSE_S = 0.15
# A reference can be five minutes long; its first minute says enough about how its speaker pauses.
MAX_ANALYSED_S = 60.0

JoinAfter = Literal["sentence", "paragraph"] | None


def sentence_pause_ms(requested: int | None, voice_pause_ms: int | None) -> int:
    """The pause asked for, else the voice's own (kept natural), else the default."""
    if requested is not None:
        return requested
    if voice_pause_ms is None:
        return DEFAULT_PAUSE_MS
    low, high = MEASURED_PAUSE_MS
    return int(min(high, max(low, voice_pause_ms)))


def pause_samples(after: JoinAfter, sentence_ms: int, sample_rate: int) -> int:
    if after is None:
        return 0
    factor = PARAGRAPH_FACTOR if after == "paragraph" else 1
    return int(round(factor * sentence_ms * sample_rate / 1000.0))


def joins_after(paragraph_breaks: list[bool]) -> list[JoinAfter]:
    """What follows each segment: a sentence pause, a paragraph pause, or (the last) nothing."""
    last = len(paragraph_breaks) - 1
    return [None if i == last else ("paragraph" if brk else "sentence") for i, brk in enumerate(paragraph_breaks)]


def with_silence(samples: NDArray[np.floating], count: int) -> NDArray[np.float32]:
    audio = np.asarray(samples, dtype=np.float32).reshape(-1)
    if count <= 0:
        return audio
    return np.concatenate([audio, np.zeros(count, dtype=np.float32)])


def natural_pause_ms(samples: NDArray[np.floating], sample_rate: int) -> int | None:
    """How long this speaker pauses: the 75th percentile of the silences of at least MIN_PAUSE_S
    between its first and last speech, from 10 ms frames gated 30 dB below the loud ones; None
    with fewer than two such silences."""
    x = np.asarray(samples, dtype=np.float32).reshape(-1)[: int(MAX_ANALYSED_S * sample_rate)]
    hop = max(1, sample_rate // 100)
    frames = len(x) // hop
    if frames < 3:
        return None
    rms = np.sqrt(np.mean(np.square(x[: frames * hop].reshape(frames, hop), dtype=np.float64), axis=1))
    loud = float(np.percentile(rms, 95))
    gate = max(1e-4, loud * 10 ** (-30 / 20))
    active = rms > gate
    idx = np.flatnonzero(active)
    if idx.size == 0:
        return None
    runs: list[float] = []
    run = 0
    for flag in active[idx[0] : idx[-1] + 1]:
        if not flag:
            run += 1
            continue
        if run * hop / sample_rate >= MIN_PAUSE_S:
            runs.append(run * hop / sample_rate)
        run = 0
    if len(runs) < 2:
        return None
    runs.sort()
    return int(round(1000 * runs[min(len(runs) - 1, int(len(runs) * 0.75))]))
