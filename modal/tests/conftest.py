"""Shared test setup: import paths, fixture locations, and the fakes."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

MODAL_DIR = Path(__file__).resolve().parents[1]
REPO_ROOT = MODAL_DIR.parent
FIXTURES = REPO_ROOT / "test" / "fixtures" / "engine-protocol"

# `import app` and `import utter_engine` as `modal deploy modal/app.py` would see them.
if str(MODAL_DIR) not in sys.path:
    sys.path.insert(0, str(MODAL_DIR))

from engine_fakes.fake_worker import FakeWorker  # noqa: E402


def load_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture
def worker() -> Any:
    with FakeWorker(token="job-token-0123456789abcdef") as fake:
        yield fake
