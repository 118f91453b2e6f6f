"""MP3 of the final audio for the download button (the protocol's optional `final.mp3`).

ffmpeg (in the engine image) encodes minutes of speech in well under a second, so
the engine uploads it before `completed`; the Worker offers it beside the WAV.
"""

from __future__ import annotations

import shutil
import subprocess

MP3_KBPS = 64


class Mp3Error(RuntimeError):
    pass


def encode_mp3_ffmpeg(wav: bytes, *, ffmpeg: str = "ffmpeg", kbps: int = MP3_KBPS, timeout_s: float = 120.0) -> bytes:
    """The given WAV as a mono CBR MP3 (libmp3lame), piped through ffmpeg."""
    if shutil.which(ffmpeg) is None:
        raise Mp3Error("ffmpeg is not installed")
    try:
        done = subprocess.run(
            [ffmpeg, "-nostdin", "-loglevel", "error", "-f", "wav", "-i", "pipe:0", "-ac", "1", "-codec:a", "libmp3lame", "-b:a", f"{kbps}k", "-f", "mp3", "pipe:1"],
            input=wav,
            capture_output=True,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise Mp3Error("ffmpeg took too long to encode MP3") from exc
    if done.returncode != 0 or not done.stdout:
        raise Mp3Error(f"ffmpeg could not encode MP3: {done.stderr.decode(errors='replace')[-300:]}")
    return done.stdout
