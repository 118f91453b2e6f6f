"""The job runner against the fake model and a fake Worker over real HTTP."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError
from engine_fakes.fake_model import FakeSpeechModel, FakeTranscriber
from engine_fakes.fake_worker import FakeWorker
from engine_fakes.manual_clock import ManualClock
from engine_fakes.jobs import FAST_RETRY, FIXED_NOW, make_job, make_runner, reference_wav, serve_reference
from engine_fakes.synthetic_audio import silence

from utter_engine.cancel_flags import CancelFlags, MemoryFlagStore
from utter_engine.prompt_cache import PromptCache
from utter_engine.protocol import EngineEvent
from utter_engine.runner import report_unavailable
from utter_engine.segmentation import split_text
from utter_engine.wav import decode_wav, encode_wav

# Eleven sentences of ~170 characters: two never fit one 300-unit segment, so eleven segments.
ELEVEN_SENTENCES = " ".join(
    f"Sentence number {i} is here, and it has a reasonable length for speech, long enough that "
    "two of them never share one segment, which keeps the batching easy to follow."
    for i in range(11)
)


def assert_protocol_order(worker: FakeWorker) -> None:
    """The rules of docs/engine-protocol.md, checked on what the fake Worker received."""
    events = worker.events()
    assert not worker.invalid_events
    assert [e["seq"] for e in events] == list(range(len(events)))
    assert events[0]["type"] == "started"
    finals = [i for i, e in enumerate(events) if e["type"] in ("completed", "failed")]
    assert len(finals) <= 1 and (not finals or finals[0] == len(events) - 1)
    uploaded: list[str] = []
    for step in worker.steps:
        if step["op"] == "upload":
            uploaded.append(step["path"])
        elif step["value"]["type"] == "segment":
            assert uploaded[-1] == f"segments/{step['value']['index']}"
        elif step["value"]["type"] == "completed":
            assert uploaded[-1] == "final"
    indexes = [e["index"] for e in events if e["type"] == "segment"]
    assert indexes == list(range(len(indexes)))
    for e in events:
        EngineEvent.validate_python(e)


def final_event(worker: FakeWorker) -> dict[str, Any]:
    return worker.events()[-1]


# --- the happy path ------------------------------------------------------------------


def test_generate_job_uploads_each_segment_then_the_stitched_file(worker: FakeWorker) -> None:
    serve_reference(worker)
    job = make_job(worker, text=ELEVEN_SENTENCES, reference_text="what the reference says")
    outcome = make_runner().run(job)

    assert outcome.status == "completed"
    assert_protocol_order(worker)
    n = len(split_text(ELEVEN_SENTENCES))
    assert worker.events()[0] == {"job_id": "job_test_1", "seq": 0, "type": "started", "segments_total": n}
    assert [s.get("path") for s in worker.steps if s["op"] == "upload"] == [f"segments/{i}" for i in range(n)] + [
        "final"
    ]

    segments = [e for e in worker.events() if e["type"] == "segment"]
    for e in segments:
        audio, rate = decode_wav(worker.uploads[f"segments/{e['index']}"])
        assert rate == 24000
        assert abs(len(audio) / rate * 1000 - e["duration_ms"]) <= 1
    done = final_event(worker)
    assert done["type"] == "completed" and done["sample_rate"] == 24000
    assert done["size_bytes"] == len(worker.uploads["final"])
    expected = sum(e["duration_ms"] for e in segments) - 15 * (n - 1)
    assert abs(done["duration_ms"] - expected) <= max(50, 0.01 * expected)
    progress = [e["progress"] for e in worker.events() if e["type"] == "progress"]
    assert progress == sorted(progress) and progress[-1] == 0.95


def test_output_sample_rate_is_honoured(worker: FakeWorker) -> None:
    serve_reference(worker)
    make_runner().run(make_job(worker, text="Just one sentence.", sample_rate=16000))
    assert decode_wav(worker.uploads["final"])[1] == 16000
    assert final_event(worker)["sample_rate"] == 16000


def test_first_segment_is_generated_alone_then_batches(worker: FakeWorker) -> None:
    serve_reference(worker)
    model = FakeSpeechModel()
    make_runner(model, max_batch_size=4).run(make_job(worker, text=ELEVEN_SENTENCES))
    sizes = [len(c.texts) for c in model.calls]
    assert sizes[0] == 1 and max(sizes[1:]) == 4
    assert [t for c in model.calls for t in c.texts] == split_text(ELEVEN_SENTENCES)


def test_the_jobs_seed_reaches_every_model_call_derived_per_segment(worker: FakeWorker) -> None:
    """Takes (ADR 0022): a seeded job seeds each call from its seed and first segment, so a take can be made again."""
    seeds: list[list[int | None]] = []
    for n, seed in enumerate((1234, 1234, 99, None)):
        serve_reference(worker, f"job_take_{n}")
        model = FakeSpeechModel()
        make_runner(model, max_batch_size=4).run(make_job(worker, job_id=f"job_take_{n}", text=ELEVEN_SENTENCES, seed=seed))
        seeds.append([c.seed for c in model.calls])
    first = seeds[0]
    assert first[0] == 1234, "the first segment is generated with the job's own seed"
    assert len(set(first)) == len(first), "every call gets its own seed"
    assert all(s is not None and 0 <= s < 2**31 for s in first)
    assert seeds[1] == first, "the same seed again: the same calls, seeded the same"
    assert seeds[2][0] == 99 and seeds[2] != first
    assert seeds[3] == [None] * len(seeds[3]), "no seed: sampling stays random"


def test_max_new_tokens_is_bounded_by_the_text(worker: FakeWorker) -> None:
    serve_reference(worker)
    model = FakeSpeechModel()
    long_sentence = (
        "A considerably longer sentence that needs much more time to say out loud, "
        "because it keeps going well past the length of a short greeting. "
    )
    make_runner(model, max_batch_size=1).run(make_job(worker, text="Hi. " + long_sentence * 2))
    short, long = model.calls[0], model.calls[1]
    assert short.texts == ["Hi."] and short.max_new_tokens < 60
    assert long.max_new_tokens > 3 * short.max_new_tokens
    assert all(c.max_new_tokens <= model.max_new_tokens_cap for c in model.calls)


def test_design_preview_uses_the_description_and_needs_no_reference(worker: FakeWorker) -> None:
    model = FakeSpeechModel()
    outcome = make_runner(model).run(
        make_job(worker, kind="design_preview", text="Hello, this is me.", instruct="Deep and calm.")
    )
    assert outcome.status == "completed"
    assert [c.kind for c in model.calls] == ["design"] and model.calls[0].instruct == "Deep and calm."
    assert not any(path.endswith("/reference") for _, path, _ in worker.requests)
    assert [e.get("stage") for e in worker.events() if e["type"] == "progress"] == [
        "generating",
        "generating",
        "stitching",
    ]


def test_blank_text_is_refused_by_the_protocol(worker: FakeWorker) -> None:
    # Blank text never reaches the runner: SubmitRequest refuses it, as the zod schema does.
    with pytest.raises(ValidationError, match="must not be blank"):
        make_runner().run(make_job(worker, kind="design_preview", text="   "))
    assert worker.event_types() == []


# --- heartbeats ------------------------------------------------------------------------


def test_heartbeats_fill_silences_and_keep_seq_ordered(worker: FakeWorker) -> None:
    serve_reference(worker)
    clock = ManualClock()
    model = FakeSpeechModel()
    # Each GPU call "takes" 0.875 s of the manual clock, moved 0.125 s at a time (exact binary fractions):
    # three heartbeats fit in each, at 0.25, 0.5 and 0.75 s of silence; none between calls, when the runner speaks.
    model.on_call = lambda n: clock.advance(0.875, step=0.125)
    outcome = make_runner(model, heartbeat_seconds=0.25, clock=clock).run(make_job(worker, text=ELEVEN_SENTENCES))
    assert outcome.status == "completed"
    assert_protocol_order(worker)
    types = worker.event_types()
    assert types.count("heartbeat") == 3 * len(model.calls)
    runs = "".join("h" if t == "heartbeat" else " " for t in types).split()
    assert runs == ["hhh"] * len(model.calls), "three in a row during each call, none elsewhere"
    assert types[-1] == "completed", "no heartbeat after the final event"


# --- cancellation ---------------------------------------------------------------------


def test_cancel_flag_stops_between_segments_and_sends_nothing_more(worker: FakeWorker) -> None:
    serve_reference(worker)
    flags = CancelFlags(MemoryFlagStore(), min_check_interval_s=0.0)
    model = FakeSpeechModel()
    model.on_call = lambda n: flags.set("fc-123") if n == 2 else None  # the user cancels during the 2nd batch
    outcome = make_runner(model, max_batch_size=2).run(
        make_job(worker, text=ELEVEN_SENTENCES), is_cancelled=flags.checker("fc-123", "job_test_1")
    )

    assert outcome.status == "stopped" and outcome.detail == "cancelled"
    assert len(model.calls) == 2, "no generation after the flag was seen"
    assert_protocol_order(worker)
    assert worker.event_types()[-1] in ("segment", "progress")
    assert "completed" not in worker.event_types() and "failed" not in worker.event_types()
    assert list(worker.uploads) == ["segments/0"]


def test_a_cancelled_job_stops_heartbeating_even_during_a_long_gpu_call(worker: FakeWorker) -> None:
    serve_reference(worker)
    flags = CancelFlags(MemoryFlagStore(), min_check_interval_s=0.0)
    model = FakeSpeechModel(delay_s=0.8)
    steps_when_cancelled: list[int] = []

    def cancel_during_second_call(n: int) -> None:
        if n == 2:
            steps_when_cancelled.append(len(worker.steps))
            flags.set("fc-1")

    model.on_call = cancel_during_second_call
    runner = make_runner(model, heartbeat_seconds=0.05, max_batch_size=1)
    outcome = runner.run(make_job(worker, text=ELEVEN_SENTENCES), is_cancelled=flags.checker("fc-1"))
    assert outcome.status == "stopped"
    after = worker.steps[steps_when_cancelled[0] :]
    assert sum(1 for s in after if s["op"] == "event" and s["value"]["type"] == "heartbeat") <= 1, "at most one in flight"
    assert len(model.calls) == 2


def test_a_flaky_flag_store_does_not_fail_the_job(worker: FakeWorker) -> None:
    class Broken(MemoryFlagStore):
        def get(self, key: Any, default: Any = None) -> Any:
            raise ConnectionError("dict service unavailable")

    serve_reference(worker)
    checker = CancelFlags(Broken(), min_check_interval_s=0.0).checker("fc-1")
    assert make_runner().run(make_job(worker), is_cancelled=checker).status == "completed"


def test_cancel_flag_keyed_by_job_id_works_too(worker: FakeWorker) -> None:
    serve_reference(worker)
    flags = CancelFlags(MemoryFlagStore(), min_check_interval_s=0.0)
    flags.set("job_test_1")
    outcome = make_runner().run(make_job(worker), is_cancelled=flags.checker("fc-999", "job_test_1"))
    assert outcome.status == "stopped"
    assert worker.event_types() == ["started"]


def test_event_ack_with_terminal_state_stops_the_job(worker: FakeWorker) -> None:
    serve_reference(worker)
    worker.state_for = lambda e: "cancelled" if e["type"] == "segment" and e["index"] == 0 else None
    model = FakeSpeechModel()
    outcome = make_runner(model, max_batch_size=2).run(make_job(worker, text=ELEVEN_SENTENCES))
    assert outcome.status == "stopped" and "cancelled" in outcome.detail
    assert worker.events()[-1]["type"] == "segment", "nothing is sent after the Worker said cancelled"
    assert len(model.calls) == 1
    assert not any(m == "POST" and s != 200 for m, _, s in worker.requests)


def test_deadline_passed_stops_quietly(worker: FakeWorker) -> None:
    serve_reference(worker)
    late = FIXED_NOW + timedelta(hours=2)
    outcome = make_runner(now=late).run(make_job(worker))
    assert outcome.status == "stopped" and "deadline" in outcome.detail
    assert worker.event_types() == ["started"]


# --- failures -------------------------------------------------------------------------


@pytest.mark.parametrize(("status", "retryable"), [(403, False), (404, False), (500, True)])
def test_reference_download_errors_fail_with_reference_unavailable(
    worker: FakeWorker, status: int, retryable: bool
) -> None:
    serve_reference(worker, status=status)
    outcome = make_runner().run(make_job(worker))
    assert outcome.error_code == "reference_unavailable"
    assert worker.event_types() == ["started", "progress", "failed"]
    error = final_event(worker)["error"]
    assert error["code"] == "reference_unavailable" and error["retryable"] is retryable
    assert str(status) in error["message"]


def test_transient_reference_failure_is_retried(worker: FakeWorker) -> None:
    serve_reference(worker)
    real = worker.references["job_test_1"]
    attempts = {"n": 0}

    class Flaky(dict):  # the first GET answers 503, the next one succeeds
        def get(self, key: str, default: Any = None) -> Any:
            attempts["n"] += 1
            return (503, b"", "application/json") if attempts["n"] == 1 else real

    worker.references = Flaky()
    assert make_runner().run(make_job(worker)).status == "completed"
    assert attempts["n"] == 2


def test_silent_reference_fails_as_unusable(worker: FakeWorker) -> None:
    serve_reference(worker, data=encode_wav(silence(20.0, noise_dbfs=None), 24000))
    outcome = make_runner().run(make_job(worker))
    assert outcome.error_code == "reference_unusable"
    assert final_event(worker)["error"]["retryable"] is False


def test_undecodable_reference_fails_as_unusable(worker: FakeWorker) -> None:
    serve_reference(worker, data=b"this is not audio in any format" * 100)
    assert make_runner().run(make_job(worker)).error_code == "reference_unusable"


def test_model_exception_fails_the_job_after_delivered_segments(worker: FakeWorker) -> None:
    serve_reference(worker)
    outcome = make_runner(FakeSpeechModel(crash_on_call=2)).run(make_job(worker, text=ELEVEN_SENTENCES))
    assert outcome.error_code == "generation_failed"
    assert_protocol_order(worker)
    error = final_event(worker)["error"]
    assert error == {"code": "generation_failed", "message": error["message"], "retryable": True}
    assert "RuntimeError" in error["message"]
    assert list(worker.uploads) == ["segments/0"], "what was delivered stays delivered"


def test_runaway_segment_is_regenerated_once(worker: FakeWorker) -> None:
    serve_reference(worker)
    model = FakeSpeechModel(runaway_markers=("number 3",), runaway_times=1)
    outcome = make_runner(model, max_batch_size=4).run(make_job(worker, text=ELEVEN_SENTENCES, seed=5))
    assert outcome.status == "completed"
    retries = [c for c in model.calls if len(c.texts) == 1 and "number 3" in c.texts[0]]
    assert len(retries) == 1
    first_try = next(c for c in model.calls if any("number 3" in t for t in c.texts))
    assert retries[0].seed != first_try.seed, "the retry samples differently"
    assert_protocol_order(worker)


def test_runaway_twice_fails_clearly(worker: FakeWorker) -> None:
    serve_reference(worker)
    model = FakeSpeechModel(runaway_markers=("number 3",), runaway_times=2)
    outcome = make_runner(model).run(make_job(worker, text=ELEVEN_SENTENCES))
    assert outcome.error_code == "runaway_generation"
    error = final_event(worker)["error"]
    assert error["retryable"] is True and "Segment" in error["message"] and "twice" in error["message"]
    assert_protocol_order(worker)


def test_out_of_memory_retries_with_smaller_batches(worker: FakeWorker) -> None:
    serve_reference(worker)
    model = FakeSpeechModel(oom_above_batch=1)
    runner = make_runner(model, max_batch_size=4)
    outcome = runner.run(make_job(worker, text=ELEVEN_SENTENCES))
    assert outcome.status == "completed"
    sizes = [len(c.texts) for c in model.calls]
    assert sizes[:4] == [1, 4, 2, 1], "first alone, then 4 -> OOM, 2 -> OOM, then 1"
    assert all(s == 1 for s in sizes[3:]), "the smaller size sticks for the rest of the job"
    good = [t for c in model.calls if len(c.texts) == 1 for t in c.texts]
    assert good == split_text(ELEVEN_SENTENCES), "every segment generated exactly once, in order"
    assert_protocol_order(worker)


def test_out_of_memory_at_batch_size_one_fails(worker: FakeWorker) -> None:
    serve_reference(worker)
    outcome = make_runner(FakeSpeechModel(oom_above_batch=0)).run(make_job(worker))
    assert outcome.error_code == "out_of_memory"
    assert final_event(worker)["error"]["retryable"] is True


# --- HTTP trouble ----------------------------------------------------------------------


def test_transient_event_failures_are_retried_with_the_same_seq(worker: FakeWorker) -> None:
    serve_reference(worker)
    worker.fail_events = 2
    assert make_runner().run(make_job(worker)).status == "completed"
    assert_protocol_order(worker)
    assert sum(1 for m, p, s in worker.requests if p.endswith("/events") and s == 503) == 2


def test_transient_upload_failures_are_retried(worker: FakeWorker) -> None:
    serve_reference(worker)
    worker.fail_uploads = {"segments/0": [503, 502], "final": [500]}
    assert make_runner().run(make_job(worker)).status == "completed"
    assert_protocol_order(worker)


def test_upload_that_keeps_failing_fails_the_job(worker: FakeWorker) -> None:
    serve_reference(worker)
    worker.fail_uploads = {"segments/1": [503] * 10}
    outcome = make_runner().run(make_job(worker))
    assert outcome.error_code == "upload_failed"
    assert final_event(worker)["error"]["retryable"] is True
    assert_protocol_order(worker)


def test_upload_refused_because_job_is_terminal_stops_quietly(worker: FakeWorker) -> None:
    serve_reference(worker)
    worker.fail_uploads = {"final": [409]}
    outcome = make_runner().run(make_job(worker))
    assert outcome.status == "stopped"
    assert "failed" not in worker.event_types() and "completed" not in worker.event_types()


def test_wrong_job_token_means_nothing_is_accepted(worker: FakeWorker) -> None:
    serve_reference(worker)
    outcome = make_runner().run(make_job(worker, token="someone-elses-token-0000"))
    assert outcome.status == "stopped"
    assert worker.steps == []
    assert {s for _, _, s in worker.requests} == {401}


def test_unreachable_worker_stops_the_job() -> None:
    with FakeWorker(token="job-token-0123456789abcdef") as gone:
        job = make_job(gone)
    # The server is closed now: every call fails to connect.
    outcome = make_runner().run(job)
    assert outcome.status == "stopped" and "unreachable" in outcome.detail


def test_every_request_carries_the_job_token(worker: FakeWorker) -> None:
    serve_reference(worker)
    make_runner().run(make_job(worker))
    assert worker.requests and all(status != 401 for _, _, status in worker.requests)


# --- voice prompts -----------------------------------------------------------------------


def test_voice_prompt_is_cached_across_jobs_by_reference_content(worker: FakeWorker) -> None:
    model = FakeSpeechModel()
    cache = PromptCache()
    runner = make_runner(model, cache=cache)
    for job_id in ("job_a", "job_b"):
        serve_reference(worker, job_id)
        assert runner.run(make_job(worker, job_id=job_id, text="Hello there.")).status == "completed"
    assert len(model.prompts) == 1 and cache.hits == 1
    assert model.calls[0].prompt is model.calls[1].prompt

    serve_reference(worker, "job_c", data=reference_wav(seed=99))
    runner.run(make_job(worker, job_id="job_c", text="Hello there."))
    assert len(model.prompts) == 2, "different reference bytes, different prompt"
    serve_reference(worker, "job_d")
    runner.run(make_job(worker, job_id="job_d", text="Hello there.", reference_text="now with a transcript"))
    assert len(model.prompts) == 3, "a new transcript means a new prompt"


def test_a_clip_named_by_the_worker_is_not_downloaded_again(worker: FakeWorker) -> None:
    # ADR 0024: the same reference_id and transcript → the prompt this container made, no download.
    model = FakeSpeechModel()
    cache = PromptCache()
    runner = make_runner(model, cache=cache)
    rid = f"voice_named.{id(cache)}"  # the name map lives as long as the container: unique per test

    def downloads() -> int:
        return sum(1 for method, path, _ in worker.requests if method == "GET" and path.endswith("/reference"))

    for job_id, text in (("job_n1", None), ("job_n2", None), ("job_n3", "a transcript it had not seen")):
        serve_reference(worker, job_id)
        job = make_job(worker, job_id=job_id, text="Hello there.", reference_id=rid, reference_text=text)
        assert runner.run(job).status == "completed"
    assert downloads() == 2, "the second job needed no download; a new transcript did"
    assert len(model.prompts) == 2 and model.calls[0].prompt is model.calls[1].prompt

    fresh = make_runner(model, cache=PromptCache())  # a prompt cache that no longer holds it
    serve_reference(worker, "job_n4")
    assert fresh.run(make_job(worker, job_id="job_n4", text="Hello there.", reference_id=rid)).status == "completed"
    assert downloads() == 3, "once its prompt has left the cache, the clip is downloaded again"


def test_short_reference_uses_the_given_transcript(worker: FakeWorker) -> None:
    serve_reference(worker)
    model, asr = FakeSpeechModel(), FakeTranscriber()
    make_runner(model, transcriber=asr).run(make_job(worker, text="Hello.", reference_text="  the exact words  "))
    assert model.prompts[0].transcript == "the exact words"
    assert asr.calls == []


def test_long_reference_is_windowed_and_the_window_transcribed(worker: FakeWorker) -> None:
    serve_reference(worker, data=reference_wav(seconds=90.0))
    model, asr = FakeSpeechModel(), FakeTranscriber("what the window says")
    make_runner(model, transcriber=asr).run(
        make_job(worker, text="Hello.", reference_text="the transcript of all 90 seconds")
    )
    assert model.prompts[0].transcript == "what the window says"
    assert len(asr.calls) == 1 and 10 <= asr.calls[0][0] <= 20.5 and asr.calls[0][1] == "en"
    assert 10 <= model.prompts[0].seconds <= 20.5


@pytest.mark.parametrize("asr", [None, FakeTranscriber(fail=True)], ids=["no-asr", "asr-fails"])
def test_without_a_matching_transcript_cloning_falls_back_to_the_speaker_embedding(
    worker: FakeWorker, asr: Any
) -> None:
    serve_reference(worker, data=reference_wav(seconds=60.0))
    model = FakeSpeechModel()
    assert make_runner(model, transcriber=asr).run(make_job(worker, text="Hello.")).status == "completed"
    assert model.prompts[0].transcript is None


# --- repeatability ----------------------------------------------------------------------


def test_seed_makes_output_repeatable() -> None:
    finals = []
    seeds = []
    for _ in range(2):
        with FakeWorker(token="job-token-0123456789abcdef") as w:
            serve_reference(w)
            model = FakeSpeechModel()
            make_runner(model).run(make_job(w, seed=1234))
            finals.append(w.uploads["final"])
            seeds.append([c.seed for c in model.calls])
    assert finals[0] == finals[1]
    assert seeds[0] == seeds[1] and all(s is not None for s in seeds[0])


def test_without_seed_the_model_is_not_seeded(worker: FakeWorker) -> None:
    serve_reference(worker)
    model = FakeSpeechModel()
    make_runner(model).run(make_job(worker))
    assert all(c.seed is None for c in model.calls)


# --- an engine that cannot run at all ---------------------------------------------------------


def test_report_unavailable_fails_the_job_at_once(worker: FakeWorker) -> None:
    outcome = report_unavailable(make_job(worker), "weights are missing", retry=FAST_RETRY)
    assert outcome.error_code == "engine_unavailable"
    assert worker.event_types() == ["started", "failed"]
    assert final_event(worker)["error"] == {
        "code": "engine_unavailable",
        "message": "weights are missing",
        "retryable": True,
    }


def test_concurrent_jobs_keep_their_own_sequences() -> None:
    with FakeWorker(token="job-token-0123456789abcdef") as w:
        runner = make_runner(FakeSpeechModel(delay_s=0.05), heartbeat_seconds=0.05)
        threads = []
        for job_id in ("job_x", "job_y"):
            serve_reference(w, job_id)
            t = threading.Thread(target=runner.run, args=(make_job(w, job_id=job_id, text=ELEVEN_SENTENCES),))
            threads.append(t)
            t.start()
        for t in threads:
            t.join(timeout=30)
        for job_id in ("job_x", "job_y"):
            seqs = [s["value"]["seq"] for s in w.steps if s["op"] == "event" and s["value"]["job_id"] == job_id]
            assert seqs == list(range(len(seqs))) and len(seqs) > 5
        assert np.all([j.state == "succeeded" for j in w.jobs.values()])
