"""Where a job's audio goes: v1 upload paths, v2 artifacts (single PUT or multipart), the live path.

v1: `PUT {upload_url}/segments/{n}`, `/final`, `/final.mp3`.
v2 (ADR 0009): `PUT {upload_url}/artifacts/{kind}[/{index}]` up to 8 MiB, larger
bodies as R2 multipart (`POST …/uploads`, `PUT …/uploads/{id}/parts/{n}`,
`POST …/uploads/{id}/complete`). The live path sends binary PCM frames on the
engine socket as the model decodes them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from .artifacts import ARTIFACT_KINDS, MAX_SINGLE_BYTES, artifact_path
from .frames import MAX_PAYLOAD_BYTES
from .protocol import ArtifactAck, MultipartComplete, MultipartPart, MultipartStart, SubmitRequest
from .stream_client import StreamSession
from .wav import pcm16
from .worker_client import WorkerClient

log = logging.getLogger(__name__)

# `peaks` has no v1 path: the artifact route takes it from v1 engines too (ADR 0023).
_V1_PATHS = {"segment": "segments/{index}", "final": "final", "final_mp3": "final.mp3", "peaks": "artifacts/peaks"}


class Uploads:
    """Uploads one job's files, by artifact kind, in the protocol the job was submitted with."""

    def __init__(self, client: WorkerClient, job: SubmitRequest) -> None:
        self._client = client
        self._base = job.callbacks.upload_url.rstrip("/")
        self.v2 = job.protocol == 2

    def describe(self, kind: str, index: int | None = None) -> str:
        if self.v2:
            return artifact_path(kind, index)
        if kind not in _V1_PATHS:
            raise ValueError(f"protocol 1 has no upload path for {kind!r} artifacts")
        return _V1_PATHS[kind].format(index=index)

    def put(self, kind: str, body: bytes, *, index: int | None = None) -> None:
        content_type = ARTIFACT_KINDS[kind].content_types[0]
        url = f"{self._base}/{self.describe(kind, index)}"
        if not self.v2 or len(body) <= MAX_SINGLE_BYTES:
            self._client.put_upload(url, body, content_type=content_type)
            return
        self._multipart(url, body, content_type)

    def _multipart(self, url: str, body: bytes, content_type: str) -> ArtifactAck | None:
        start = MultipartStart.model_validate(self._client.post_json(f"{url}/uploads", {}))
        parts: list[MultipartPart] = []
        size = start.part_size
        for number, offset in enumerate(range(0, len(body), size), start=1):
            answer = self._client.put_bytes(
                f"{url}/uploads/{start.upload_id}/parts/{number}", body[offset : offset + size], content_type
            )
            parts.append(MultipartPart.model_validate(answer))
        done = MultipartComplete(parts=parts)
        return ArtifactAck.model_validate(self._client.post_json(f"{url}/uploads/{start.upload_id}/complete", done.to_json()))

    def fetch_segment(self, index: int) -> bytes:
        """A durable segment of an earlier attempt (resume after preemption); raises when unavailable."""
        data, _ = self._client.get_reference(f"{self._base}/{artifact_path('segment', index)}", max_bytes=50 * 2**20)
        return data


@dataclass
class LiveAudio:
    """Sends one job's audio as v2 frames: PCM s16le at the job's rate, ≤ 4 s per frame."""

    session: StreamSession
    sample_rate: int
    segment_offsets: dict[int, int] = field(default_factory=dict)
    frames_sent: int = 0

    def restart_segment(self, segment: int) -> None:
        """A regenerated segment (runaway guard) streams again from its first sample."""
        self.segment_offsets[segment] = 0

    def send(self, segment: int, audio: NDArray[np.float32], *, last: bool) -> None:
        pcm = pcm16(audio)
        offset = self.segment_offsets.get(segment, 0)
        max_bytes = MAX_PAYLOAD_BYTES
        pieces = [pcm[i : i + max_bytes] for i in range(0, len(pcm), max_bytes)] or [b""]
        for n, piece in enumerate(pieces):
            is_last = last and n == len(pieces) - 1
            self.session.send_audio(segment=segment, segment_offset=offset, pcm=piece, last_in_segment=is_last)
            offset += len(piece) // 2
            self.frames_sent += 1
        self.segment_offsets[segment] = offset
