"""Qwen3-TTS engine benchmark with random weights: old path (qwen-tts `generate`) vs new (streaming).

    modal/.venv-model/bin/python bench/engine/run.py --tiny            # CPU, here: checks the method
    python bench/engine/run.py                                         # GPU: 0.6B and 1.7B, ≤ 8 min

Builds real-size models from the published architecture (utter_engine.random_qwen) on the
device, forbids end-of-speech so every run makes exactly `--frames` codec frames, and prints per
size: first-chunk latency (new: the first streamed chunk; old: the whole segment, since it cannot
stream), frames/s, real-time factor per stream (audio seconds per wall second; > 1 is faster than
real time) at batch 1/2/4/8 for the old path and 1 for the new (it is batch 1 by design), and peak
GPU memory. Random weights produce noise, not speech: speed and memory are what they measure.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "modal"))

FRAME_RATE = 12.5
TEXT = "The quick brown fox jumps over the lazy dog, and then it runs far away into the quiet hills."
INSTRUCT = "A warm, clear voice at an easy pace."


def _sync(torch: Any, device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _peak(torch: Any, device: str) -> str:
    if not device.startswith("cuda"):
        return "n/a (CPU)"
    return f"{torch.cuda.max_memory_allocated() / 2**30:.2f} GiB"


def _reset(torch: Any, device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def bench_size(size: str, args: argparse.Namespace, torch: Any) -> list[dict[str, Any]]:
    from utter_engine.qwen_stream import QwenStreamer
    from utter_engine.random_qwen import build_random_model, forbid_end_of_speech

    device, frames = args.device, args.frames
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as workdir:
        inner = build_random_model(size, device=device, dtype=args.dtype, workdir=workdir)
    forbid_end_of_speech(inner)
    built = time.perf_counter() - t0
    audio_s = frames / FRAME_RATE
    rows: list[dict[str, Any]] = []

    # Old path: qwen-tts's HF generate (dynamic cache, nested code predictor), whole segments only.
    for batch in args.batches:
        _reset(torch, device)
        _sync(torch, device)
        start = time.perf_counter()
        wavs, _ = inner.generate_voice_design(
            text=[TEXT] * batch, instruct=[INSTRUCT] * batch, language=["English"] * batch,
            max_new_tokens=frames, min_new_tokens=frames,
        )
        _sync(torch, device)
        took = time.perf_counter() - start
        got = len(wavs[0]) / 1920
        rows.append(dict(size=size, path="old", batch=batch, first=took, fps=batch * got / took,
                         rtf=(got / FRAME_RATE) / took, peak=_peak(torch, device), frames=int(got)))

    # New path: static cache + CUDA graphs on a GPU (eager on CPU), streamed in growing chunks.
    _reset(torch, device)
    warm = time.perf_counter()
    streamer = QwenStreamer(inner)
    streamer.warmup()
    capture = time.perf_counter() - warm
    for _ in range(2):  # the first run after capture pays one-off costs; report the second
        _sync(torch, device)
        start = time.perf_counter()
        first = None
        samples = 0
        for chunk in streamer.stream_design(TEXT, "English", INSTRUCT, max_new_tokens=frames,
                                            schedule=tuple(args.schedule)):
            if first is None:
                _sync(torch, device)
                first = time.perf_counter() - start
            samples += len(chunk)
        _sync(torch, device)
        took = time.perf_counter() - start
    got = samples / 1920
    rows.append(dict(size=size, path="new", batch=1, first=first or took, fps=got / took,
                     rtf=(got / FRAME_RATE) / took, peak=_peak(torch, device), frames=int(got)))
    print(f"# {size}: built in {built:.1f} s; new-path warm-up/graph capture {capture:.1f} s;"
          f" {frames} frames = {audio_s:.1f} s of audio per stream", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="the tiny test architecture on CPU (a few minutes)")
    parser.add_argument("--sizes", default="0.6B,1.7B")
    parser.add_argument("--frames", type=int, default=150, help="codec frames per stream (12.5 per audio second)")
    parser.add_argument("--batches", default="1,2,4,8")
    parser.add_argument("--schedule", default="4,8,16,25", help="frames per streamed chunk, first ones first")
    parser.add_argument("--device", default=None)
    parser.add_argument("--dtype", default=None)
    args = parser.parse_args()

    import torch

    args.batches = [int(b) for b in args.batches.split(",")]
    args.schedule = [int(s) for s in args.schedule.split(",")]
    if args.tiny:
        sizes = ["tiny"]
        args.device = args.device or "cpu"
        args.frames = min(args.frames, 40)
        args.batches = [b for b in args.batches if b <= 2]
    else:
        sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
        args.device = args.device or ("cuda:0" if torch.cuda.is_available() else "cpu")
    args.dtype = args.dtype or ("bfloat16" if args.device.startswith("cuda") else "float32")
    gpu = torch.cuda.get_device_name(0) if args.device.startswith("cuda") else "CPU"
    print(f"# Qwen3-TTS engine bench: {gpu}, torch {torch.__version__}, {args.dtype}, sizes {sizes},"
          f" frames {args.frames}, chunk schedule {args.schedule}", flush=True)
    rows: list[dict[str, Any]] = []
    started = time.perf_counter()
    for size in sizes:
        rows += bench_size(size, args, torch)
    print()
    print("| size | path | batch | first chunk | frames/s (all streams) | RTF per stream | peak GPU memory |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        first = f"{r['first'] * 1000:.0f} ms" + (" (whole segment)" if r["path"] == "old" else "")
        print(f"| {r['size']} | {r['path']} | {r['batch']} | {first} | {r['fps']:.1f} | {r['rtf']:.2f}× | {r['peak']} |")
    print(f"\n# total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
