from __future__ import annotations

import time

import pytest

from utter_engine.segmentation import SegmentLimits, speech_units, split_text

LIMITS = SegmentLimits(max_units=300, first_max_units=120)


def squash(text: str) -> str:
    return "".join(text.split())


def assert_well_formed(text: str, segments: list[str], limits: SegmentLimits = LIMITS) -> None:
    assert segments, "something to speak"
    assert squash("".join(segments)) == squash(text), "no character lost, duplicated or reordered"
    assert all(s and s == s.strip() for s in segments)
    assert speech_units(segments[0]) <= limits.first_max_units
    assert all(speech_units(s) <= limits.max_units for s in segments)
    assert len(segments) <= 1000


def test_short_text_is_one_segment() -> None:
    assert split_text("Hello there. How are you?", LIMITS) == ["Hello there. How are you?"]


def test_splits_at_sentence_ends_and_packs_sentences_together() -> None:
    sentence = "This sentence is about fifty characters in length. "
    text = sentence * 12
    segments = split_text(text, LIMITS)
    assert_well_formed(text, segments)
    assert all(s.endswith(".") for s in segments), "every cut falls at a sentence end"
    # 2 sentences fit the first segment (<=120 units), then 5 per segment (<=300).
    assert [s.count(".") for s in segments] == [2, 5, 5]


def test_first_segment_is_short_for_fast_first_audio() -> None:
    text = (
        "A short opener. " + "Then a much longer sentence follows, one that goes on and on and on, "
        "for quite a while, before it finally comes to its end. " * 6
    )
    segments = split_text(text, LIMITS)
    assert segments[0] == "A short opener."
    assert_well_formed(text, segments)


def test_abbreviations_decimals_and_initials_do_not_end_sentences() -> None:
    text = "Dr. Smith paid $3.50 to J. K. Rowling at 10 a.m. on Main St. today. " * 8
    segments = split_text(text, LIMITS)
    assert_well_formed(text, segments)
    assert not any(s.endswith(("Dr.", "J.", "K.", "St.", "$3.")) for s in segments)


def test_question_exclamation_ellipsis_and_quotes() -> None:
    parts = ['"Are you sure?" she asked.', "Yes!", "Well… maybe.", "(It was late.)", "Really?!"]
    text = " ".join(parts * 10)
    segments = split_text(text, SegmentLimits(max_units=60, first_max_units=30))
    assert_well_formed(text, segments, SegmentLimits(max_units=60, first_max_units=30))
    assert all(s[-1] in '.!?)"' for s in segments)


def test_cjk_punctuation_splits_without_spaces() -> None:
    sentence = "今天天气很好，我们一起去公园散步吧。"  # 18 chars, 54 units
    text = sentence * 20
    segments = split_text(text, LIMITS)
    assert_well_formed(text, segments)
    assert all(s.endswith("。") for s in segments)
    assert speech_units(segments[1]) > 200, "CJK sentences are packed too"


def test_japanese_and_korean_terminators() -> None:
    text = "これはペンです！本当ですか？" * 10 + "안녕하세요. 반갑습니다." * 10
    segments = split_text(text, SegmentLimits(max_units=90, first_max_units=45))
    assert_well_formed(text, segments, SegmentLimits(max_units=90, first_max_units=45))
    assert all(s[-1] in "！？." for s in segments)


def test_long_sentence_splits_at_clauses_first() -> None:
    clause = "and then we walked a little further down the road"
    text = ", ".join([clause] * 12) + "."
    segments = split_text(text, LIMITS)
    assert_well_formed(text, segments)
    assert all(s.endswith((",", ".")) for s in segments)


def test_long_sentence_without_punctuation_splits_between_words() -> None:
    words = [f"word{i}" for i in range(1000)]
    text = " ".join(words)
    segments = split_text(text, LIMITS)
    assert_well_formed(text, segments)
    assert [w for s in segments for w in s.split()] == words, "no word is cut"


def test_cjk_run_without_any_punctuation_is_cut_hard() -> None:
    text = "我" * 1000
    segments = split_text(text, LIMITS)
    assert_well_formed(text, segments)
    # The first segment's tighter cut leaves one shorter segment after it; the rest are full.
    assert [speech_units(s) for s in segments[2:-1]] == [300] * (len(segments) - 3)


def test_a_giant_token_is_cut_hard() -> None:
    text = "x" * 2000
    segments = split_text(text, LIMITS)
    assert_well_formed(text, segments)


def test_newlines_end_sentences_but_do_not_force_tiny_segments() -> None:
    text = "\n".join(["Line without a full stop"] * 40)
    segments = split_text(text, LIMITS)
    assert_well_formed(text, segments)
    assert len(segments) < 10
    many_short = "\n".join(["a"] * 2500)
    assert len(split_text(many_short, LIMITS)) < 20


def test_five_thousand_characters_mixed() -> None:
    chunk = (
        "The committee met on Tuesday, and after a long discussion it decided to postpone the vote. "
        "会议结束后，大家都回家了。 "
        "Nobody expected that; not even the chair, who had prepared a speech of some length without any pause at all "
    )
    text = (chunk * 30)[:5000]
    started = time.perf_counter()
    segments = split_text(text, LIMITS)
    assert time.perf_counter() - started < 1.0
    assert_well_formed(text, segments)
    assert 15 <= len(segments) <= 200


@pytest.mark.parametrize("text", ["   ", "\n\n", ""])
def test_blank_text_has_nothing_to_speak(text: str) -> None:
    assert split_text(text, LIMITS) == []


def test_limits_are_validated() -> None:
    with pytest.raises(ValueError):
        SegmentLimits(max_units=100, first_max_units=200)
