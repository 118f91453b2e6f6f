"""WAV encoding/decoding and resampling with numpy (no soundfile needed for WAV)."""

from __future__ import annotations

import struct
from math import gcd

import numpy as np
from numpy.typing import NDArray

Audio = NDArray[np.float32]

_PCM = 1
_FLOAT = 3
_EXTENSIBLE = 0xFFFE


class WavError(ValueError):
    pass


def pcm16(samples: NDArray[np.floating]) -> bytes:
    """Mono float samples as PCM s16le, exactly as `encode_wav` writes them."""
    clipped = np.clip(np.asarray(samples, dtype=np.float64), -1.0, 1.0)
    return bytes(np.round(clipped * 32767.0).astype("<i2").tobytes())


def encode_wav(samples: NDArray[np.floating], sample_rate: int) -> bytes:
    """Mono 16-bit PCM WAV, the protocol's only output format."""
    clipped = np.clip(np.asarray(samples, dtype=np.float64), -1.0, 1.0)
    pcm = np.round(clipped * 32767.0).astype("<i2").tobytes()
    header = b"RIFF" + struct.pack("<I", 36 + len(pcm)) + b"WAVE"
    fmt = b"fmt " + struct.pack("<IHHIIHH", 16, _PCM, 1, sample_rate, sample_rate * 2, 2, 16)
    return header + fmt + b"data" + struct.pack("<I", len(pcm)) + pcm


def is_wav(data: bytes) -> bool:
    return len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WAVE"


def decode_wav(data: bytes) -> tuple[Audio, int]:
    """Any PCM (8/16/24/32-bit) or float WAV, down-mixed to mono float32 in [-1, 1]."""
    if not is_wav(data):
        raise WavError("not a RIFF/WAVE file")
    fmt: tuple[int, int, int, int] | None = None
    payload: bytes | None = None
    pos = 12
    while pos + 8 <= len(data):
        chunk_id = data[pos : pos + 4]
        size = struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        body = data[pos + 8 : pos + 8 + size]
        if chunk_id == b"fmt ":
            if len(body) < 16:
                raise WavError("short fmt chunk")
            tag, channels, rate, _, _, bits = struct.unpack("<HHIIHH", body[:16])
            if tag == _EXTENSIBLE and len(body) >= 26:
                tag = struct.unpack("<H", body[24:26])[0]  # first two bytes of the sub-format GUID
            fmt = (tag, channels, rate, bits)
        elif chunk_id == b"data":
            # Streamed recorders write 0 or 0xFFFFFFFF when they never knew the length.
            payload = data[pos + 8 :] if size in (0, 0xFFFFFFFF) else body
            break
        pos += 8 + size + (size & 1)  # chunks are word-aligned
    if fmt is None or payload is None:
        raise WavError("missing fmt or data chunk")
    tag, channels, rate, bits = fmt
    if channels < 1 or rate <= 0:
        raise WavError("bad channel count or sample rate")
    samples = _pcm_to_float(payload, tag, bits)
    frames = len(samples) // channels
    mono = samples[: frames * channels].reshape(frames, channels).mean(axis=1)
    return mono.astype(np.float32), rate


def _pcm_to_float(payload: bytes, tag: int, bits: int) -> NDArray[np.float64]:
    width = bits // 8
    usable = len(payload) - len(payload) % max(width, 1)
    raw = payload[:usable]
    if tag == _FLOAT and bits == 32:
        return np.frombuffer(raw, dtype="<f4").astype(np.float64)
    if tag == _FLOAT and bits == 64:
        return np.frombuffer(raw, dtype="<f8")
    if tag != _PCM:
        raise WavError(f"unsupported WAV encoding {tag}")
    if bits == 8:
        return (np.frombuffer(raw, dtype=np.uint8).astype(np.float64) - 128.0) / 128.0
    if bits == 16:
        # The inverse of encode_wav's ×32767, so a part read back and written again keeps its samples (ADR 0026).
        return np.clip(np.frombuffer(raw, dtype="<i2").astype(np.float64) / 32767.0, -1.0, 1.0)
    if bits == 24:
        b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        value = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        value = np.where(value >= 1 << 23, value - (1 << 24), value)
        return value.astype(np.float64) / float(1 << 23)
    if bits == 32:
        return np.frombuffer(raw, dtype="<i4").astype(np.float64) / float(1 << 31)
    raise WavError(f"unsupported PCM width {bits}")


def resample(samples: NDArray[np.floating], from_rate: int, to_rate: int) -> Audio:
    """Band-limited polyphase resampling (scipy), exact for any integer rates."""
    x = np.asarray(samples, dtype=np.float32)
    if from_rate == to_rate or x.size == 0:
        return x
    from scipy.signal import resample_poly

    g = gcd(from_rate, to_rate)
    return np.asarray(resample_poly(x, to_rate // g, from_rate // g), dtype=np.float32)


def duration_ms(samples: NDArray[np.floating], sample_rate: int) -> int:
    return int(round(len(samples) * 1000 / sample_rate))
