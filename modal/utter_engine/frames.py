"""Binary audio frames of the v2 live path (ADR 0009).

A frame is a 16-byte little-endian header then PCM s16le mono at the job's
sample rate. Pinned by `test/fixtures/engine-protocol/v2/frames.json`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Final

FRAME_VERSION: Final = 1
HEADER = struct.Struct("<BBHIII")
HEADER_BYTES: Final = HEADER.size  # 16
FLAG_LAST_IN_SEGMENT: Final = 0x01
# 4 s at 24 kHz, s16le.
MAX_PAYLOAD_BYTES: Final = 192_000


class FrameError(ValueError):
    """A malformed frame; `reason` is the fixture's word for what is wrong."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class AudioFrame:
    segment: int
    frame: int
    segment_offset: int
    stream_offset: int
    pcm: bytes
    last_in_segment: bool = False
    version: int = FRAME_VERSION

    @property
    def flags(self) -> int:
        return FLAG_LAST_IN_SEGMENT if self.last_in_segment else 0

    @property
    def sample_count(self) -> int:
        return len(self.pcm) // 2

    def samples(self) -> list[int]:
        return list(struct.unpack(f"<{self.sample_count}h", self.pcm))


def encode_frame(frame: AudioFrame) -> bytes:
    if len(frame.pcm) % 2:
        raise FrameError("odd", "PCM s16le payloads have an even length")
    if len(frame.pcm) > MAX_PAYLOAD_BYTES:
        raise FrameError("oversized", f"a frame carries at most {MAX_PAYLOAD_BYTES} bytes of PCM")
    header = HEADER.pack(
        FRAME_VERSION, frame.flags, frame.segment, frame.frame, frame.segment_offset, frame.stream_offset
    )
    return header + frame.pcm


def decode_frame(data: bytes) -> AudioFrame:
    if len(data) < HEADER_BYTES:
        raise FrameError("short", f"a frame has a {HEADER_BYTES}-byte header; got {len(data)} bytes")
    version, flags, segment, number, segment_offset, stream_offset = HEADER.unpack_from(data)
    if version != FRAME_VERSION:
        raise FrameError("version", f"unknown frame version {version}")
    if flags & ~FLAG_LAST_IN_SEGMENT:
        raise FrameError("flags", f"reserved flag bits set ({flags:#04x})")
    pcm = bytes(data[HEADER_BYTES:])
    if len(pcm) % 2:
        raise FrameError("odd", "PCM s16le payloads have an even length")
    if len(pcm) > MAX_PAYLOAD_BYTES:
        raise FrameError("oversized", f"a frame carries at most {MAX_PAYLOAD_BYTES} bytes of PCM")
    return AudioFrame(
        segment=segment,
        frame=number,
        segment_offset=segment_offset,
        stream_offset=stream_offset,
        pcm=pcm,
        last_in_segment=bool(flags & FLAG_LAST_IN_SEGMENT),
        version=version,
    )
