"""The runner's recorded output must have exactly the shape of each shared sequence fixture.

The Worker's tests replay the same files, so this pins the engine and the Worker
to one picture of a job. Fixture URLs point at https://utter.example; they are
rewritten to the fake Worker. Exact: op order, paths, event types, seq, indexes,
stages, segments_total, sample rate, error code and retryable. Structural:
durations, sizes (int, and consistent with the uploads), progress (close), messages.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import FIXTURES, load_json
from engine_fakes.fake_model import FakeSpeechModel
from engine_fakes.fake_worker import FakeWorker
from engine_fakes.jobs import make_runner, reference_wav

from utter_engine.wav import decode_wav

SEQUENCES = sorted((FIXTURES / "sequences").glob("*.json"))
FIXTURE_ORIGIN = "https://utter.example"


def _reference_ok(worker: FakeWorker, job_id: str) -> FakeSpeechModel:
    worker.references[job_id] = (200, reference_wav(), "audio/wav")
    return FakeSpeechModel()


def _reference_forbidden(worker: FakeWorker, job_id: str) -> FakeSpeechModel:
    worker.references[job_id] = (403, b"", "application/json")
    return FakeSpeechModel()


def _runaway_twice(worker: FakeWorker, job_id: str) -> FakeSpeechModel:
    worker.references[job_id] = (200, reference_wav(), "audio/wav")
    return FakeSpeechModel(runaway_markers=("la la la",), runaway_times=2)


# How the fake Worker and model must behave for each fixture to happen.
SCENARIOS: dict[str, Callable[[FakeWorker, str], FakeSpeechModel]] = {
    "generate-three-segments": _reference_ok,
    "generate-reference-forbidden": _reference_forbidden,
    "design-preview": lambda worker, job_id: FakeSpeechModel(),
    "generate-runaway-failure": _runaway_twice,
}


def test_every_sequence_fixture_has_a_scenario() -> None:
    assert {p.stem for p in SEQUENCES} == set(SCENARIOS)


@pytest.mark.parametrize("path", SEQUENCES, ids=[p.stem for p in SEQUENCES])
def test_runner_output_matches_the_sequence_fixture(path: Path) -> None:
    fixture = load_json(path)
    with FakeWorker(token=fixture["job"]["callbacks"]["token"]) as worker:
        job = json.loads(json.dumps(fixture["job"]).replace(FIXTURE_ORIGIN, worker.base_url))
        model = SCENARIOS[path.stem](worker, job["job_id"])
        make_runner(model).run(job)
        assert_same_shape(worker.steps, fixture["steps"])
        assert_consistent_with_uploads(worker)


def assert_same_shape(actual: list[dict[str, Any]], expected: list[dict[str, Any]]) -> None:
    def outline(steps: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        return [
            ("upload", s["path"]) if s["op"] == "upload" else ("event", s["value"]["type"], s["value"]["seq"])
            for s in steps
        ]

    assert outline(actual) == outline(expected)
    for got, want in zip(actual, expected, strict=True):
        if got["op"] == "event":
            _assert_event_matches(got["value"], want["value"])


def _assert_event_matches(got: dict[str, Any], want: dict[str, Any]) -> None:
    assert set(got) == set(want), f"fields differ for {want['type']} seq {want['seq']}"
    for key, expected in want.items():
        value = got[key]
        if key in ("duration_ms", "size_bytes"):
            assert isinstance(value, int) and value >= (44 if key == "size_bytes" else 0)
        elif key == "progress":
            assert value == pytest.approx(expected, abs=1e-3)
        elif key == "error":
            assert (value["code"], value["retryable"]) == (expected["code"], expected["retryable"])
            assert isinstance(value["message"], str) and value["message"]
        else:
            assert value == expected, f"{key} of {want['type']} seq {want['seq']}"


def assert_consistent_with_uploads(worker: FakeWorker) -> None:
    for event in worker.events():
        if event["type"] == "segment":
            audio, rate = decode_wav(worker.uploads[f"segments/{event['index']}"])
            assert abs(len(audio) * 1000 / rate - event["duration_ms"]) <= 1
        if event["type"] == "completed":
            assert event["size_bytes"] == len(worker.uploads["final"])
            audio, rate = decode_wav(worker.uploads["final"])
            assert rate == event["sample_rate"]
            assert abs(len(audio) * 1000 / rate - event["duration_ms"]) <= 1
