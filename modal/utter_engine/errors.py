"""Exceptions that carry a job's fate through the runner."""

from __future__ import annotations

from .protocol import EngineError


class EngineFailure(Exception):
    """The job failed in a way the Worker must hear about, as a protocol `failed` event."""

    def __init__(self, code: str, message: str, *, retryable: bool) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message[:1000]
        self.retryable = retryable

    def to_error(self) -> EngineError:
        return EngineError(code=self.code, message=self.message or self.code, retryable=self.retryable)


class JobStopped(Exception):
    """Stop quietly: the job was cancelled, the Worker says it is terminal, or the Worker is gone.

    The protocol says a cancelled job sends no further events, so this never becomes a `failed`.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ModelOutOfMemory(Exception):
    """The accelerator ran out of memory for this batch; a smaller batch may fit."""


class UnusableAudio(ValueError):
    """Audio given for transcription is not decodable speech (answered 422, not 503)."""


class DeviceFailure(Exception):
    """The accelerator is in a state no later job can use (a sticky CUDA error): stop taking inputs."""


class Preempted(BaseException):
    """The platform is taking the container away (SIGINT/KeyboardInterrupt) in the middle of a job."""
