"""Protocol v2 (ADR 0009) in the Python mirror: the registry and frame fixtures, and the new schemas."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import FIXTURES, load_json
from pydantic import ValidationError

from utter_engine.artifacts import ARTIFACT_KINDS, artifact_path, registry_json
from utter_engine.frames import AudioFrame, FrameError, decode_frame, encode_frame
from utter_engine.protocol import SubmitRequest, parse

V2 = FIXTURES / "v2"
FRAMES = load_json(V2 / "frames.json")


def test_the_artifact_registry_equals_the_shared_fixture() -> None:
    fixture = load_json(V2 / "artifact-kinds.json")
    fixture.pop("description")
    assert registry_json() == fixture


def test_artifact_paths_follow_the_registry() -> None:
    assert artifact_path("segment", 3) == "artifacts/segment/3"
    assert artifact_path("final") == "artifacts/final"
    assert artifact_path("final_mp3") == "artifacts/final_mp3"
    assert artifact_path("peaks") == "artifacts/peaks"
    for bad in (("segment", None), ("final", 0), ("segment", 10000), ("peaks", 0), ("waveform", None)):
        with pytest.raises(ValueError):
            artifact_path(*bad)
    assert ARTIFACT_KINDS["final_mp3"].after_completed and not ARTIFACT_KINDS["final"].after_completed


@pytest.mark.parametrize("case", FRAMES["valid"], ids=[c["description"] for c in FRAMES["valid"]])
def test_valid_frames_decode_and_encode_back(case: dict[str, Any]) -> None:
    data = bytes.fromhex(case["hex"])
    frame = decode_frame(data)
    want = case["decoded"]
    got = {
        "version": frame.version,
        "flags": frame.flags,
        "segment": frame.segment,
        "frame": frame.frame,
        "segment_offset": frame.segment_offset,
        "stream_offset": frame.stream_offset,
        "last_in_segment": frame.last_in_segment,
        "samples": frame.samples(),
    }
    assert got == want
    assert encode_frame(frame) == data


@pytest.mark.parametrize("case", FRAMES["invalid"], ids=[c["description"] for c in FRAMES["invalid"]])
def test_invalid_frames_are_refused_with_the_named_reason(case: dict[str, Any]) -> None:
    with pytest.raises(FrameError) as caught:
        decode_frame(bytes.fromhex(case["hex"]))
    assert caught.value.reason == case["reason"]


def test_the_encoder_refuses_what_the_decoder_would() -> None:
    with pytest.raises(FrameError, match="even"):
        encode_frame(AudioFrame(segment=0, frame=0, segment_offset=0, stream_offset=0, pcm=b"\x00"))
    with pytest.raises(FrameError) as caught:
        encode_frame(AudioFrame(segment=0, frame=0, segment_offset=0, stream_offset=0, pcm=bytes(192_002)))
    assert caught.value.reason == "oversized"
    decode_frame(encode_frame(AudioFrame(segment=0, frame=0, segment_offset=0, stream_offset=0, pcm=bytes(192_000))))


def _submit(**changes: Any) -> dict[str, Any]:
    value = load_json(FIXTURES / "valid" / "submit-generate-minimal.json")["value"]
    value = {**value, "protocol": 2}
    value["callbacks"] = {**value["callbacks"], "stream_url": "wss://utter.example/internal/engine/jobs/j/stream"}
    for key, new in changes.items():
        if key.startswith("callbacks."):
            value["callbacks"][key.split(".", 1)[1]] = new
        else:
            value[key] = new
    return value


def test_protocol_2_submits_need_a_websocket_stream_url() -> None:
    job = SubmitRequest.model_validate(_submit())
    assert job.protocol == 2 and job.callbacks.stream_url is not None
    assert job.to_json()["callbacks"]["stream_url"].startswith("wss://")
    for bad in (None, "https://utter.example/stream", "ws:/broken", "", 3):
        value = _submit(**{"callbacks.stream_url": bad})
        if bad is None:
            del value["callbacks"]["stream_url"]
        with pytest.raises(ValidationError):
            SubmitRequest.model_validate(value)
    with pytest.raises(ValidationError):
        SubmitRequest.model_validate(_submit(protocol=3))
    v1 = _submit(protocol=1)
    assert SubmitRequest.model_validate(v1).protocol == 1, "a v1 submit may carry a stream_url and ignore it"


VALID_V2: list[tuple[str, Any]] = [
    ("StreamHello", {"type": "hello", "acked_seq": -1, "state": "dispatched", "artifacts": [], "last_frame": -1}),
    (
        "StreamHello",
        {
            "type": "hello",
            "acked_seq": 7,
            "state": "running",
            "artifacts": [{"kind": "segment", "index": 0}, {"kind": "segment", "index": 1}],
            "last_frame": 41,
        },
    ),
    ("StreamAck", {"type": "ack", "seq": 3, "accepted": True, "state": "running"}),
    ("StreamAck", {"type": "ack", "seq": 0, "accepted": False, "state": "cancelled"}),
    ("StreamCancel", {"type": "cancel", "state": "cancelled"}),
    ("StreamCancel", {"type": "cancel", "state": "failed"}),
    ("ArtifactAck", {"kind": "segment", "index": 2, "size_bytes": 48044}),
    ("ArtifactAck", {"kind": "final", "index": None, "size_bytes": 44}),
    ("MultipartStart", {"upload_id": "abc-123", "part_size": 8388608}),
    ("MultipartPart", {"part_number": 1, "etag": '"9b2cf535f27731c974343645a3985328"'}),
    ("MultipartComplete", {"parts": [{"part_number": 1, "etag": "a"}, {"part_number": 2, "etag": "b"}]}),
]
INVALID_V2: list[tuple[str, Any]] = [
    ("StreamHello", {"type": "hello", "acked_seq": -2, "state": "running", "artifacts": [], "last_frame": -1}),
    ("StreamHello", {"type": "hello", "acked_seq": 0, "state": "sleeping", "artifacts": [], "last_frame": -1}),
    ("StreamHello", {"type": "hello", "acked_seq": 0, "state": "running", "last_frame": -1}),
    ("StreamAck", {"type": "ack", "seq": -1, "accepted": True, "state": "running"}),
    ("StreamAck", {"type": "ack", "seq": 1, "accepted": "yes", "state": "running"}),
    ("StreamCancel", {"type": "cancel", "state": "succeeded"}),
    ("ArtifactAck", {"kind": "final", "size_bytes": 44}),
    ("ArtifactAck", {"kind": "segment", "index": 1.5, "size_bytes": 44}),
    ("MultipartStart", {"upload_id": "", "part_size": 8388608}),
    ("MultipartPart", {"part_number": 0, "etag": "a"}),
    ("MultipartPart", {"part_number": 10001, "etag": "a"}),
    ("MultipartComplete", {"parts": []}),
    ("MultipartComplete", {"parts": [{"part_number": 2, "etag": "a"}, {"part_number": 1, "etag": "b"}]}),
    ("MultipartComplete", {"parts": [{"part_number": 1, "etag": "a"}, {"part_number": 1, "etag": "b"}]}),
]


@pytest.mark.parametrize(("schema", "value"), VALID_V2, ids=[f"{s}-{i}" for i, (s, _) in enumerate(VALID_V2)])
def test_v2_messages_parse_and_round_trip(schema: str, value: Any) -> None:
    model = parse(schema, value)
    assert parse(schema, model.to_json()) == model
    assert model.to_json() == value


@pytest.mark.parametrize(("schema", "value"), INVALID_V2, ids=[f"{s}-{i}" for i, (s, _) in enumerate(INVALID_V2)])
def test_v2_messages_refuse_what_the_adr_forbids(schema: str, value: Any) -> None:
    with pytest.raises(ValidationError):
        parse(schema, value)
