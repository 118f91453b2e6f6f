"""qwen-tts 0.1.1 and faster-qwen3-tts 0.3.2 themselves, on CPU: a mismatch with their API or shapes fails here."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from utter_engine.qwen_stream import ChunkDecoder, QwenStreamer, decoder_for

SPF = 1920  # samples per codec frame: 24 kHz at 12.5 frames/s


def _voice(seconds: float = 2.0) -> np.ndarray:
    t = np.arange(int(24000 * seconds)) / 24000
    rng = np.random.default_rng(3)
    return (0.2 * np.sin(2 * np.pi * 180 * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t)) + 0.01 * rng.standard_normal(t.size)).astype(np.float32)


def test_the_loaded_model_reports_the_12hz_codec(base_model: Any) -> None:
    assert base_model.sample_rate == 24000 and base_model.frame_rate == 12.5
    assert base_model.can_stream and isinstance(base_model.streamer(), QwenStreamer)
    assert base_model.streamer().use_graphs is False, "no CUDA here: the eager stepper"


def test_clone_prompts_in_icl_and_x_vector_modes(base_model: Any) -> None:
    icl = base_model.create_voice_prompt(_voice(), 24000, "a short reference transcript")
    xvec = base_model.create_voice_prompt(_voice(), 24000, None)
    assert icl[0].icl_mode and icl[0].ref_code is not None and icl[0].ref_code.shape == (25, 16)
    assert xvec[0].x_vector_only_mode and xvec[0].ref_code is None
    assert icl[0].ref_spk_embedding.shape == xvec[0].ref_spk_embedding.shape


def test_batched_clone_generation(base_model: Any) -> None:
    prompt = base_model.create_voice_prompt(_voice(), 24000, "a short reference transcript")
    wavs = base_model.generate_clone(["Hello.", "A second line."], "en", prompt * 2, max_new_tokens=6, seed=4)
    assert len(wavs) == 2
    for wav in wavs:
        assert wav.dtype == np.float32 and wav.ndim == 1
        assert 0 < len(wav) <= 6 * SPF and len(wav) % SPF == 0


def test_the_same_seed_gives_the_same_take_and_another_seed_another(base_model: Any) -> None:
    """Takes (ADR 0022): the seed is all the randomness there is, on the real model (tiny, random weights)."""
    prompt = base_model.create_voice_prompt(_voice(), 24000, "a short reference transcript")
    take = lambda seed: base_model.generate_clone(["Say it again."], "en", prompt, max_new_tokens=8, seed=seed)[0]
    a, b, again = take(11), take(12), take(11)
    assert np.array_equal(a, again)
    assert len(a) != len(b) or not np.allclose(a, b)


def test_streaming_clone_yields_the_scheduled_chunks(base_model: Any) -> None:
    prompt = base_model.create_voice_prompt(_voice(), 24000, "a short reference transcript")
    chunks = list(base_model.stream_clone("Stream this.", "en", prompt, max_new_tokens=13, seed=5, schedule=(2, 4)))
    frames = [len(c) // SPF for c in chunks]
    assert all(len(c) % SPF == 0 for c in chunks)
    assert frames[:3] == [2, 4, 4] and sum(frames) <= 13
    assert all(np.isfinite(c).all() for c in chunks)


def test_streaming_and_batch_design(design_model: Any) -> None:
    wavs = design_model.generate_design(["Designed voice."], "en", "A calm, low voice.", max_new_tokens=5, seed=6)
    assert len(wavs) == 1 and 0 < len(wavs[0]) <= 5 * SPF
    chunks = list(design_model.stream_design("Designed voice.", "en", "A calm voice.", max_new_tokens=9, seed=7,
                                             schedule=(3, 6)))
    frames = [len(c) // SPF for c in chunks]
    assert frames[:2] == [3, 6] and sum(frames) <= 9


def _chunked(decode: Any, codes: torch.Tensor, *, left: int, schedule: tuple[int, ...]) -> tuple[np.ndarray, list[int]]:
    decoder = ChunkDecoder(decode, SPF, schedule=schedule, left_context=left)
    parts = [a for frame in codes for a in [decoder.push(frame)] if a is not None]
    rest = decoder.finish()
    parts += [rest] if rest is not None else []
    joins = list(np.cumsum([len(p) for p in parts])[:-1])
    return np.concatenate(parts), joins


def test_streamed_chunks_join_without_discontinuity(base_model: Any) -> None:
    """Sample-level: decoding in chunks with left context gives the whole decode's samples at every join."""
    decode = decoder_for(base_model._inner.model.speech_tokenizer)
    torch.manual_seed(8)
    codes = torch.randint(0, 2048, (40, 16))
    whole = decode(codes)
    scale = float(np.abs(whole).max())
    assert scale > 0
    joined, joins = _chunked(decode, codes, left=25, schedule=(4, 8, 16))
    assert len(joined) == len(whole) == 40 * SPF and len(joins) >= 3
    for j in joins:
        window = slice(j - 64, j + 64)
        assert np.abs(joined[window] - whole[window]).max() <= 0.01 * scale, f"join at sample {j}"
        jump = abs(float(joined[j]) - float(joined[j - 1]))
        typical = float(np.abs(np.diff(whole[j - 256 : j + 256])).max())
        assert jump <= typical + 1e-3 * scale, "no click at the join"



def test_the_join_check_fails_without_left_context(base_model: Any) -> None:
    decode = decoder_for(base_model._inner.model.speech_tokenizer)
    torch.manual_seed(8)
    codes = torch.randint(0, 2048, (40, 16))
    whole = decode(codes)
    scale = float(np.abs(whole).max())
    cold, joins = _chunked(decode, codes, left=0, schedule=(4, 8, 16))
    worst = max(np.abs(cold[j : j + 64] - whole[j : j + 64]).max() for j in joins)
    assert worst > 0.01 * scale


def test_the_runner_streams_the_real_model_over_the_socket(design_model: Any) -> None:
    """A v2 job end to end: frames leave as the real model decodes them, in growing chunks.
    Random weights rarely say end-of-speech, so the runaway guard may end it: both are fine."""
    from engine_fakes.fake_worker import FakeWorker
    from engine_fakes.jobs import FAST_RETRY, FAST_STREAM, FIXED_NOW, make_job

    from utter_engine.length_guard import LengthBudget
    from utter_engine.runner import JobRunner, RunnerSettings

    settings = RunnerSettings(
        retry=FAST_RETRY,
        stream=FAST_STREAM,
        heartbeat_seconds=60,
        chunk_schedule=(2, 4, 8),
        budget=LengthBudget(slack_seconds=1.2, slack_factor=1.0),  # ≤ 17 frames for "Hi."
    )
    with FakeWorker(token="job-token-0123456789abcdef") as worker:
        runner = JobRunner(design_model, settings=settings, now=lambda: FIXED_NOW)
        outcome = runner.run(make_job(worker, kind="design_preview", protocol=2, text="Hi.", seed=11))
        assert outcome.status == "completed" or outcome.error_code == "runaway_generation", outcome
        types = worker.event_types()
        assert types[0] == "started" and types[-1] in ("completed", "failed")
        frames = worker.frames
        assert frames and [f.frame for f in frames] == list(range(len(frames)))
        assert [f.sample_count // SPF for f in frames[:3]] == [2, 4, 8], "a small first chunk, then larger"
        if outcome.status == "completed":
            assert worker.uploads["artifacts/final"][:4] == b"RIFF"
