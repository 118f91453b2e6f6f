"""Long-form (ADR 0023): a Worker resume renders only the unfinished parts; the peaks artifact."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from engine_fakes.fake_model import FakeSpeechModel
from engine_fakes.fake_worker import FakeWorker
from engine_fakes.jobs import make_job, make_runner, serve_reference

from utter_engine.peaks import compute_peaks
from utter_engine.protocol import MAX_PEAKS, Peaks, SubmitRequest, submit_idempotency_key
from utter_engine.wav import decode_wav

FIXTURES = Path(__file__).resolve().parents[2] / "test" / "fixtures" / "engine-protocol" / "v2"


def _events(worker: FakeWorker) -> list[dict[str, Any]]:
    return [s["value"] for s in worker.steps if s["op"] == "event"]


def test_compute_peaks_agrees_with_the_worker_fixture() -> None:
    fixture = json.loads((FIXTURES / "peaks-compute.json").read_text())
    n, rate = fixture["input"]["length"], fixture["input"]["sample_rate"]
    i = np.arange(n, dtype=np.float64)
    samples = (np.sin(i / 9) * 0.5 * (i / n)).astype(np.float32)
    assert compute_peaks(samples, rate).model_dump() == fixture["expected"]


def test_peaks_of_long_audio_stay_within_the_cap_and_the_schema() -> None:
    rate = 24000
    samples = np.full(rate * 60 * 3, 0.25, dtype=np.float32)  # three minutes
    peaks = compute_peaks(samples, rate)
    assert len(peaks.peaks) == MAX_PEAKS
    assert peaks.samples_per_peak == 540 and peaks.length == len(samples)
    assert set(peaks.peaks) == {0.25}
    Peaks.model_validate_json(peaks.model_dump_json())


def test_a_v2_job_uploads_its_peaks_after_the_final_and_before_completed(worker: FakeWorker) -> None:
    serve_reference(worker)
    outcome = make_runner(FakeSpeechModel(can_stream=True)).run(make_job(worker, protocol=2, reference_text="words"))
    assert outcome.status == "completed", outcome
    order = [s.get("path") or s["value"]["type"] for s in worker.steps if s["op"] in ("upload", "event")]
    assert order.index("artifacts/final") < order.index("artifacts/peaks") < order.index("completed")
    peaks = Peaks.model_validate_json(worker.uploads["artifacts/peaks"])
    final, rate = decode_wav(worker.uploads["artifacts/final"])
    assert peaks.length == len(final) and peaks.sample_rate == rate


def _resume(job: dict[str, Any], worker: FakeWorker, segment: int, **extra: Any) -> dict[str, Any]:
    """What the Worker resubmits after an interruption: the same job, with where to resume."""
    state = worker.job(job["job_id"])
    state.state = "running"  # the Worker keeps the task running across a resume
    return {**job, "resume_from": {"attempt": 1, "segment": segment, "next_seq": state.last_seq + 1, **extra}}


def test_a_worker_resume_of_a_v1_job_renders_only_the_unfinished_parts(worker: FakeWorker) -> None:
    serve_reference(worker)
    job = make_job(worker, reference_text="words")
    # The third generation (part 2 of 3) fails: a retryable engine failure after two parts are durable.
    first = FakeSpeechModel(crash_on_call=3)
    assert make_runner(first, max_batch_size=1).run(job).status == "failed"
    assert _events(worker)[-1]["type"] == "failed" and _events(worker)[-1]["error"]["retryable"] is True
    part0 = worker.uploads["segments/0"]
    steps_before = len(worker.steps)

    resumed = _resume(job, worker, segment=2)
    assert submit_idempotency_key(SubmitRequest.model_validate(resumed)) == "job_test_1.resume.1"
    second = FakeSpeechModel()
    outcome = make_runner(second, max_batch_size=1).run(resumed)
    assert outcome.status == "completed", outcome
    assert outcome.resumed_from == 2
    assert len(second.calls) == 1, "only the unfinished part is rendered"
    later = worker.steps[steps_before:]
    assert [s["path"] for s in later if s["op"] == "upload"] == ["segments/2", "final"], "no finished part uploaded again"
    events = _events(worker)
    assert [e["seq"] for e in events] == list(range(len(events))), "seq continues from the Worker's next_seq"
    assert [e["type"] for e in events].count("started") == 1
    assert worker.uploads["segments/0"] == part0
    final, _ = decode_wav(worker.uploads["final"])
    parts = [decode_wav(worker.uploads[f"segments/{i}"])[0] for i in range(3)]
    assert abs(len(final) - (sum(len(p) for p in parts) - 2 * 360)) <= 2, "the final holds every part"


def test_a_worker_resume_of_a_v2_job_streams_from_the_offset_it_names(worker: FakeWorker) -> None:
    serve_reference(worker)
    job = make_job(worker, protocol=2, reference_text="words")
    first = FakeSpeechModel(can_stream=True, crash_on_call=2)
    assert make_runner(first).run(job).status == "failed"
    durable = decode_wav(worker.uploads["artifacts/segment/0"])[0]
    frames_before = len(worker.frames)

    resumed = _resume(job, worker, segment=1, stream_offset=len(durable))
    second = FakeSpeechModel(can_stream=True)
    outcome = make_runner(second).run(resumed)
    assert outcome.status == "completed", outcome
    assert len(second.calls) == 2, "parts 1 and 2 only"
    new_frames = worker.frames[frames_before:]
    assert new_frames and new_frames[0].segment == 1 and new_frames[0].segment_offset == 0
    assert new_frames[0].stream_offset == len(durable)
    assert {f.segment for f in new_frames} == {1, 2}, "the finished part is not streamed again"


def test_a_part_regeneration_renders_only_that_part_and_reads_the_others_back(worker: FakeWorker) -> None:
    """ADR 0026: `render_parts` renders the listed part; the take's other parts are read back, not rendered."""
    serve_reference(worker, "job_source")
    serve_reference(worker, "job_part")
    source = make_job(worker, job_id="job_source", reference_text="words", seed=3)
    assert make_runner(FakeSpeechModel(), max_batch_size=1).run(source).status == "completed"
    parts = [worker.uploads[f"segments/{i}"] for i in range(3)]
    source_final, _ = decode_wav(worker.uploads["final"])

    # The part take's tracker holds the source's parts 0 and 2 (inherited, ADR 0026).
    part_job = make_job(worker, job_id="job_part", reference_text="words", seed=4)
    part_job["render_parts"] = {"indices": [1], "segments_total": 3}
    SubmitRequest.model_validate(part_job)
    state = worker.job("job_part")
    state.uploads.setdefault("segment", {}).update({0: parts[0], 2: parts[2]})
    steps_before = len(worker.steps)
    model = FakeSpeechModel()
    outcome = make_runner(model, max_batch_size=1).run(part_job)
    assert outcome.status == "completed", outcome
    assert len(model.calls) == 1, "only part 1 is rendered"
    later = worker.steps[steps_before:]
    assert [s["path"] for s in later if s["op"] == "upload"] == ["segments/1", "final"]
    events = [s["value"] for s in later if s["op"] == "event"]
    assert [e["index"] for e in events if e["type"] == "segment"] == [0, 2, 1], "every part announced"
    final, _ = decode_wav(worker.uploads["final"])
    lengths = [len(decode_wav(parts[0])[0]), len(decode_wav(worker.uploads["segments/1"])[0]), len(decode_wav(parts[2])[0])]
    assert abs(len(final) - (sum(lengths) - 2 * 360)) <= 2, "the final holds every part, restitched"
    # Outside the regenerated part and its crossfades the final is the source's, sample for sample.
    head, tail = lengths[0] - 360, lengths[2] - 360
    assert np.array_equal(final[:head], source_final[:head]), "unchanged before the part"
    assert np.array_equal(final[-tail:], source_final[-tail:]), "unchanged after the part"
    assert not np.array_equal(final[head:-tail], source_final[head:-tail]) or len(final) != len(source_final)


def test_a_part_regeneration_fails_without_retry_when_the_text_splits_otherwise(worker: FakeWorker) -> None:
    serve_reference(worker, "job_mismatch")
    job = make_job(worker, job_id="job_mismatch", reference_text="words")
    job["render_parts"] = {"indices": [0], "segments_total": 5}
    model = FakeSpeechModel()
    outcome = make_runner(model).run(job)
    assert outcome.status == "failed"
    last = _events(worker)[-1]
    assert last["type"] == "failed" and last["error"]["code"] == "invalid_input" and last["error"]["retryable"] is False
    assert "not the 5" in last["error"]["message"]
    assert model.calls == []
