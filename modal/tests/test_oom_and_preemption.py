"""Out-of-memory retries free the failed batch first; preemption is noticed on any thread."""

from __future__ import annotations

import threading

import pytest
from engine_fakes.fake_model import FakeSpeechModel
from engine_fakes.fake_worker import FakeWorker
from engine_fakes.jobs import make_job, make_runner, serve_reference

from utter_engine.dedupe import MemoryClaimStore, SubmitDeduper, SubmitInFlight

ELEVEN = " ".join(
    f"Sentence number {i} is here, and it has a reasonable length for speech, long enough that "
    "two of them never share one segment, which keeps the batching easy to follow."
    for i in range(11)
)


def test_the_failed_batch_is_freed_before_the_smaller_retry(worker: FakeWorker) -> None:
    serve_reference(worker)
    model = FakeSpeechModel(oom_above_batch=1)
    outcome = make_runner(model, max_batch_size=4).run(make_job(worker, text=ELEVEN, reference_text="w"))
    assert outcome.status == "completed", outcome
    failed = [n for n, c in enumerate(model.calls) if len(c.texts) > 1]
    assert failed, "some batches ran out of memory"
    for n in failed:
        retry = model.alive_at_call[n + 1]
        assert retry and not any(retry), "every earlier out-of-memory batch is garbage by the next call"
    assert model.released >= len(failed), "the model's cache is emptied after each out-of-memory batch"


def test_a_preemption_seen_by_another_thread_interrupts_the_job(worker: FakeWorker) -> None:
    serve_reference(worker)
    flag = threading.Event()
    model = FakeSpeechModel(on_call=lambda n: flag.set() if n == 2 else None)
    with pytest.raises(KeyboardInterrupt):
        make_runner(model).run(make_job(worker, text=ELEVEN, reference_text="w"), is_preempted=flag.is_set)
    assert worker.event_types()[-1] == "failed", "a v1 job cannot resume: the Worker hears it at once"
    assert len(model.calls) == 2


def test_racing_submits_start_one_job() -> None:
    store = MemoryClaimStore()
    started = threading.Event()
    release = threading.Event()
    spawned: list[int] = []

    def slow_spawn() -> str:
        spawned.append(1)
        started.set()
        release.wait(5)
        return "fc-1"

    first = SubmitDeduper(store)
    results: list[tuple[str, bool]] = []
    t = threading.Thread(target=lambda: results.append(first.submit("job_1", slow_spawn)))
    t.start()
    started.wait(5)
    ticks = iter(range(1000))
    waits: list[float] = []

    def sleep(s: float) -> None:
        waits.append(s)
        release.set()
        t.join(5)

    second = SubmitDeduper(store, sleep=sleep, clock=lambda: float(next(ticks)))
    assert second.submit("job_1", lambda: "fc-2") == ("fc-1", False)
    assert results == [("fc-1", True)] and spawned == [1]
    assert waits, "the second submit waited for the first one's call id"


def test_a_submit_stuck_behind_another_says_so_and_a_failed_spawn_frees_the_key() -> None:
    store = MemoryClaimStore()
    store.put("submit:job_2", "pending:someone", skip_if_exists=True)
    ticks = iter(range(0, 1000, 10))
    stuck = SubmitDeduper(store, wait_s=5, sleep=lambda s: None, clock=lambda: float(next(ticks)))
    with pytest.raises(SubmitInFlight):
        stuck.submit("job_2", lambda: "never")
    store.pop("submit:job_2")

    def boom() -> str:
        raise RuntimeError("modal is down")

    with pytest.raises(RuntimeError):
        SubmitDeduper(store).submit("job_3", boom)
    assert SubmitDeduper(store).submit("job_3", lambda: "fc-9") == ("fc-9", True), "a retry can start it"
