"""Word timings (ADR 0021): the alignment schema's shared fixture, script alignment, and a v2 job that uploads one."""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np
import pytest
from conftest import FIXTURES, load_json
from engine_fakes.fake_model import FakeSpeechModel, FakeTranscriber
from engine_fakes.fake_worker import FakeWorker
from engine_fakes.jobs import THREE_SENTENCES, make_job, make_runner, serve_reference
from pydantic import ValidationError

from utter_engine.alignment import Alignment, HeardWord, align_script, build_alignment, segment_starts
from utter_engine.artifacts import ARTIFACT_KINDS
from utter_engine.segmentation import SegmentLimits, split_text_with_breaks
from utter_engine.stitching import stitch
from utter_engine.wav import decode_wav

CASES = load_json(FIXTURES / "v2" / "alignment.json")


@pytest.mark.parametrize("case", CASES["valid"], ids=[c["description"] for c in CASES["valid"]])
def test_valid_alignments_parse(case: dict[str, Any]) -> None:
    Alignment.model_validate(case["value"])


@pytest.mark.parametrize("case", CASES["invalid"], ids=[c["description"] for c in CASES["invalid"]])
def test_invalid_alignments_are_refused_where_the_fixture_says(case: dict[str, Any]) -> None:
    with pytest.raises(ValidationError) as info:
        Alignment.model_validate(case["value"])
    first = info.value.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    # pydantic names the field in `loc`; the model-level checks name it in the message, as zod's path.
    message = str(first["msg"]).removeprefix("Value error, ")
    assert where.startswith(case["path"]) or message.startswith(case["path"] + ":") or (
        where and case["path"].startswith(where) and message.startswith(case["path"].removeprefix(where + ".") + ":")
    ), (where, message)


def test_the_registry_names_the_alignment_schema() -> None:
    spec = ARTIFACT_KINDS["alignment"]
    assert spec.content_schema == "alignment" and spec.after_completed and spec.content_types == ("application/json",)


def test_script_words_take_the_recogniser_times_and_missed_words_fill_the_gaps() -> None:
    script = "Dr. Smith paid $40 today, happily."
    heard = [HeardWord("doctor", 0.0, 0.3), HeardWord("smith", 0.35, 0.7), HeardWord("paid", 0.8, 1.0),
             HeardWord("forty", 1.1, 1.4), HeardWord("dollars", 1.4, 1.8), HeardWord("today", 1.9, 2.2),
             HeardWord("happily", 2.3, 2.9)]
    words = align_script(script, heard, (0.0, 3.0))
    assert [w.text for w in words] == ["Dr.", "Smith", "paid", "$40", "today,", "happily."]
    assert [script[w.char_start : w.char_end] for w in words] == [w.text for w in words]
    by = {w.text: (w.start, w.end) for w in words}
    assert by["Smith"] == (0.35, 0.7) and by["today,"] == (1.9, 2.2) and by["happily."] == (2.3, 2.9)
    # Unmatched: between their matched neighbours.
    assert by["Dr."][0] == 0.0 and by["Dr."][1] <= 0.35
    assert 1.0 <= by["$40"][0] and by["$40"][1] <= 1.9
    starts = [w.start for w in words]
    assert starts == sorted(starts)


def test_nothing_heard_spreads_the_words_over_the_speech() -> None:
    words = align_script("one two three", [], (1.0, 2.5))
    assert words[0].start == 1.0 and abs(words[-1].end - 2.5) < 1e-9


def test_segment_starts_are_where_stitch_puts_each_segment() -> None:
    rate = 24000
    lengths = [12000, 30, 24000, 0, 5000]
    parts = []
    for n in lengths:
        part = np.zeros(n, dtype=np.float32)
        if n > 200:
            part[1000] = 1.0  # a click 1,000 samples in, outside any crossfade
        parts.append(part)
    out = stitch(parts, rate, crossfade_ms=15.0, edge_fade_ms=0.0)
    starts = segment_starts(lengths, rate, 15.0)
    clicks = list(np.flatnonzero(out > 0.5))
    assert clicks == [starts[i] + 1000 for i, n in enumerate(lengths) if n > 200]
    assert starts[1] > 0 and starts[2] < starts[1] + 30


def test_build_alignment_moves_words_and_finds_char_offsets() -> None:
    text = "Hi there.  Next one."
    segs = ["Hi there.", "Next one."]
    w0 = align_script(segs[0], [HeardWord("hi", 0.1, 0.2), HeardWord("there", 0.25, 0.5)], (0, 0.6))
    w1 = align_script(segs[1], [HeardWord("next", 0.05, 0.2), HeardWord("one", 0.3, 0.4)], (0, 0.5))
    a = build_alignment(text, segs, [w0, w1], [0.0, 0.9], 1.4)
    assert [(w.text, w.start, w.char_start) for w in a.words] == [("Hi", 0.1, 0), ("there.", 0.25, 3), ("Next", 0.95, 11), ("one.", 1.2, 16)]
    assert all(text[w.char_start : w.char_end] == w.text for w in a.words if w.char_start is not None)


pytestmark_v2 = pytest.mark.skipif(bool(os.environ.get("FAKETIME")), reason="socket timing under libfaketime (ADR 0014)")


@pytestmark_v2
def test_a_v2_job_uploads_an_alignment_after_completed_that_lines_up_with_the_final_file(worker: FakeWorker) -> None:
    serve_reference(worker)
    model = FakeSpeechModel(can_stream=True)
    asr = FakeTranscriber(model=model)
    outcome = make_runner(model, transcriber=asr).run(make_job(worker, protocol=2, reference_text="words"))
    assert outcome.status == "completed", outcome
    steps = worker.steps
    completed = next(i for i, s in enumerate(steps) if s["op"] == "event" and s["value"]["type"] == "completed")
    upload = next(i for i, s in enumerate(steps) if s.get("path") == "artifacts/alignment")
    assert upload > completed, "the alignment follows completed: the audio does not wait for the recogniser"
    assert len(asr.word_calls) == 3, "one recogniser pass per segment"

    alignment = Alignment.model_validate_json(worker.uploads["artifacts/alignment"])
    final, rate = decode_wav(worker.uploads["artifacts/final"])
    duration = len(final) / rate
    assert abs(alignment.duration - duration) < 0.002
    text = THREE_SENTENCES
    assert " ".join(w.text for w in alignment.words) == " ".join(text.split())
    assert all(text[w.char_start : w.char_end] == w.text for w in alignment.words)
    starts = [w.start for w in alignment.words]
    assert starts == sorted(starts) and all(w.end <= duration for w in alignment.words)

    # Each segment's words lie where that segment is in the final file (after the joins' pauses).
    segments = [decode_wav(worker.uploads[f"artifacts/segment/{i}"])[0] for i in range(3)]
    seg_starts = [s / rate for s in segment_starts([len(s) for s in segments], rate, 15.0)]
    texts, _ = split_text_with_breaks(text, SegmentLimits())
    assert len(texts) == 3
    at = 0
    for i, seg in enumerate(texts):
        w = alignment.words[at]
        assert seg.startswith(w.text)
        assert seg_starts[i] <= w.start < seg_starts[i] + 0.2, (w.text, w.start, seg_starts[i])
        at += len(seg.split())
    # And the words sit on sound, the joins' pauses between segments on silence.
    def rms(a: float, b: float) -> float:
        return float(np.sqrt(np.mean(final[int(a * rate) : max(int(a * rate) + 1, int(b * rate))] ** 2)))

    loud = [w for w in alignment.words if rms(w.start, w.end) > 0.01]
    assert len(loud) >= 0.9 * len(alignment.words)
    for w in alignment.words:
        assert rms(w.start, w.end) > 0.001, w
    # The joins' pauses: runs of digital silence over 100 ms. No word may sit in one.
    frame = rate // 100
    quiet = [rms(k / 100, (k + 1) / 100) < 1e-4 for k in range(len(final) // frame)]
    runs: list[tuple[float, float]] = []
    k = 0
    while k < len(quiet):
        j = k
        while j < len(quiet) and quiet[j]:
            j += 1
        if j - k >= 10:
            runs.append((k / 100, j / 100))
        k = max(j, k + 1)
    assert len(runs) >= 2, runs
    for a, b in runs:
        inside = [w for w in alignment.words if w.start < b - 0.02 and w.end > a + 0.02]
        assert not inside, (a, b, inside)


@pytestmark_v2
def test_a_failing_recogniser_costs_the_job_nothing(worker: FakeWorker) -> None:
    serve_reference(worker)
    model = FakeSpeechModel(can_stream=True)
    outcome = make_runner(model, transcriber=FakeTranscriber(model=model, fail=True)).run(
        make_job(worker, protocol=2, reference_text="words")
    )
    assert outcome.status == "completed"
    assert "artifacts/alignment" not in worker.uploads


def test_a_v1_job_uploads_no_alignment(worker: FakeWorker) -> None:
    serve_reference(worker)
    model = FakeSpeechModel()
    outcome = make_runner(model, transcriber=FakeTranscriber(model=model)).run(make_job(worker, reference_text="words"))
    assert outcome.status == "completed"
    assert not any("alignment" in p for p in worker.uploads)
    assert json.loads(json.dumps(list(worker.uploads)))  # the v1 paths only
