"""Decode any reference upload (WAV, MP3, M4A/AAC, OGG/Opus, WEBM, FLAC) to mono float32."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

import numpy as np

from .wav import Audio, WavError, decode_wav, is_wav, resample


class DecodeError(ValueError):
    pass


def decode_audio(data: bytes, target_rate: int, *, ffmpeg: str = "ffmpeg", timeout_s: float = 120.0) -> Audio:
    """Mono float32 at `target_rate`. WAV is parsed in-process; everything else goes through ffmpeg."""
    if not data:
        raise DecodeError("the reference is empty")
    if is_wav(data):
        try:
            samples, rate = decode_wav(data)
            return resample(samples, rate, target_rate)
        except WavError:
            pass  # e.g. ADPCM or mu-law WAV: ffmpeg knows those
    return _ffmpeg_decode(data, target_rate, ffmpeg=ffmpeg, timeout_s=timeout_s)


def _ffmpeg_decode(data: bytes, target_rate: int, *, ffmpeg: str, timeout_s: float) -> Audio:
    if shutil.which(ffmpeg) is None:
        raise DecodeError("ffmpeg is not installed")
    # A temp file, not a pipe: MP4/M4A files often keep their index (moov atom)
    # at the end, which ffmpeg can only reach by seeking.
    fd, path = tempfile.mkstemp(prefix="utter-ref-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        cmd = [
            ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error",
            "-i", path, "-vn", "-ac", "1", "-ar", str(target_rate), "-f", "f32le", "pipe:1",
        ]  # fmt: skip
        try:
            proc = subprocess.run(cmd, capture_output=True, timeout=timeout_s, check=False)
        except subprocess.TimeoutExpired as exc:
            raise DecodeError("decoding the reference took too long") from exc
        if proc.returncode != 0 or not proc.stdout:
            detail = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no audio stream"]
            raise DecodeError(f"could not decode the reference audio ({detail[0][:200]})")
        usable = len(proc.stdout) - len(proc.stdout) % 4
        return np.frombuffer(proc.stdout[:usable], dtype="<f4").copy()
    finally:
        os.unlink(path)
