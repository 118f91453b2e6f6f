"""The artifact registry (ADR 0009), mirrored from `worker/engine/artifacts.ts`.

Pinned field for field by `test/fixtures/engine-protocol/v2/artifact-kinds.json`
(the tests compare). A new kind is one entry here and in the Worker, plus the
engine code that produces it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

MIB: Final = 1024 * 1024
# Uploads of at most this many bytes are one PUT; bigger ones go in parts of PART_SIZE.
MAX_SINGLE_BYTES: Final = 8 * MIB
PART_SIZE: Final = 8 * MIB


@dataclass(frozen=True)
class ArtifactKind:
    content_types: tuple[str, ...]
    indexed: bool
    max_bytes: int
    job_kinds: tuple[str, ...]
    after_completed: bool
    public: bool
    max_index: int | None = None
    # JSON kinds: the schema every upload must satisfy (the Worker parses it before storing; see alignment.py).
    content_schema: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"content_types": list(self.content_types), "indexed": self.indexed}
        if self.max_index is not None:
            out["max_index"] = self.max_index
        out |= {
            "max_bytes": self.max_bytes,
            "job_kinds": list(self.job_kinds),
            "after_completed": self.after_completed,
            "public": self.public,
        }
        if self.content_schema is not None:
            out["content_schema"] = self.content_schema
        return out


ARTIFACT_KINDS: Final[dict[str, ArtifactKind]] = {
    "segment": ArtifactKind(
        content_types=("audio/wav",),
        indexed=True,
        max_index=9999,
        max_bytes=50 * MIB,
        job_kinds=("generate", "design_preview"),
        after_completed=False,
        public=True,
    ),
    "final": ArtifactKind(
        content_types=("audio/wav",),
        indexed=False,
        max_bytes=1024 * MIB,
        job_kinds=("generate", "design_preview"),
        after_completed=False,
        public=True,
    ),
    "final_mp3": ArtifactKind(
        content_types=("audio/mpeg",),
        indexed=False,
        max_bytes=256 * MIB,
        job_kinds=("generate",),
        after_completed=True,
        public=True,
    ),
    # Word timings in the final file (ADR 0021); after `completed`: the recogniser runs over the finished audio.
    "alignment": ArtifactKind(
        content_types=("application/json",),
        indexed=False,
        max_bytes=8 * MIB,
        job_kinds=("generate",),
        after_completed=True,
        public=True,
        content_schema="alignment",
    ),
    # The final audio's waveform (peaks.py, `Peaks` in worker/engine/peaks.ts; ADR 0023).
    "peaks": ArtifactKind(
        content_types=("application/json",),
        indexed=False,
        max_bytes=256 * 1024,
        job_kinds=("generate",),
        after_completed=False,
        public=True,
        content_schema="peaks",
    ),
}


def registry_json() -> dict[str, Any]:
    """The registry in the fixture's shape (without its description)."""
    return {
        "part_size": PART_SIZE,
        "max_single_bytes": MAX_SINGLE_BYTES,
        "kinds": {name: kind.to_json() for name, kind in ARTIFACT_KINDS.items()},
    }


def artifact_path(kind: str, index: int | None = None) -> str:
    """`artifacts/{kind}[/{index}]`, relative to the submit's upload_url; refuses what the Worker would."""
    spec = ARTIFACT_KINDS.get(kind)
    if spec is None:
        raise ValueError(f"unknown artifact kind {kind!r}")
    if spec.indexed != (index is not None):
        raise ValueError(f"artifact kind {kind!r} {'needs' if spec.indexed else 'takes no'} index")
    if index is not None and (index < 0 or (spec.max_index is not None and index > spec.max_index)):
        raise ValueError(f"artifact index {index} is out of range for {kind!r}")
    return f"artifacts/{kind}" if index is None else f"artifacts/{kind}/{index}"
