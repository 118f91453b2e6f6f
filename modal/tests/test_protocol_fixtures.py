"""The shared fixtures (also checked by the Worker's zod tests) against the pydantic mirror."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import FIXTURES, load_json
from pydantic import ValidationError

from utter_engine.protocol import PROTOCOL_SCHEMAS, V1_SCHEMAS, SubmitRequest, parse

VALID = sorted((FIXTURES / "valid").glob("*.json"))
INVALID = sorted((FIXTURES / "invalid").glob("*.json"))
SEQUENCES = sorted((FIXTURES / "sequences").glob("*.json"))


def _ids(paths: list[Path]) -> list[str]:
    return [p.stem for p in paths]


def test_there_are_enough_fixtures_for_every_schema() -> None:
    assert len(VALID) >= 25 and len(INVALID) >= 25 and len(SEQUENCES) >= 3
    named = [{load_json(p)["schema"] for p in group} for group in (VALID, INVALID)]
    for schemas in named:
        assert schemas <= set(PROTOCOL_SCHEMAS), "every fixture names a schema the mirror has"
        assert V1_SCHEMAS <= schemas
        if schemas - V1_SCHEMAS:
            # Once the v2 fixtures exist (ADR 0009), every v2 schema must have them too.
            assert schemas == set(PROTOCOL_SCHEMAS), set(PROTOCOL_SCHEMAS) - schemas


def test_every_event_type_has_a_valid_fixture() -> None:
    types = {load_json(p)["value"]["type"] for p in VALID if load_json(p)["schema"] == "EngineEvent"}
    assert types == {"started", "progress", "segment", "heartbeat", "completed", "failed"}


@pytest.mark.parametrize("path", VALID, ids=_ids(VALID))
def test_valid_fixture_parses_and_round_trips(path: Path) -> None:
    fixture = load_json(path)
    assert fixture["description"]
    model = parse(fixture["schema"], fixture["value"])
    wire = model.to_json()
    assert parse(fixture["schema"], wire) == model
    _assert_is_stripped_copy(wire, fixture["value"])


@pytest.mark.parametrize("path", INVALID, ids=_ids(INVALID))
def test_invalid_fixture_is_rejected(path: Path) -> None:
    fixture = load_json(path)
    assert fixture["description"]
    with pytest.raises(ValidationError):
        parse(fixture["schema"], fixture["value"])


@pytest.mark.parametrize("path", SEQUENCES, ids=_ids(SEQUENCES))
def test_sequence_fixture_obeys_the_protocol_rules(path: Path) -> None:
    fixture = load_json(path)
    job = SubmitRequest.model_validate(fixture["job"])
    steps = fixture["steps"]
    events = [parse("EngineEvent", s["value"]) for s in steps if s["op"] == "event"]
    assert all(s["op"] in ("event", "upload") for s in steps)
    assert all(e.job_id == job.job_id for e in events)
    assert [e.seq for e in events] == list(range(len(events))), "seq starts at 0 and increases by one"
    assert events[0].type == "started"
    assert events[-1].type in ("completed", "failed")
    assert sum(e.type in ("completed", "failed") for e in events) == 1
    assert steps[-1]["op"] == "event", "nothing follows the final event"

    uploaded: list[str] = []
    for step in steps:
        if step["op"] == "upload":
            uploaded.append(step["path"])
            continue
        event = parse("EngineEvent", step["value"])
        if event.type == "segment":
            assert uploaded and uploaded[-1] == f"segments/{event.index}", "upload before announce"
        if event.type == "completed":
            assert uploaded[-1] == "final"
    segment_indexes = [e.index for e in events if e.type == "segment"]
    assert segment_indexes == list(range(len(segment_indexes))), "indexes start at 0 and are contiguous"
    if events[-1].type == "completed":
        assert events[0].segments_total == len(segment_indexes)
        overlap_ms = 15 * (len(segment_indexes) - 1)
        expected = sum(e.duration_ms for e in events if e.type == "segment") - overlap_ms
        assert abs(events[-1].duration_ms - expected) <= max(50, expected * 0.01)


def _assert_is_stripped_copy(wire: Any, original: Any) -> None:
    """Everything the mirror emits was in the input (unknown keys dropped, numbers equal)."""
    if isinstance(wire, dict):
        assert isinstance(original, dict)
        for key, value in wire.items():
            assert key in original
            _assert_is_stripped_copy(value, original[key])
    elif isinstance(wire, str):
        assert wire == original.strip()
    else:
        assert wire == original
