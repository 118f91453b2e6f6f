"""The unit credits are charged in (worker/services/pricing.ts) is the one the engine budgets GPU time in."""

from __future__ import annotations

import pytest
from conftest import FIXTURES, load_json

from utter_engine.segmentation import speech_units

CASES = load_json(FIXTURES / "speech-units.json")["cases"]


@pytest.mark.parametrize("case", CASES, ids=[c["text"][:12] for c in CASES])
def test_speech_units_match_the_shared_fixture(case: dict[str, object]) -> None:
    assert speech_units(str(case["text"])) == case["units"]
