"""Small pieces: configuration, HTTP retries, cancel flags, the length guard, the event channel."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from utter_engine.cancel_flags import CancelFlags, MemoryFlagStore
from utter_engine.config import EngineConfig
from utter_engine.errors import JobStopped
from utter_engine.events import EventChannel
from utter_engine.length_guard import LengthBudget
from utter_engine.prompt_cache import PromptCache, prompt_key
from utter_engine.runner import parse_deadline
from utter_engine.worker_client import ReferenceTooLarge, RetryPolicy, WorkerClient, WorkerRejected, WorkerUnreachable

# --- configuration -------------------------------------------------------------------------


def test_config_reads_typed_values_from_the_environment() -> None:
    config = EngineConfig.from_env(
        {
            "UTTER_GPU": "A10G",
            "UTTER_SCALEDOWN_SECONDS": "90",
            "UTTER_GPU_SNAPSHOT": "yes",
            "UTTER_HEARTBEAT_SECONDS": "2.5",
            "UTTER_GPU_UNRELATED": "x",
        }
    )
    assert (config.gpu, config.scaledown_seconds, config.gpu_snapshot, config.heartbeat_seconds) == (
        "A10G",
        90,
        True,
        2.5,
    )
    assert EngineConfig.from_env(config.to_env()) == config, "containers rebuild the same config"
    assert EngineConfig.from_env({}) == EngineConfig()


def test_config_fails_loudly_on_a_bad_number() -> None:
    with pytest.raises(ValueError, match="UTTER_SCALEDOWN_SECONDS"):
        EngineConfig.from_env({"UTTER_SCALEDOWN_SECONDS": "five minutes"})


def test_download_list_always_includes_the_models_in_use() -> None:
    config = EngineConfig(download_models="", clone_model="org/custom-base")
    assert config.download_list() == ["org/custom-base", config.design_model, config.asr_model]
    default = EngineConfig().download_list()
    assert "Qwen/Qwen3-TTS-12Hz-0.6B-Base" in default and "Qwen/Qwen3-TTS-12Hz-1.7B-Base" in default


# --- HTTP client ----------------------------------------------------------------------------


def client_for(handler: Any, delays: tuple[float, ...] = (0.5, 1.0)) -> tuple[WorkerClient, list[float]]:
    slept: list[float] = []
    client = WorkerClient(
        "tok", retry=RetryPolicy(delays_s=delays), transport=httpx.MockTransport(handler), sleep=slept.append
    )
    return client, slept


def test_client_retries_transient_statuses_with_backoff_and_retry_after() -> None:
    answers = iter(
        [
            httpx.Response(503),
            httpx.Response(429, headers={"Retry-After": "3"}),
            httpx.Response(200, json={"accepted": True, "state": "running"}),
        ]
    )
    client, slept = client_for(lambda request: next(answers))
    ack = client.post_event("https://w/e", {"x": 1})
    assert ack is not None and ack.state == "running"
    assert slept == [0.5, 3.0]


def test_client_gives_up_after_its_attempts() -> None:
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        raise httpx.ConnectError("refused", request=request)

    client, slept = client_for(handler)
    with pytest.raises(WorkerUnreachable, match="ConnectError"):
        client.put_upload("https://w/u/final", b"RIFF")
    assert len(calls) == 3 and slept == [0.5, 1.0]


def test_client_does_not_retry_a_refusal_and_sends_the_bearer() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(403, json={"error": {"code": "forbidden", "message": "other job"}})

    client, slept = client_for(handler)
    with pytest.raises(WorkerRejected) as caught:
        client.post_event("https://w/e", {})
    assert caught.value.status == 403 and len(seen) == 1 and slept == []
    assert seen[0].headers["Authorization"] == "Bearer tok"


def test_upload_sends_wav_content_type_and_tolerates_an_unparsable_ack() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, text="created")

    client, _ = client_for(handler)
    assert client.put_upload("https://w/u/segments/0", b"RIFFdata") is None
    assert seen[0].method == "PUT" and seen[0].headers["Content-Type"] == "audio/wav" and seen[0].content == b"RIFFdata"


def test_reference_download_enforces_the_size_limit() -> None:
    client, _ = client_for(lambda r: httpx.Response(200, content=b"x" * 2000, headers={"Content-Type": "audio/mpeg"}))
    assert client.get_reference("https://w/r", max_bytes=5000) == (b"x" * 2000, "audio/mpeg")
    with pytest.raises(ReferenceTooLarge):
        client.get_reference("https://w/r", max_bytes=1000)


# --- cancel flags ---------------------------------------------------------------------------


class CountingStore(MemoryFlagStore):
    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def get(self, key: Any, default: Any = None) -> Any:
        self.reads += 1
        return super().get(key, default)


def test_cancel_flags_are_looked_up_at_most_once_per_interval() -> None:
    now = [0.0]
    store = CountingStore()
    flags = CancelFlags(store, min_check_interval_s=1.0, clock=lambda: now[0])
    is_cancelled = flags.checker("fc-1", "job-1")
    assert not is_cancelled() and store.reads == 2
    flags.set("fc-1")
    assert not is_cancelled(), "within the interval: no remote look-up"
    now[0] = 1.5
    assert is_cancelled() and is_cancelled()
    reads = store.reads
    now[0] = 10.0
    assert is_cancelled() and store.reads == reads, "once seen, remembered"


# --- length guard ---------------------------------------------------------------------------


def test_token_budget_grows_with_the_text_and_respects_the_cap() -> None:
    budget = LengthBudget()
    short, long = budget.max_new_tokens("Hi.", 12.5, 4096), budget.max_new_tokens("x " * 150, 12.5, 4096)
    assert 8 <= short < 60 < long <= 4096
    assert budget.max_new_tokens("x" * 100000, 12.5, 4096) == 4096
    assert budget.max_new_tokens("我" * 100, 12.5, 4096) > budget.max_new_tokens("x" * 100, 12.5, 4096), (
        "CJK takes longer to say"
    )


def test_verdicts() -> None:
    budget = LengthBudget()
    text = "A normal sentence of some length."
    tokens = budget.max_new_tokens(text, 12.5, 4096)
    assert budget.verdict(text, 24000 * 3, 24000, max_new_tokens=tokens, frame_rate=12.5) is None
    assert budget.verdict(text, 0, 24000, max_new_tokens=tokens, frame_rate=12.5)[0] == "generation_failed"  # type: ignore[index]
    hit_limit = int(tokens / 12.5 * 24000)
    assert budget.verdict(text, hit_limit, 24000, max_new_tokens=tokens, frame_rate=12.5)[0] == "runaway_generation"  # type: ignore[index]
    # In a batch the budget is the longest text's; a short text can still be judged too long.
    too_long = int((budget.allowed_seconds(text) + 1) * 24000)
    assert budget.verdict(text, too_long, 24000, max_new_tokens=10_000, frame_rate=12.5)[0] == "runaway_generation"  # type: ignore[index]


# --- event channel --------------------------------------------------------------------------


def test_event_channel_numbers_events_and_halts_on_terminal_ack() -> None:
    sent: list[dict[str, Any]] = []
    state = {"value": "running"}

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(json.loads(request.content))
        return httpx.Response(200, json={"accepted": True, "state": state["value"]})

    client, _ = client_for(handler)
    channel = EventChannel(client, "job_1", "https://w/e")
    channel.send("started", segments_total=2)
    channel.send("progress", progress=0.5, stage="generating")
    state["value"] = "cancelled"
    channel.send("heartbeat")
    with pytest.raises(JobStopped, match="cancelled"):
        channel.send("progress", progress=0.6, stage="generating")
    assert [e["seq"] for e in sent] == [0, 1, 2]


def test_event_channel_refuses_to_send_an_invalid_event() -> None:
    client, _ = client_for(lambda r: httpx.Response(200, json={"accepted": True, "state": "running"}))
    channel = EventChannel(client, "job_1", "https://w/e")
    with pytest.raises(ValidationError):
        channel.send("progress", progress=2.0, stage="generating")
    assert channel.sent_count == 0


def test_nothing_follows_the_final_event() -> None:
    client, _ = client_for(lambda r: httpx.Response(200, json={"accepted": True, "state": "succeeded"}))
    channel = EventChannel(client, "job_1", "https://w/e")
    channel.send("completed", duration_ms=1, sample_rate=24000, size_bytes=46)
    with pytest.raises(JobStopped):
        channel.heartbeat_if_idle(0.0)


# --- misc -------------------------------------------------------------------------------


def test_prompt_cache_is_an_lru_keyed_by_content() -> None:
    cache = PromptCache(capacity=2)
    a, b, c = (prompt_key(x, None) for x in (b"a", b"b", b"c"))
    assert prompt_key(b"a", None) == a and prompt_key(b"a", "text") != a
    cache.put(a, 1)
    cache.put(b, 2)
    assert cache.get(a) == 1
    cache.put(c, 3)
    assert cache.get(b) is None and cache.get(a) == 1 and len(cache) == 2


def test_deadlines_parse_with_any_fraction_and_offset() -> None:
    assert parse_deadline("2026-11-22T10:00:00Z").isoformat() == "2026-11-22T10:00:00+00:00"
    assert parse_deadline("2026-11-22T15:30:00.123456789+05:30").isoformat() == "2026-11-22T15:30:00.123456+05:30"
    assert parse_deadline("2026-11-22T10:00:00.5-08:00").microsecond == 500000
