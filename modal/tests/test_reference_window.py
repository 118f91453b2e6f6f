from __future__ import annotations

import numpy as np
import pytest
from engine_fakes.synthetic_audio import silence, speech_like

from utter_engine.reference_window import ReferenceUnusable, WindowSettings, select_reference_window

RATE = 24000
S = WindowSettings()


def level_db(x: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(x.astype(np.float64) ** 2) + 1e-12))


def test_short_clean_reference_is_used_whole_minus_the_silence_around_it() -> None:
    speech = speech_like(12.0, seed=1)
    clip = np.concatenate([silence(3.0), speech, silence(4.0)])
    window = select_reference_window(clip, RATE)
    assert window.covers_all_speech
    assert 2.5 < window.start_s < 3.2, "leading silence trimmed (keeping a short pad)"
    assert 14.5 < window.end_s < 15.3, "trailing silence trimmed"
    assert abs(len(window.audio) / RATE - (window.end_s - window.start_s)) < 1e-6


def test_long_reference_gives_a_window_of_10_to_20_seconds_cut_at_pauses() -> None:
    clip = speech_like(120.0, seed=2)
    window = select_reference_window(clip, RATE)
    length = window.end_s - window.start_s
    assert not window.covers_all_speech
    assert S.min_seconds <= length <= S.max_seconds + 2 * S.pad_ms / 1000
    # Both edges sit in a pause: the 100 ms around each cut is quiet.
    a, b = int(window.start_s * RATE), int(window.end_s * RATE)
    edge = int(0.1 * RATE)
    assert level_db(clip[a : a + edge // 2]) < -40
    assert level_db(clip[b - edge // 2 : b]) < -40


def test_clipped_stretches_are_avoided() -> None:
    clean = speech_like(60.0, seed=3, amplitude=0.3)
    clipped = np.clip(speech_like(60.0, seed=4, amplitude=3.0), -1.0, 1.0)
    clip = np.concatenate([clipped, clean])
    window = select_reference_window(clip, RATE)
    assert window.start_s >= 59.5, "the window is taken from the clean half"
    assert np.max(np.abs(clip[int(window.start_s * RATE) : int(window.end_s * RATE)])) < 0.9


def test_a_quiet_recording_is_found_and_normalised() -> None:
    clip = np.concatenate([silence(1.0, noise_dbfs=-80), speech_like(14.0, seed=5, amplitude=0.01, noise_dbfs=-80)])
    window = select_reference_window(clip, RATE)
    assert window.covers_all_speech
    assert np.max(np.abs(window.audio)) > 0.1, "brought up to a usable level"


def test_long_pauses_inside_speech_are_not_counted_as_speech() -> None:
    chunks = []
    for i in range(8):
        chunks += [speech_like(4.0, seed=10 + i), silence(6.0)]
    window = select_reference_window(np.concatenate(chunks), RATE)
    a, b = int(window.start_s * RATE), int(window.end_s * RATE)
    assert 10 <= (b - a) / RATE <= 20.5


@pytest.mark.parametrize(
    "clip",
    [
        np.zeros(RATE * 30, dtype=np.float32),
        silence(30.0, noise_dbfs=-40),
        np.concatenate([silence(20.0), speech_like(1.5, seed=6), silence(20.0)]),
        np.zeros(10, dtype=np.float32),
    ],
    ids=["digital-silence", "noise-only", "too-little-speech", "empty"],
)
def test_references_without_enough_speech_are_unusable(clip: np.ndarray) -> None:
    with pytest.raises(ReferenceUnusable):
        select_reference_window(clip, RATE)


def test_dc_offset_is_removed() -> None:
    clip = speech_like(12.0, seed=7) + np.float32(0.2)
    window = select_reference_window(clip, RATE)
    assert abs(float(np.mean(window.audio))) < 0.01
