"""The optional MP3 of the final audio: uploaded before `completed`, never at the job's expense."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from engine_fakes.fake_worker import FakeWorker
from engine_fakes.jobs import make_job, make_runner, serve_reference
from utter_engine.mp3 import MP3_KBPS, encode_mp3_ffmpeg
from utter_engine.wav import encode_wav


def _ops(worker: FakeWorker) -> list[str]:
    return [f"upload {s['path']}" if s["op"] == "upload" else s["value"]["type"] for s in worker.steps]


def test_a_generate_job_uploads_the_mp3_after_the_wav_and_before_completed(worker: FakeWorker) -> None:
    serve_reference(worker)
    seen: list[bytes] = []

    def fake_encoder(wav: bytes) -> bytes:
        seen.append(wav)
        return b"\xff\xf3" + bytes(100)

    outcome = make_runner(mp3_encoder=fake_encoder).run(make_job(worker))
    assert outcome.status == "completed"
    ops = _ops(worker)
    assert ops.index("upload final") < ops.index("upload final.mp3") < ops.index("completed")
    assert seen == [worker.uploads["final"]], "the MP3 is made from the final WAV"


def test_an_mp3_failure_does_not_fail_the_job(worker: FakeWorker) -> None:
    serve_reference(worker)

    def broken(_wav: bytes) -> bytes:
        raise RuntimeError("no encoder")

    outcome = make_runner(mp3_encoder=broken).run(make_job(worker))
    assert outcome.status == "completed"
    assert "final.mp3" not in worker.uploads


def test_design_previews_get_no_mp3(worker: FakeWorker) -> None:
    outcome = make_runner(mp3_encoder=lambda wav: b"\xff\xf3").run(
        make_job(worker, kind="design_preview", instruct="A warm voice", text="Hello there.")
    )
    assert outcome.status == "completed"
    assert "final.mp3" not in worker.uploads


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed here (it is in the engine image)")
def test_ffmpeg_encodes_mpeg_frames_at_the_configured_bitrate() -> None:
    rate, seconds = 24_000, 4
    t = np.arange(rate * seconds) / rate
    mp3 = encode_mp3_ffmpeg(encode_wav((0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), rate))
    start = 0
    if mp3.startswith(b"ID3"):  # ID3v2 header: its size is a 28-bit "syncsafe" integer
        size = (mp3[6] & 0x7F) << 21 | (mp3[7] & 0x7F) << 14 | (mp3[8] & 0x7F) << 7 | (mp3[9] & 0x7F)
        start = 10 + size
    assert mp3[start] == 0xFF and mp3[start + 1] & 0xE0 == 0xE0, "an MPEG frame header"
    expected = MP3_KBPS * 1000 * seconds / 8
    assert abs(len(mp3) - expected) / expected < 0.2
