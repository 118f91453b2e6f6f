"""The `alignment` artifact (ADR 0021): when each word is spoken in the FINAL file.

The content schema mirrors `worker/engine/alignment.ts` (zod) and is pinned by
`test/fixtures/engine-protocol/v2/alignment.json`; the Worker parses every upload
with it. Timings come from the recogniser the engine already carries (Whisper,
with word timestamps), run over each finished segment; the script's own words
(exact text, char offsets) take the recogniser's times where their words match,
and words it missed are placed between their neighbours. Each segment's words are
then moved by where `stitching.stitch` put that segment (its crossfades overlap
the joins), so the times line up with the file the person downloads.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from dataclasses import dataclass
from typing import Annotated, Literal, Protocol

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from .js_types import js_int, js_number, js_string
from .stitching import crossfade_samples

ALIGNMENT_MAX_WORDS = 100_000
ALIGNMENT_SLACK_SECONDS = 0.05

Seconds = Annotated[float, BeforeValidator(js_number), Field(ge=0, le=24 * 3600)]
Offset = Annotated[int, BeforeValidator(js_int), Field(ge=0)]
Text = Annotated[str, BeforeValidator(js_string)]


class AlignedWord(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: Annotated[Text, Field(min_length=1, max_length=200)]
    start: Seconds
    end: Seconds
    char_start: Offset | None = None
    char_end: Offset | None = None

    @model_validator(mode="after")
    def _consistent(self) -> AlignedWord:
        if self.end < self.start:
            raise ValueError("end: end is before start")
        if (self.char_start is None) != (self.char_end is None):
            raise ValueError("char_end: char_start and char_end come together")
        if self.char_start is not None and self.char_end is not None and self.char_end <= self.char_start:
            raise ValueError("char_end: char_end must be after char_start")
        return self

    def to_json(self) -> dict[str, object]:
        return self.model_dump(exclude_none=True)


class Alignment(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: Annotated[Literal[1], BeforeValidator(js_int)]
    duration: Seconds
    source: Annotated[Text, Field(min_length=1, max_length=40)]
    words: Annotated[list[AlignedWord], Field(max_length=ALIGNMENT_MAX_WORDS)]

    @model_validator(mode="after")
    def _ordered(self) -> Alignment:
        # The messages name the field as zod's paths do (`words.3.start`), so both mirrors report alike.
        if self.duration <= 0:
            raise ValueError("duration: duration must be positive")
        prev_start = 0.0
        prev_char = 0
        for i, w in enumerate(self.words):
            if w.start < prev_start:
                raise ValueError(f"words.{i}.start: word {i} starts before word {i - 1}")
            if w.end > self.duration + ALIGNMENT_SLACK_SECONDS:
                raise ValueError(f"words.{i}.end: word {i} ends at {w.end} s, after the audio's {self.duration} s")
            if w.char_start is not None and w.char_end is not None:
                if w.char_start < prev_char:
                    raise ValueError(f"words.{i}.char_start: word {i} comes before word {i - 1} in the text")
                prev_char = w.char_end
            prev_start = w.start
        return self

    def to_json(self) -> dict[str, object]:
        return {
            "version": self.version,
            "duration": self.duration,
            "source": self.source,
            "words": [w.to_json() for w in self.words],
        }


@dataclass(frozen=True)
class HeardWord:
    """A recognised word: its text and seconds into the audio it was heard in."""

    text: str
    start: float
    end: float


class WordTranscriber(Protocol):
    def transcribe_words(self, audio: NDArray[np.float32], sample_rate: int, language: str | None) -> list[HeardWord]:
        """The words spoken in `audio`, each with its start and end in seconds."""
        ...


@dataclass(frozen=True)
class ScriptWord:
    text: str
    char_start: int
    char_end: int
    start: float
    end: float


def _norm(word: str) -> str:
    folded = unicodedata.normalize("NFKC", word).casefold()
    return "".join(ch for ch in folded if unicodedata.category(ch)[0] in "LN")


def align_script(script: str, heard: list[HeardWord], span: tuple[float, float]) -> list[ScriptWord]:
    """The script's words (whitespace-separated, offsets into `script`) with times from `heard`.

    Words match by their letters and digits (case and punctuation aside); a run of script words
    the recogniser missed or heard differently shares the time between its matched neighbours
    (by length); with no match at all the words share `span`, the segment's speech.
    """
    tokens = [(m.group(0), m.start(), m.end()) for m in re.finditer(r"\S+", script)]
    if not tokens:
        return []
    times: list[tuple[float, float] | None] = [None] * len(tokens)
    matcher = difflib.SequenceMatcher(a=[_norm(t[0]) for t in tokens], b=[_norm(h.text) for h in heard], autojunk=False)
    for block in matcher.get_matching_blocks():
        for k in range(block.size):
            h = heard[block.b + k]
            times[block.a + k] = (h.start, max(h.start, h.end))
    i = 0
    while i < len(tokens):
        if times[i] is not None:
            i += 1
            continue
        j = i
        while j < len(tokens) and times[j] is None:
            j += 1
        prev = times[i - 1] if i > 0 else None
        nxt = times[j] if j < len(tokens) else None
        lo = prev[1] if prev is not None else span[0]
        hi = nxt[0] if nxt is not None else span[1]
        hi = max(lo, hi)
        weights = [max(1, len(tokens[k][0])) for k in range(i, j)]
        total = sum(weights)
        t = lo
        for k, w in zip(range(i, j), weights, strict=True):
            step = (hi - lo) * w / total
            times[k] = (t, t + step)
            t += step
        i = j
    out: list[ScriptWord] = []
    last = 0.0
    for (text, a, b), tm in zip(tokens, times, strict=True):
        assert tm is not None
        start = max(last, tm[0])
        out.append(ScriptWord(text, a, b, start, max(start, tm[1])))
        last = start
    return out


def segment_starts(lengths: list[int], sample_rate: int, crossfade_ms: float) -> list[int]:
    """Where `stitching.stitch` puts each segment (samples into the final file), by its own overlap rule."""
    wanted = crossfade_samples(sample_rate, crossfade_ms)
    starts: list[int] = []
    running = 0
    for length in lengths:
        if length == 0:  # stitch skips it
            starts.append(running)
        elif running == 0:
            starts.append(0)
            running = length
        else:
            n = min(wanted, running // 2, length // 2)
            starts.append(running - n)
            running += length - n
    return starts


def voiced_span(audio: NDArray[np.float32], sample_rate: int) -> tuple[float, float]:
    """Seconds from the first to the last sample above 2% of the peak (the segment's speech, its join's silence excluded)."""
    x = np.abs(np.asarray(audio, dtype=np.float32))
    if x.size == 0 or float(x.max()) == 0.0:
        return (0.0, 0.0)
    loud = np.flatnonzero(x > 0.02 * float(x.max()))
    return (float(loud[0]) / sample_rate, float(loud[-1] + 1) / sample_rate)


def build_alignment(
    text: str,
    segment_texts: list[str],
    segment_words: list[list[ScriptWord]],
    starts_s: list[float],
    duration_s: float,
    *,
    source: str = "asr",
) -> Alignment:
    """The whole job's alignment: segment words moved to their segment's start, char offsets into `text`."""
    words: list[AlignedWord] = []
    cursor = 0
    last = 0.0
    for seg_text, seg_words, offset in zip(segment_texts, segment_words, starts_s, strict=True):
        base = text.find(seg_text, cursor) if seg_text else -1
        for w in seg_words:
            if len(w.text) > 200:  # a run of 200 characters without a space is no word a subtitle can show
                continue
            start = max(last, min(round(w.start + offset, 3), duration_s))
            end = max(start, min(round(w.end + offset, 3), duration_s))
            last = start
            at = base + w.char_start if base >= 0 else text.find(w.text, cursor)
            if at >= cursor and text[at : at + len(w.text)] == w.text:
                words.append(AlignedWord(text=w.text, start=start, end=end, char_start=at, char_end=at + len(w.text)))
                cursor = at + len(w.text)
            else:
                words.append(AlignedWord(text=w.text, start=start, end=end))
    return Alignment(version=1, duration=round(duration_s, 3), source=source, words=words)
