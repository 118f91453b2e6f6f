"""The real qwen-tts / faster-qwen3-tts code on CPU, with tiny random checkpoints built in code.

Runs in its own virtualenv (modal/.venv-model, requirements-model.txt): torch and qwen-tts
are too big for the main test environment. No weights are downloaded: `random_qwen`
writes complete checkpoints that the real loaders read.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

MODAL_DIR = Path(__file__).resolve().parents[1]
for path in (MODAL_DIR, MODAL_DIR / "tests"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))


@pytest.fixture(scope="session")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from utter_engine.random_qwen import write_random_checkpoint

    root = tmp_path_factory.mktemp("qwen")
    return {
        "base": write_random_checkpoint(root / "base", "tiny", model_type="base", seed=1),
        "design": write_random_checkpoint(root / "design", "tiny", model_type="voice_design", seed=2),
    }


@pytest.fixture(scope="session")
def base_model(checkpoints: dict[str, Path]) -> Any:
    from utter_engine.qwen_model import QwenSpeechModel

    return QwenSpeechModel.load(str(checkpoints["base"]), device="cpu", dtype="float32", streaming=True)


@pytest.fixture(scope="session")
def design_model(checkpoints: dict[str, Path]) -> Any:
    from utter_engine.qwen_model import QwenSpeechModel

    return QwenSpeechModel.load(str(checkpoints["design"]), device="cpu", dtype="float32", streaming=True)
