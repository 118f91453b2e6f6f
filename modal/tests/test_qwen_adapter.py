"""The real model wrappers, driven through stand-ins for torch, qwen_tts and a transformers pipeline.

These pin how the wrappers call the qwen-tts API (argument names and shapes as in
qwen-tts 0.1.1's Qwen3TTSModel) and that the fake used everywhere else has the
same interface.
"""

from __future__ import annotations

import inspect
import sys
import types
from typing import Any

import numpy as np
import pytest
from engine_fakes.fake_model import FakeSpeechModel, FakeTranscriber
from engine_fakes.fake_worker import FakeWorker
from engine_fakes.jobs import make_job, make_runner, reference_wav
from engine_fakes.synthetic_audio import speech_like

from utter_engine.errors import DeviceFailure, ModelOutOfMemory
from utter_engine.qwen_model import QWEN_LANGUAGE_NAMES, QwenSpeechModel, WhisperTranscriber
from utter_engine.runner import JobRunner


class OutOfMemoryError(RuntimeError):
    pass


@pytest.fixture
def torch(monkeypatch: pytest.MonkeyPatch) -> types.SimpleNamespace:
    fake = types.SimpleNamespace(
        seeds=[],
        emptied=0,
        bfloat16="bfloat16",
        float16="float16",
    )
    fake.manual_seed = lambda s: fake.seeds.append(s)

    def empty_cache() -> None:
        fake.emptied += 1

    fake.cuda = types.SimpleNamespace(
        OutOfMemoryError=OutOfMemoryError, empty_cache=empty_cache, is_available=lambda: True
    )
    monkeypatch.setitem(sys.modules, "torch", fake)
    return fake


class FakeQwen3TTSModel:
    """Records calls the way qwen_tts.Qwen3TTSModel receives them."""

    def __init__(self, error: Exception | None = None) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.error = error
        config = types.SimpleNamespace(output_sample_rate=24000, decode_upsample_rate=1920)
        self.model = types.SimpleNamespace(speech_tokenizer=types.SimpleNamespace(config=config))

    def create_voice_clone_prompt(self, **kwargs: Any) -> list[str]:
        self.calls.append(("prompt", kwargs))
        return ["prompt-item"]

    def generate_voice_clone(self, **kwargs: Any) -> tuple[list[np.ndarray], int]:
        self.calls.append(("clone", kwargs))
        if self.error:
            raise self.error
        return [np.full(2400 * (i + 1), 0.1, dtype=np.float64) for i in range(len(kwargs["text"]))], 24000

    def generate_voice_design(self, **kwargs: Any) -> tuple[list[np.ndarray], int]:
        self.calls.append(("design", kwargs))
        return [np.zeros(1200, dtype=np.float32) for _ in kwargs["text"]], 24000


def test_rates_come_from_the_speech_tokenizer(torch: Any) -> None:
    model = QwenSpeechModel(FakeQwen3TTSModel())
    assert model.sample_rate == 24000 and model.frame_rate == 12.5


def test_clone_prompt_uses_icl_with_a_transcript_and_x_vector_without(torch: Any) -> None:
    inner = FakeQwen3TTSModel()
    model = QwenSpeechModel(inner)
    audio = np.zeros(100, dtype=np.float32)
    assert model.create_voice_prompt(audio, 24000, "  words  ") == ["prompt-item"]
    model.create_voice_prompt(audio, 24000, None)
    model.create_voice_prompt(audio, 24000, "   ")
    (_, with_text), (_, without), (_, blank) = inner.calls
    assert with_text["ref_text"] == "words" and with_text["x_vector_only_mode"] is False
    assert isinstance(with_text["ref_audio"], tuple) and with_text["ref_audio"][1] == 24000
    assert without["ref_text"] is None and without["x_vector_only_mode"] is True
    assert blank["x_vector_only_mode"] is True


def test_generate_clone_passes_language_names_prompt_and_token_budget(torch: Any) -> None:
    inner = FakeQwen3TTSModel()
    out = QwenSpeechModel(inner).generate_clone(["a", "b"], "zh", ["prompt-item"], max_new_tokens=321, seed=None)
    (_, kwargs) = inner.calls[0]
    assert kwargs == {
        "text": ["a", "b"],
        "language": ["Chinese", "Chinese"],
        "voice_clone_prompt": ["prompt-item"],
        "max_new_tokens": 321,
    }
    assert [len(w) for w in out] == [2400, 4800] and all(w.dtype == np.float32 for w in out)
    assert torch.seeds == [], "no seed given: sampling stays random"


def test_generate_design_passes_the_instruct_per_text(torch: Any) -> None:
    inner = FakeQwen3TTSModel()
    QwenSpeechModel(inner).generate_design(["x"], "auto", "A gravelly pirate.", max_new_tokens=50, seed=9)
    (_, kwargs) = inner.calls[0]
    assert kwargs["instruct"] == ["A gravelly pirate."] and kwargs["language"] == ["Auto"]
    assert torch.seeds == [9]


def test_every_protocol_language_has_a_qwen_name() -> None:
    from utter_engine.protocol import LANGUAGE_CODES

    assert set(QWEN_LANGUAGE_NAMES) == set(LANGUAGE_CODES)


@pytest.mark.parametrize(
    "error",
    [
        OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"),
        RuntimeError("CUBLAS_STATUS_ALLOC_FAILED: out of memory"),
    ],
    ids=["torch-oom", "cublas-oom"],
)
def test_gpu_out_of_memory_becomes_model_out_of_memory(torch: Any, error: Exception) -> None:
    model = QwenSpeechModel(FakeQwen3TTSModel(error))
    with pytest.raises(ModelOutOfMemory) as caught:
        model.generate_clone(["a"], "en", [], max_new_tokens=10, seed=None)
    assert caught.value.__cause__ is None, "the torch error (and the frames it holds) is not chained on"
    assert torch.emptied == 0, "emptying the cache inside the except frees nothing: the batcher does it after"
    model.release_memory()
    assert torch.emptied == 1


def test_sticky_cuda_errors_become_device_failures(torch: Any) -> None:
    with pytest.raises(DeviceFailure, match="device-side assert"):
        QwenSpeechModel(FakeQwen3TTSModel(RuntimeError("CUDA error: device-side assert triggered"))).generate_clone(
            ["a"], "en", [], max_new_tokens=10, seed=None
        )


def test_other_runtime_errors_pass_through(torch: Any) -> None:
    with pytest.raises(RuntimeError, match="shape mismatch"):
        QwenSpeechModel(FakeQwen3TTSModel(RuntimeError("shape mismatch"))).generate_clone(
            ["a"], "en", [], max_new_tokens=10, seed=None
        )


def test_load_uses_the_local_directory_in_bf16(torch: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}

    class Qwen3TTSModel:
        @classmethod
        def from_pretrained(cls, path: str, **kwargs: Any) -> FakeQwen3TTSModel:
            seen.update(path=path, **kwargs)
            return FakeQwen3TTSModel()

    monkeypatch.setitem(sys.modules, "qwen_tts", types.SimpleNamespace(Qwen3TTSModel=Qwen3TTSModel))
    QwenSpeechModel.load("/models/Qwen/Qwen3-TTS-12Hz-1.7B-Base", attn_implementation="sdpa", streaming=False)
    assert seen == {
        "path": "/models/Qwen/Qwen3-TTS-12Hz-1.7B-Base",
        "device_map": "cuda:0",
        "dtype": "bfloat16",
        "attn_implementation": "sdpa",
    }


def test_whisper_gets_16k_audio_and_a_language_hint(torch: Any) -> None:
    calls: list[tuple[dict[str, Any], dict[str, Any]]] = []

    def pipe(inputs: dict[str, Any], **kwargs: Any) -> dict[str, str]:
        calls.append((inputs, kwargs))
        return {"text": "  Guten Tag.  "}

    asr = WhisperTranscriber(pipe)
    assert asr.transcribe(speech_like(2.0, 24000), 24000, "de") == "Guten Tag."
    asr.transcribe(speech_like(1.0, 24000), 24000, "auto")
    (first, first_kwargs), (_, second_kwargs) = calls
    assert first["sampling_rate"] == 16000 and abs(len(first["raw"]) - 32000) <= 1
    assert first_kwargs["generate_kwargs"] == {"task": "transcribe", "language": "de"}
    assert second_kwargs["generate_kwargs"] == {"task": "transcribe"}


def test_whisper_word_timestamps_become_heard_words(torch: Any) -> None:
    calls: list[dict[str, Any]] = []

    def pipe(inputs: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        calls.append(kwargs)
        # The shape transformers' ASR pipeline answers with return_timestamps="word".
        return {
            "text": " Hello world.",
            "chunks": [
                {"text": " Hello", "timestamp": (0.0, 0.42)},
                {"text": " ", "timestamp": (0.42, 0.5)},
                {"text": " world.", "timestamp": (0.5, None)},
            ],
        }

    asr = WhisperTranscriber(pipe)
    words = asr.transcribe_words(speech_like(1.5, 24000), 24000, "en")
    assert calls[0]["return_timestamps"] == "word"
    assert calls[0]["generate_kwargs"] == {"task": "transcribe", "language": "en"}
    assert [(w.text, w.start, w.end) for w in words] == [("Hello", 0.0, 0.42), ("world.", 0.5, 1.5)]


def test_the_fake_transcriber_has_the_real_ones_interface() -> None:
    for name in ("transcribe", "transcribe_words"):
        real = inspect.signature(getattr(WhisperTranscriber, name))
        fake = inspect.signature(getattr(FakeTranscriber, name))
        assert [(p.name, p.kind) for p in real.parameters.values()] == [(p.name, p.kind) for p in fake.parameters.values()], name


def test_the_fake_model_has_the_real_wrappers_interface() -> None:
    for name in ("create_voice_prompt", "generate_clone", "generate_design"):
        real = inspect.signature(getattr(QwenSpeechModel, name))
        fake = inspect.signature(getattr(FakeSpeechModel, name))
        assert [(p.name, p.kind) for p in real.parameters.values()] == [
            (p.name, p.kind) for p in fake.parameters.values()
        ], name
    for attribute in ("sample_rate", "frame_rate", "max_new_tokens_cap"):
        assert isinstance(getattr(QwenSpeechModel, attribute), property)
        assert hasattr(FakeSpeechModel(), attribute)


def test_the_real_wrapper_runs_a_whole_job(torch: Any) -> None:
    """Runner + QwenSpeechModel over a stand-in Qwen model: prompt reuse and batching plumb through."""
    inner = FakeQwen3TTSModel()
    runner: JobRunner = make_runner()
    runner.model = QwenSpeechModel(inner)
    with FakeWorker(token="job-token-0123456789abcdef") as w:
        w.references["job_test_1"] = (200, reference_wav(), "audio/wav")
        outcome = runner.run(
            make_job(
                w,
                text="One. "
                + "Two is a much longer sentence than the first one, long enough to need its own segment. " * 2,
            )
        )
    assert outcome.status == "completed"
    kinds = [k for k, _ in inner.calls]
    assert kinds[0] == "prompt" and set(kinds[1:]) == {"clone"}
    assert all(kw["voice_clone_prompt"] == ["prompt-item"] for k, kw in inner.calls if k == "clone")
