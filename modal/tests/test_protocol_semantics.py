"""Where pydantic's defaults differ from zod's JavaScript view of JSON, the mirror follows zod."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from pydantic import ValidationError

from utter_engine.js_types import whatwg_can_parse
from utter_engine.protocol import EngineEvent, SubmitRequest, parse

JOB: dict[str, Any] = {
    "protocol": 1,
    "job_id": "job_1",
    "kind": "generate",
    "text": "Hi.",
    "language": "en",
    "voice": {"voice_id": "v1", "reference_url": "https://utter.example/r"},
    "output": {"format": "wav", "sample_rate": 24000},
    "callbacks": {"events_url": "https://utter.example/e", "upload_url": "https://utter.example/u", "token": "t" * 16},
    "deadline": "2026-11-22T10:00:00Z",
}


def job(**changes: Any) -> dict[str, Any]:
    out = copy.deepcopy(JOB)
    out.update(changes)
    return out


def rejects(schema: str, value: Any) -> bool:
    try:
        parse(schema, value)
    except ValidationError:
        return True
    return False


def test_numbers_are_not_coerced_from_strings_or_booleans() -> None:
    assert rejects("SubmitRequest", job(seed="5"))
    assert rejects("SubmitRequest", job(seed=True))
    assert rejects("EngineEvent", {"job_id": "j", "seq": False, "type": "heartbeat"})
    assert rejects("EventAck", {"accepted": 1, "state": "running"})


def test_integral_floats_are_integers_like_in_javascript() -> None:
    event = parse("EngineEvent", {"job_id": "j", "seq": 4.0, "type": "segment", "index": 2.0, "duration_ms": 10.0})
    assert (event.seq, event.index, event.duration_ms) == (4, 2, 10)
    assert isinstance(event.seq, int)


def test_non_finite_and_unsafe_numbers_are_rejected() -> None:
    for bad in (float("nan"), float("inf"), 2**53, 10**400):
        assert rejects("EngineEvent", {"job_id": "j", "seq": bad, "type": "heartbeat"})
    # Python's json reads NaN; the mirror must still refuse it.
    assert rejects(
        "EngineEvent", json.loads('{"job_id": "j", "seq": 1, "type": "progress", "progress": NaN, "stage": "x"}')
    )


def test_optional_means_absent_not_null() -> None:
    assert not rejects("SubmitRequest", job())
    for key in ("voice", "instruct", "seed"):
        assert rejects("SubmitRequest", job(**{key: None}))
    assert not rejects("SubmitRequest", job(voice={"voice_id": "v", "reference_url": "https://x.y/z"}))


def test_unknown_keys_are_accepted_and_dropped() -> None:
    request = SubmitRequest.model_validate(job(extra=1, voice={**JOB["voice"], "extra": 2}))
    wire = request.to_json()
    assert "extra" not in wire and "extra" not in wire["voice"]


def test_lengths_count_code_points() -> None:
    # 50,000: the longest plan limit (ADR 0023).
    assert not rejects("SubmitRequest", job(text="😀" * 50000))
    assert rejects("SubmitRequest", job(text="😀" * 50001))


def test_id_pattern_uses_javascript_anchors() -> None:
    assert rejects("SubmitRequest", job(job_id="job_1\n"))
    assert rejects("SubmitRequest", job(job_id="jöb"))
    assert not rejects("SubmitRequest", job(job_id="A-_z9"))


def test_error_code_pattern() -> None:
    def event(code: str) -> dict[str, Any]:
        return {"job_id": "j", "seq": 1, "type": "failed", "error": {"code": code, "message": "m", "retryable": False}}

    assert not rejects("EngineEvent", event("out_of_memory"))
    assert rejects("EngineEvent", event("Out_of_memory"))
    assert rejects("EngineEvent", event("_x"))
    assert rejects("EngineEvent", event("x" * 65))


def test_the_discriminator_must_be_a_known_string() -> None:
    for bad in (
        {"job_id": "j", "seq": 1},
        {"job_id": "j", "seq": 1, "type": 1},
        {"job_id": "j", "seq": 1, "type": ["started"]},
    ):
        assert rejects("EngineEvent", bad)
    assert EngineEvent.validate_python({"job_id": "j", "seq": 1, "type": "heartbeat"}).type == "heartbeat"


@pytest.mark.parametrize(
    ("deadline", "ok"),
    [
        ("2026-11-22T10:00:00Z", True),
        ("2026-11-22T10:00:00.123456789+05:30", True),
        ("2024-02-29T00:00:00Z", True),
        ("2026-02-29T00:00:00Z", False),
        ("2026-11-22T10:00:00", False),
        ("2026-11-22T10:00Z", False),
        ("2026-11-22T10:00:00z", False),
        ("2026-11-22T10:00:00+24:00", False),
        ("２０２６-11-22T10:00:00Z", False),
    ],
)
def test_deadline_is_an_rfc3339_instant_with_offset(deadline: str, ok: bool) -> None:
    assert rejects("SubmitRequest", job(deadline=deadline)) is not ok


# Answers recorded from zod 4.6.7 (`z.url()`, i.e. WHATWG URL.canParse) under Node 24.
ZOD_URL_ANSWERS = {
    "https://utter.example/x": True,
    "http://localhost:8787/internal/engine/jobs/j/events": True,
    "https://exa mple.com": False,
    "not a url": False,
    "http://": False,
    "https:///x": True,  # special schemes skip extra slashes
    "http:example.com": True,
    "mailto:a@b.c": True,
    "foo://exa mple": False,
    "https://x:65535/": True,
    "https://x:65536/": False,
    "https://x:abc/": False,
    "https://[::1]:80/": True,
    "https://[::1/": False,
    "https://1.2.3.256/": False,
    "https://1.2.3.4.5/": False,
    "https://999/": True,
    "https://a%20b/": False,
    "https://user:pw@host/": True,
    "https://@host/": True,
    "https://user@/": False,
    "https://ex<ample.com": False,
    "https://ünicode.example/": True,
    "  https://x.com  ": True,
    "https://x.com/ path with spaces": True,
    "javascript:alert(1)": True,
    "h ttps://x.com": False,
    "//x.com": False,
    "https://09/": False,
    "https://08.1.1.1/": False,
}


# The protocol's URLs are `z.url({ protocol: /^https?$/ })`: parseable *and* written http(s)://.
# Answers recorded from zod 4.6.7 under Node 24 for the same inputs.
ZOD_HTTP_URL_REFUSED = {"http:example.com", "mailto:a@b.c", "javascript:alert(1)"}


@pytest.mark.parametrize(("url", "ok"), sorted(ZOD_URL_ANSWERS.items()))
def test_url_acceptance_matches_zod(url: str, ok: bool) -> None:
    assert whatwg_can_parse(url.strip()) is ok
    accepted = ok and url not in ZOD_HTTP_URL_REFUSED
    assert rejects("SubmitRequest", job(voice={"voice_id": "v", "reference_url": url})) is not accepted


@pytest.mark.parametrize("url", ["HTTPS://X.COM/", "ftp://x.com/", "ws://x.com/"])
def test_only_http_urls_are_accepted(url: str) -> None:
    assert rejects("SubmitRequest", job(voice={"voice_id": "v", "reference_url": url})) is url.startswith(("ftp", "ws"))


def test_urls_are_trimmed_like_zod() -> None:
    request = SubmitRequest.model_validate(job(voice={"voice_id": "v", "reference_url": "  https://x.com/a\n"}))
    assert request.voice is not None and request.voice.reference_url == "https://x.com/a"


def test_refinements_name_the_missing_field() -> None:
    with pytest.raises(ValidationError, match="generate jobs need a voice"):
        SubmitRequest.model_validate({k: v for k, v in JOB.items() if k != "voice"})
    with pytest.raises(ValidationError, match="need an instruct"):
        SubmitRequest.model_validate(job(kind="design_preview"))
