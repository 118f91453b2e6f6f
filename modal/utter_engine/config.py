"""Engine configuration, read once from the environment.

`modal deploy` evaluates `app.py` locally, so these values shape the deployment
(GPU type, warm window); they are also passed into the containers' environment
so the code running there sees the same settings.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields

MINUTES = 60

# Qwen3-TTS checkpoints. 12Hz = the 12.5 frames-per-second speech codec.
CLONE_MODEL_LARGE = "Qwen/Qwen3-TTS-12Hz-1.7B-Base"
CLONE_MODEL_SMALL = "Qwen/Qwen3-TTS-12Hz-0.6B-Base"
DESIGN_MODEL = "Qwen/Qwen3-TTS-12Hz-1.7B-VoiceDesign"
ASR_MODEL = "openai/whisper-large-v3-turbo"


@dataclass(frozen=True)
class EngineConfig:
    app_name: str = "utter-engine"
    clone_model: str = CLONE_MODEL_LARGE
    design_model: str = DESIGN_MODEL
    asr_model: str = ASR_MODEL
    # Everything `download_weights` puts on the Volume (both clone sizes, so switching is a redeploy).
    download_models: str = ",".join([CLONE_MODEL_LARGE, CLONE_MODEL_SMALL, DESIGN_MODEL, ASR_MODEL])
    models_volume: str = "utter-models"
    models_dir: str = "/models"
    secret_name: str = "utter-engine"
    # Optional Modal Secret holding HF_TOKEN for the weight download (the Qwen and Whisper repos are public).
    hf_secret: str = ""
    cancel_dict: str = "utter-engine-cancel-flags"
    # job id -> call id, so a repeated submit returns the first call (and a preempted v1 job is not replayed).
    jobs_dict: str = "utter-engine-jobs"
    gpu: str = "L4"
    # Seconds an idle GPU container stays warm: longer = fewer cold starts, more idle cost.
    scaledown_seconds: int = 5 * MINUTES
    min_containers: int = 0
    # A 50,000-character job is about an hour of audio (ADR 0023): room for it at well under real time,
    # as long as the Worker's job token (worker/tasks/timeouts.ts `jobTokenMs`). A job cut off here is
    # resumed by the Worker from its last durable part.
    job_timeout_seconds: int = 150 * MINUTES
    # Reserved per GPU container (Modal's default is 0.125 core / 128 MiB, burstable). Not measured yet:
    # sized from the 1.7B model's load (≈ 3.4 GB of bf16 weights through host memory, torch and
    # transformers ≈ 2 GB, Whisper on first use ≈ 1.6 GB) plus reference decoding, resampling,
    # loudness and MP3 encoding on the CPU while the GPU generates. See docs/engine.md.
    cpu: float = 4.0
    memory_mb: int = 16384
    # Most GPU containers at once: bounds the bill if a bug or a flood submits many jobs.
    max_containers: int = 10
    # Stream audio while it decodes (protocol 2's live path): static cache + CUDA graphs (ADR 0012).
    streaming: bool = True
    # GPU memory snapshots are an alpha Modal feature; CPU snapshots (imports) are always on.
    gpu_snapshot: bool = False
    attn_implementation: str = "sdpa"
    max_batch_size: int = 4
    heartbeat_seconds: float = 5.0
    # How long a cancelled job may keep running (finishing its batch) before it is killed.
    cancel_grace_seconds: int = 30

    @classmethod
    def from_env(cls, environ: Mapping[str, str | None] | None = None) -> EngineConfig:
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = env.get(f"UTTER_{f.name.upper()}")
            if raw is None or raw == "":
                continue
            default = f.default
            try:
                if isinstance(default, bool):
                    values[f.name] = raw.strip().lower() in ("1", "true", "yes", "on")
                elif isinstance(default, int):
                    values[f.name] = int(raw)
                elif isinstance(default, float):
                    values[f.name] = float(raw)
                else:
                    values[f.name] = raw
            except ValueError as exc:
                # Fail loudly at deploy time rather than run with a silently ignored setting.
                raise ValueError(f"UTTER_{f.name.upper()}={raw!r} is not a valid {type(default).__name__}") from exc
        return cls(**values)  # type: ignore[arg-type]

    def to_env(self) -> dict[str, str | None]:
        out: dict[str, str | None] = {}
        for name, value in asdict(self).items():
            out[f"UTTER_{name.upper()}"] = ("1" if value else "0") if isinstance(value, bool) else str(value)
        return out

    def gpu_list(self) -> str | list[str]:
        """`L4` or a fallback list such as `L4,A10G` (Modal takes the first available)."""
        names = [g.strip() for g in self.gpu.split(",") if g.strip()]
        return names[0] if len(names) == 1 else names

    def model_dir(self, repo_id: str) -> str:
        return f"{self.models_dir}/{repo_id}"

    def download_list(self) -> list[str]:
        wanted = [m.strip() for m in self.download_models.split(",") if m.strip()]
        for needed in (self.clone_model, self.design_model, self.asr_model):
            if needed not in wanted:
                wanted.append(needed)
        return wanted
