"""Split text into sentence-bounded segments the model can speak well.

Segments are measured in "units", a rough proxy for speaking time: a CJK
character (or kana, hangul syllable) takes about as long to say as three Latin
letters, so it counts 3. A segment stays under `max_units`; the first one
under `first_max_units`, so the first audio arrives sooner. Boundaries are
chosen in this order of preference: sentence ends, clause punctuation,
whitespace, and only as a last resort a hard cut (CJK runs or giant tokens with
no punctuation at all).
"""

from __future__ import annotations

import re

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

_LATIN_TERMINATORS = ".!?…"
_CJK_TERMINATORS = "。！？；．｡…"
_CLOSERS = "\"'”’»)]}」』）】》〉"
_LATIN_CLAUSE = ",;:—–"
_CJK_CLAUSE = "，、；：﹐﹑"
# Words that end in a period without ending the sentence.
_ABBREVIATIONS = frozenset(
    {
        "mr",
        "mrs",
        "ms",
        "dr",
        "prof",
        "sr",
        "jr",
        "st",
        "vs",
        "e.g",
        "i.e",
        "no",
        "fig",
        "approx",
        "dept",
        "mt",
        "inc",
        "ltd",
        "co",
    }
)

Span = tuple[int, int]


@dataclass(frozen=True)
class SegmentLimits:
    max_units: int = 300
    first_max_units: int = 120

    def __post_init__(self) -> None:
        if self.first_max_units < 6 or self.max_units < self.first_max_units:
            raise ValueError("need 6 <= first_max_units <= max_units")


def is_wide(ch: str) -> bool:
    """CJK ideographs, kana, hangul and full-width forms: one character is a whole syllable."""
    cp = ord(ch)
    return (
        0x1100 <= cp <= 0x11FF
        or 0x2E80 <= cp <= 0x9FFF
        or 0xAC00 <= cp <= 0xD7AF
        or 0xF900 <= cp <= 0xFAFF
        or 0xFF00 <= cp <= 0xFFEF
        or 0x20000 <= cp <= 0x3FFFF
    )


def speech_units(text: str) -> int:
    return sum(3 if is_wide(ch) else 1 for ch in text)


def split_text(text: str, limits: SegmentLimits | None = None) -> list[str]:
    """Sentence-bounded segments, in order, whose concatenation keeps every non-space character."""
    return split_text_with_breaks(text, limits)[0]


_BLANK_LINE = re.compile(r"\n[^\S\n]*\n")


def split_text_with_breaks(text: str, limits: SegmentLimits | None = None) -> tuple[list[str], list[bool]]:
    """The segments, and for each whether a blank line (a paragraph break) separates it from the next."""
    limits = limits or SegmentLimits()
    spans = [span for span in _sentence_spans(text) if text[span[0] : span[1]].strip()]
    packed = _pack(text, spans, limits)
    segments = [" ".join(text[s:e].split()) for s, e in packed]
    if len(segments) > 1000:
        # Cannot happen within the protocol's 5,000 characters; guards the protocol's index limit.
        raise ValueError("text splits into more than 1000 segments")
    breaks = [
        i + 1 < len(packed) and bool(_BLANK_LINE.search(text[packed[i][1] : packed[i + 1][0]]))
        for i in range(len(packed))
    ]
    return segments, breaks


def _sentence_spans(text: str) -> list[Span]:
    spans: list[Span] = []
    start = 0
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "\n":
            spans.append((start, i))
            start = i + 1
        elif ch in _CJK_TERMINATORS and (ch != "…" or _next_is_wide_or_end(text, i + 1)):
            j = _skip(text, i + 1, _CJK_TERMINATORS + _CLOSERS)
            spans.append((start, j))
            start, i = j, j
            continue
        elif ch in _LATIN_TERMINATORS:
            j = _skip(text, _skip(text, i + 1, _LATIN_TERMINATORS), _CLOSERS)
            if (j == n or text[j].isspace()) and not _is_abbreviation(text, i):
                spans.append((start, j))
                start, i = j, j
                continue
        i += 1
    spans.append((start, n))
    return spans


def _next_is_wide_or_end(text: str, i: int) -> bool:
    return i >= len(text) or is_wide(text[i]) or text[i].isspace()


def _skip(text: str, i: int, chars: str) -> int:
    while i < len(text) and text[i] in chars:
        i += 1
    return i


def _is_abbreviation(text: str, dot: int) -> bool:
    if text[dot] != ".":
        return False
    start = dot
    while start > 0 and (text[start - 1].isalpha() or text[start - 1] == "."):
        start -= 1
    word = text[start:dot].lower()
    # A lone letter before a period is an initial ("J. K. Rowling").
    return word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha())


def _pack(text: str, spans: list[Span], limits: SegmentLimits) -> list[Span]:
    prefix = [0]
    for ch in text:
        prefix.append(prefix[-1] + (3 if is_wide(ch) else 1))

    def units(s: int, e: int) -> int:
        return prefix[e] - prefix[s]

    queue: deque[Span] = deque(_fit(text, spans, limits.max_units, units))
    out: list[Span] = []
    current: Span | None = None
    while queue:
        s, e = queue.popleft()
        limit = limits.first_max_units if not out else limits.max_units
        if current is None:
            if units(s, e) > limit:
                # Only the first segment has the tighter limit: cut from this piece as much
                # as fits it, and leave the rest whole for the next segment.
                pieces = _fit(text, [(s, e)], limit, units)
                k = 1
                while k < len(pieces) and units(pieces[0][0], pieces[k][1]) <= limit:
                    k += 1
                if k < len(pieces):
                    queue.appendleft((pieces[k][0], e))
                queue.appendleft((pieces[0][0], pieces[k - 1][1]))
                continue
            current = (s, e)
        elif units(current[0], e) <= limit and not _BLANK_LINE.search(text[current[1] : s]):
            # A paragraph break always ends a segment: its join gets the longer pause (joins.py).
            current = (current[0], e)
        else:
            out.append(current)
            current = None
            queue.appendleft((s, e))
    if current is not None:
        out.append(current)
    return out


def _fit(text: str, spans: list[Span], limit: int, units: Callable[[int, int], int]) -> list[Span]:
    """Refine spans until none exceeds `limit` units."""
    out: list[Span] = []
    stack = list(reversed(spans))
    while stack:
        span = stack.pop()
        if units(*span) <= limit:
            out.append(span)
        else:
            stack.extend(reversed(_refine(text, span, limit)))
    return out


def _refine(text: str, span: Span, limit: int) -> list[Span]:
    """Break an over-long span at the gentlest boundary that exists in it."""
    for splitter in (_clause_spans, _word_spans):
        pieces = [p for p in splitter(text, span) if text[p[0] : p[1]].strip()]
        if len(pieces) > 1:
            return pieces
    return _hard_spans(text, span, limit)


def _clause_spans(text: str, span: Span) -> list[Span]:
    s, e = span
    out: list[Span] = []
    start = s
    for i in range(s, e):
        ch = text[i]
        after = i + 1
        if ch in _CJK_CLAUSE or (ch in _LATIN_CLAUSE and (after >= e or text[after].isspace())):
            out.append((start, after))
            start = after
    out.append((start, e))
    return out


def _word_spans(text: str, span: Span) -> list[Span]:
    s, e = span
    out: list[Span] = []
    start = s
    for i in range(s, e):
        if text[i].isspace() and i > start:
            out.append((start, i))
            start = i
    out.append((start, e))
    return out


def _hard_spans(text: str, span: Span, limit: int) -> list[Span]:
    s, e = span
    out: list[Span] = []
    start, units = s, 0
    for i in range(s, e):
        width = 3 if is_wide(text[i]) else 1
        if units + width > limit and i > start:
            out.append((start, i))
            start, units = i, 0
        units += width
    out.append((start, e))
    return out
