"""WAV I/O, decoding, loudness and stitching: the DSP around the model."""

from __future__ import annotations

import shutil
import struct
import subprocess

import numpy as np
import pytest
from engine_fakes.synthetic_audio import speech_like

from utter_engine.audio_decode import DecodeError, decode_audio
from utter_engine.loudness import integrated_loudness, k_weighting, normalize_loudness
from utter_engine.stitching import overlap_total, stitch
from utter_engine.wav import WavError, decode_wav, duration_ms, encode_wav, resample

RATE = 24000


def sine(freq: float, seconds: float, rate: int = RATE, amplitude: float = 1.0) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


# --- WAV ---------------------------------------------------------------------


def test_encode_wav_is_16_bit_mono_pcm_with_exact_size() -> None:
    samples = sine(440, 0.5, amplitude=0.5)
    data = encode_wav(samples, RATE)
    assert len(data) == 44 + 2 * len(samples)
    assert data[:4] == b"RIFF" and data[8:16] == b"WAVEfmt "
    tag, channels, rate, byte_rate, align, bits = struct.unpack("<HHIIHH", data[20:36])
    assert (tag, channels, rate, byte_rate, align, bits) == (1, 1, RATE, RATE * 2, 2, 16)
    decoded, rate = decode_wav(data)
    assert rate == RATE
    assert np.max(np.abs(decoded - samples)) < 1e-4


def test_encode_clips_instead_of_wrapping() -> None:
    decoded, _ = decode_wav(encode_wav(np.array([2.0, -2.0, 0.0], dtype=np.float32), RATE))
    assert decoded[0] > 0.99 and decoded[1] < -0.99


def _wav(payload: bytes, *, tag: int, channels: int, bits: int, rate: int = 16000, extra_chunk: bytes = b"") -> bytes:
    fmt = struct.pack("<HHIIHH", tag, channels, rate, rate * channels * bits // 8, channels * bits // 8, bits)
    body = (
        b"WAVE"
        + b"fmt "
        + struct.pack("<I", len(fmt))
        + fmt
        + extra_chunk
        + b"data"
        + struct.pack("<I", len(payload))
        + payload
    )
    return b"RIFF" + struct.pack("<I", len(body)) + body


def test_decode_wav_variants_downmix_and_skip_unknown_chunks() -> None:
    stereo16 = np.array([[1000, -1000], [2000, 0]], dtype="<i2").tobytes()
    odd_chunk = b"LIST" + struct.pack("<I", 3) + b"abc" + b"\x00"  # odd size, padded
    mono, rate = decode_wav(_wav(stereo16, tag=1, channels=2, bits=16, extra_chunk=odd_chunk))
    # 16-bit is read as encode_wav writes it (×32767), so decode and encode round-trip exactly (ADR 0026).
    assert rate == 16000 and np.allclose(mono, [0.0, 1000 / 32767])
    pcm = np.array([0, 1, -1, 16384, -16384, 32767, -32767], dtype="<i2")
    assert np.array_equal(np.frombuffer(encode_wav(decode_wav(_wav(pcm.tobytes(), tag=1, channels=1, bits=16))[0], 16000)[44:], "<i2"), pcm)
    floats = np.array([0.25, -0.5], dtype="<f4").tobytes()
    assert np.allclose(decode_wav(_wav(floats, tag=3, channels=1, bits=32))[0], [0.25, -0.5])
    pcm24 = bytes([0x00, 0x00, 0x40, 0x00, 0x00, 0xC0])  # +0.5, -0.5
    assert np.allclose(decode_wav(_wav(pcm24, tag=1, channels=1, bits=24))[0], [0.5, -0.5])
    pcm8 = bytes([128, 255, 0])
    assert np.allclose(decode_wav(_wav(pcm8, tag=1, channels=1, bits=8))[0], [0.0, 127 / 128, -1.0])


def test_decode_wav_rejects_garbage() -> None:
    with pytest.raises(WavError):
        decode_wav(b"not a wav at all")
    with pytest.raises(WavError):
        decode_wav(_wav(b"\x00\x00", tag=2, channels=1, bits=4))


def test_resample_keeps_duration_and_pitch() -> None:
    tone = sine(440, 1.0, rate=44100, amplitude=0.5)
    out = resample(tone, 44100, RATE)
    assert len(out) == RATE
    spectrum = np.abs(np.fft.rfft(out))
    assert abs(np.argmax(spectrum) * RATE / len(out) - 440) < 2


def test_decode_audio_accepts_wav_at_any_rate() -> None:
    data = encode_wav(sine(300, 2.0, rate=16000, amplitude=0.4), 16000)
    out = decode_audio(data, RATE)
    assert abs(len(out) - 2 * RATE) <= 1


def test_decode_audio_refuses_empty_and_undecodable_input() -> None:
    with pytest.raises(DecodeError):
        decode_audio(b"", RATE)
    with pytest.raises(DecodeError):
        decode_audio(b"\x00\x01garbage-that-is-not-audio" * 10, RATE)


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed here (it is in the engine image)")
@pytest.mark.parametrize(("ext", "args"), [("flac", []), ("ogg", ["-c:a", "libopus"]), ("mp3", [])])
def test_decode_audio_uses_ffmpeg_for_compressed_formats(
    tmp_path: pytest.TempPathFactory, ext: str, args: list[str]
) -> None:
    source = tmp_path / "in.wav"  # type: ignore[operator]
    target = tmp_path / f"out.{ext}"  # type: ignore[operator]
    source.write_bytes(encode_wav(speech_like(3.0, 48000), 48000))
    done = subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-i", str(source), *args, str(target)], check=False
    )
    if done.returncode != 0:
        pytest.skip(f"this ffmpeg cannot encode {ext}")
    out = decode_audio(target.read_bytes(), RATE)
    assert abs(len(out) / RATE - 3.0) < 0.1


# --- loudness ----------------------------------------------------------------


def test_k_weighting_matches_the_standard_coefficients_at_48k() -> None:
    b1, a1, b2, a2 = k_weighting(48000)
    assert np.allclose(b1, [1.53512485958697, -2.69169618940638, 1.19839281085285], atol=1e-6)
    assert np.allclose(a1, [1.0, -1.69065929318241, 0.73248077421585], atol=1e-6)
    assert np.allclose(b2, [1.0, -2.0, 1.0])
    assert np.allclose(a2, [1.0, -1.99004745483398, 0.99007225036621], atol=1e-6)


@pytest.mark.parametrize("rate", [16000, 24000, 48000])
def test_full_scale_1khz_sine_reads_minus_3_lufs(rate: int) -> None:
    # BS.1770's reference point: a 0 dBFS 1 kHz sine in one channel is -3.01 LKFS.
    assert integrated_loudness(sine(1000, 3.0, rate), rate) == pytest.approx(-3.01, abs=0.1)


def test_loudness_of_silence_and_gating() -> None:
    assert integrated_loudness(np.zeros(RATE * 2, dtype=np.float32), RATE) == float("-inf")
    tone = sine(1000, 6.0, amplitude=0.1)
    with_silence = np.concatenate([tone, np.zeros(RATE * 6, dtype=np.float32)])
    # The gates ignore the silence (only the few blocks straddling the edge count a little).
    assert integrated_loudness(with_silence, RATE) == pytest.approx(integrated_loudness(tone, RATE), abs=0.25)
    ungated = -0.691 + 10 * np.log10(np.mean(with_silence.astype(np.float64) ** 2))
    assert integrated_loudness(with_silence, RATE) > ungated + 2


def test_normalize_reaches_target_and_respects_peak_ceiling() -> None:
    quiet = speech_like(5.0, seed=3, amplitude=0.02)
    out = normalize_loudness(quiet, RATE, target_lufs=-16.0)
    assert integrated_loudness(out, RATE) == pytest.approx(-16.0, abs=0.1)
    spiky = np.concatenate([sine(200, 2.0, amplitude=0.01), np.array([0.9], dtype=np.float32)])
    out = normalize_loudness(spiky, RATE, target_lufs=-10.0, peak_dbfs=-1.0)
    assert np.max(np.abs(out)) <= 10 ** (-1 / 20) + 1e-6
    assert normalize_loudness(np.zeros(10, dtype=np.float32), RATE).tolist() == [0.0] * 10


# --- stitching ---------------------------------------------------------------


def test_stitched_length_is_sum_minus_crossfades() -> None:
    parts = [speech_like(s, seed=i) for i, s in enumerate([1.0, 2.5, 0.4])]
    out = stitch(parts, RATE, crossfade_ms=15)
    xfade = int(0.015 * RATE)
    assert len(out) == sum(len(p) for p in parts) - 2 * xfade
    assert overlap_total([len(p) for p in parts], RATE, 15) == 2 * xfade
    assert duration_ms(out, RATE) == pytest.approx(3900 - 30, abs=1)


def test_no_clicks_at_joins_even_between_mismatched_levels() -> None:
    # Worst case for a join: a DC step from +0.5 to -0.5. A plain cut jumps by 1.0.
    a = np.full(RATE, 0.5, dtype=np.float32)
    b = np.full(RATE, -0.5, dtype=np.float32)
    out = stitch([a, b], RATE, crossfade_ms=15)
    steps = np.abs(np.diff(out))
    xfade = int(0.015 * RATE)
    assert steps.max() < 2.0 / xfade, "the step becomes a ramp over the crossfade"
    # A steady signal passes a join untouched: the gains sum to exactly one.
    same = stitch([a, a], RATE, crossfade_ms=15)
    edge = int(0.005 * RATE)
    assert np.allclose(same[edge:-edge], 0.5, atol=1e-6)


def test_edges_fade_so_playback_does_not_start_on_a_step() -> None:
    out = stitch([np.full(RATE, 0.8, dtype=np.float32)], RATE)
    assert abs(out[0]) < 1e-6 and abs(out[-1]) < 1e-6


def test_short_segments_and_empty_input() -> None:
    assert len(stitch([], RATE)) == 0
    tiny = [np.ones(10, dtype=np.float32), np.ones(4, dtype=np.float32)]
    assert len(stitch(tiny, RATE, crossfade_ms=15)) == 14 - 2  # overlap capped at half the shorter part


