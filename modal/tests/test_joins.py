"""Natural joins (issue 11): each segment but the last ends with the job's pause, twice it at a
paragraph break, or the voice's own pause when the job asks for none; live frames and files agree."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pytest
from engine_fakes.fake_model import FakeSpeechModel
from engine_fakes.fake_worker import FakeWorker
from engine_fakes.jobs import make_job, make_runner, serve_reference
from engine_fakes.synthetic_audio import speech_like

from utter_engine.joins import (
    DEFAULT_PAUSE_MS,
    MEASURED_PAUSE_MS,
    joins_after,
    natural_pause_ms,
    pause_samples,
    sentence_pause_ms,
)
from utter_engine.segmentation import split_text_with_breaks
from utter_engine.wav import decode_wav, encode_wav

PARAGRAPHS = (
    "The boat left the harbour at dawn, and the gulls were still asleep on the harbour wall. "
    "Nobody on the quay looked up as it passed the lighthouse and turned towards the open sea.\n\n"
    "By noon the sky had turned grey, and the first drops of rain began to fall on the deck. "
    "The skipper pulled his hood up, checked the nets once more, and said nothing at all. "
    "Far behind them the town had already disappeared into the low cloud along the coast."
)


def trailing_zeros(samples: np.ndarray) -> int:
    nonzero = np.flatnonzero(samples)
    return len(samples) if nonzero.size == 0 else len(samples) - 1 - int(nonzero[-1])


def segment_audio(worker: FakeWorker, v2: bool) -> list[np.ndarray]:
    out = []
    for index in range(100):
        key = f"artifacts/segment/{index}" if v2 else f"segments/{index}"
        if key not in worker.uploads:
            break
        audio, rate = decode_wav(worker.uploads[key])
        assert rate == 24000
        out.append(audio)
    return out


def test_the_pause_is_asked_for_or_the_voices_own_within_natural_bounds() -> None:
    assert sentence_pause_ms(0, 500) == 0
    assert sentence_pause_ms(1200, 500) == 1200
    assert sentence_pause_ms(None, 420) == 420
    assert sentence_pause_ms(None, 3000) == MEASURED_PAUSE_MS[1]
    assert sentence_pause_ms(None, 50) == MEASURED_PAUSE_MS[0]
    assert sentence_pause_ms(None, None) == DEFAULT_PAUSE_MS
    assert pause_samples("sentence", 400, 24000) == 9600
    assert pause_samples("paragraph", 400, 24000) == 19200
    assert pause_samples(None, 400, 24000) == 0
    assert joins_after([False, True, False]) == ["sentence", "paragraph", None]


def test_segments_know_which_of_them_ends_a_paragraph() -> None:
    segments, breaks = split_text_with_breaks("One sentence here.\n\nAnother one.\n  \n\tA third.\nA fourth.")
    assert segments == ["One sentence here.", "Another one.", "A third. A fourth."]
    assert breaks == [True, True, False]
    text = PARAGRAPHS
    segs, brks = split_text_with_breaks(text)
    assert len(segs) == len(brks) and brks[-1] is False
    first_paragraph = text.split("\n\n")[0]
    ends_first = [i for i, s in enumerate(segs) if first_paragraph.endswith(s)]
    assert ends_first and brks[ends_first[0]] is True
    assert sum(brks) == 1


def test_a_references_pauses_are_measured() -> None:
    rate = 16000
    burst = speech_like(1.2, rate, seed=3, noise_dbfs=-90.0)
    burst = burst * (np.abs(burst) > 0).astype(np.float32)

    def gap(ms: int) -> np.ndarray:
        return np.zeros(int(rate * ms / 1000), dtype=np.float32)

    tone = (0.3 * np.sin(2 * np.pi * 160 * np.arange(int(1.2 * rate)) / rate)).astype(np.float32)
    audio = np.concatenate([tone, gap(300), tone, gap(500), tone, gap(400), tone])
    pause = natural_pause_ms(audio, rate)
    assert pause is not None and abs(pause - 500) <= 30
    assert natural_pause_ms(tone, rate) is None
    assert natural_pause_ms(np.zeros(rate, dtype=np.float32), rate) is None


@pytest.mark.parametrize("v2", [False, True])
def test_each_segment_but_the_last_ends_with_the_pause_asked_for(worker: FakeWorker, v2: bool) -> None:
    if v2 and os.environ.get("FAKETIME"):
        pytest.skip("socket timing under libfaketime; runs in the normal suite")
    serve_reference(worker)
    model = FakeSpeechModel(can_stream=v2)
    job: dict[str, Any] = make_job(worker, text=PARAGRAPHS, reference_text="words", protocol=2 if v2 else 1)
    job["pause_ms"] = 400
    outcome = make_runner(model).run(job)
    assert outcome.status == "completed", outcome
    _, breaks = split_text_with_breaks(PARAGRAPHS)
    segments = segment_audio(worker, v2)
    assert len(segments) == len(breaks) >= 3
    for index, (audio, brk) in enumerate(zip(segments, breaks, strict=True)):
        want = 0 if index == len(segments) - 1 else (19200 if brk else 9600)
        assert trailing_zeros(audio) == want, f"segment {index}"
    if v2:
        for index, audio in enumerate(segments):
            assert len(worker.live_pcm(index)) // 2 == len(audio), "the live stream carries the pause too"
    final, _ = decode_wav(worker.uploads["artifacts/final" if v2 else "final"])
    assert abs(len(final) - sum(len(a) for a in segments)) < 24000 * 0.05 * len(segments)


def test_no_pause_when_asked_for_none_and_the_voices_own_otherwise(worker: FakeWorker) -> None:
    job: dict[str, Any] = make_job(worker, text=PARAGRAPHS)
    job["pause_ms"] = 0
    serve_reference(worker)
    assert make_runner(FakeSpeechModel()).run(job).status == "completed"
    assert all(trailing_zeros(a) == 0 for a in segment_audio(worker, False))


def test_the_voices_own_pause_when_the_job_names_none(worker: FakeWorker) -> None:
    rate = 24000
    tone = (0.3 * np.sin(2 * np.pi * 150 * np.arange(int(2.5 * rate)) / rate)).astype(np.float32)
    gaps = [np.zeros(int(rate * ms / 1000), dtype=np.float32) for ms in (600, 650, 700, 600)]
    reference = np.concatenate([tone, gaps[0], tone, gaps[1], tone, gaps[2], tone, gaps[3], tone])
    serve_reference(worker, data=encode_wav(reference, rate))
    outcome = make_runner(FakeSpeechModel()).run(make_job(worker, text=PARAGRAPHS, reference_text="words"))
    assert outcome.status == "completed", outcome
    expected = pause_samples("sentence", sentence_pause_ms(None, natural_pause_ms(reference, rate)), rate)
    assert abs(expected - int(0.7 * rate)) <= int(0.03 * rate)
    assert trailing_zeros(segment_audio(worker, False)[0]) in (expected, 2 * expected)
