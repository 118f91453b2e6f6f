"""Engine protocol v1 and v2: pydantic mirror of `worker/engine/protocol.ts` (the zod source of truth).

Same names, constraints and refinements as the zod schemas; both are pinned by
the shared fixtures in `test/fixtures/engine-protocol/`. Unknown keys are
accepted and dropped, as zod objects strip them. Value semantics (numbers,
nulls, regexes, URLs) follow JavaScript; see `js_types`.
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    TypeAdapter,
    field_validator,
    model_validator,
)

from .js_types import (
    iso_datetime_with_offset,
    js_boolean,
    js_int,
    js_number,
    js_regex,
    js_string,
    js_http_url,
    js_ws_url,
    not_blank,
    not_null,
)

PROTOCOL_VERSION: Final = 1
# The newest protocol this engine speaks (ADR 0009); it still answers v1 submits as v1.
PROTOCOL_VERSIONS: Final[tuple[int, ...]] = (1, 2)

LanguageCode = Literal["auto", "en", "zh", "ja", "ko", "de", "fr", "ru", "pt", "es", "it"]
LANGUAGE_CODES: Final[tuple[str, ...]] = get_args(LanguageCode)
JobKind = Literal["generate", "design_preview"]
TaskState = Literal["queued", "dispatched", "running", "succeeded", "failed", "cancelled"]
TERMINAL_STATES: Final[frozenset[str]] = frozenset({"succeeded", "failed", "cancelled"})

KNOWN_ENGINE_ERROR_CODES: Final[tuple[str, ...]] = (
    "invalid_input",
    "reference_unavailable",
    "reference_unusable",
    "generation_failed",
    "runaway_generation",
    "out_of_memory",
    "upload_failed",
    "engine_timeout",
    "engine_unavailable",
    "internal",
)


# JavaScript-typed primitives (see js_types); constraints are added per field with Field(...).
JsStr = Annotated[str, BeforeValidator(js_string)]
JsInt = Annotated[int, BeforeValidator(js_int)]
JsNumber = Annotated[float, BeforeValidator(js_number)]
Bool = Annotated[bool, BeforeValidator(js_boolean)]

Id = Annotated[JsStr, AfterValidator(js_regex(r"[A-Za-z0-9_-]{1,64}", "must be 1-64 url-safe characters"))]
# Names a reference's bytes (ADR 0024): same id and reference_text → what was derived from it may be reused.
ReferenceId = Annotated[
    JsStr, AfterValidator(js_regex(r"[A-Za-z0-9_.:-]{1,128}", "1–128 characters of A–Z a–z 0–9 _ . : -"))
]
ErrorCode = Annotated[JsStr, AfterValidator(js_regex(r"[a-z][a-z0-9_]{0,63}", "must be a snake_case code"))]
Url = Annotated[JsStr, AfterValidator(js_http_url)]
IsoDateTime = Annotated[JsStr, AfterValidator(iso_datetime_with_offset)]
Language = Annotated[LanguageCode, BeforeValidator(js_string)]
Kind = Annotated[JobKind, BeforeValidator(js_string)]
State = Annotated[TaskState, BeforeValidator(js_string)]
ProtocolVersion = Annotated[Literal[1, 2], BeforeValidator(js_int)]
WsUrl = Annotated[JsStr, AfterValidator(js_ws_url)]
SampleRate = Annotated[JsInt, Field(ge=8000, le=48000)]
Seq = Annotated[JsInt, Field(ge=0)]
DurationMs = Annotated[JsInt, Field(ge=0)]


class _Message(BaseModel):
    # zod objects strip unknown keys; `extra="ignore"` is the same contract.
    model_config = ConfigDict(extra="ignore", frozen=True)

    def to_json(self) -> dict[str, Any]:
        """The wire form: optional fields that were not given are left out, never sent as null."""
        return self.model_dump(mode="json", exclude_none=True)


class EngineError(_Message):
    code: ErrorCode
    message: Annotated[JsStr, Field(min_length=1, max_length=1000)]
    retryable: Bool


class VoiceRef(_Message):
    voice_id: Id
    reference_url: Url
    reference_text: Annotated[JsStr, Field(max_length=5000)] | None = None
    reference_id: ReferenceId | None = None

    @field_validator("reference_text", "reference_id", mode="before")
    @classmethod
    def _optional_not_null(cls, value: Any) -> Any:
        return not_null(value)


class OutputSpec(_Message):
    format: Annotated[Literal["wav"], BeforeValidator(js_string)]
    sample_rate: SampleRate


class Callbacks(_Message):
    events_url: Url
    # Segments go to f"{upload_url}/segments/{index}", the stitched file to f"{upload_url}/final".
    upload_url: Url
    # Job token: bearer for every callback, upload and reference download. Opaque to engines.
    token: Annotated[JsStr, Field(min_length=16, max_length=512)]
    # Protocol 2 (ADR 0009): the task's engine socket, `…/internal/engine/jobs/:id/stream`.
    stream_url: WsUrl | None = None

    @field_validator("stream_url", mode="before")
    @classmethod
    def _optional_not_null(cls, value: Any) -> Any:
        return not_null(value)


MAX_PAUSE_MS = 3000  # mirrors worker/engine/protocol.ts
MAX_RESUMES = 3  # mirrors worker/engine/protocol.ts


class ResumeFrom(_Message):
    """A resumed attempt (ADR 0023): parts before `segment` are durable; render from it."""

    attempt: Annotated[JsInt, Field(ge=1, le=MAX_RESUMES)]
    segment: Annotated[JsInt, Field(ge=0, le=9999)]
    # Samples of the live stream before that part; None: the durable parts' length.
    stream_offset: Annotated[JsInt, Field(ge=0)] | None = None
    next_seq: Annotated[JsInt, Field(ge=0)]

    @field_validator("stream_offset", mode="before")
    @classmethod
    def _optional_not_null(cls, value: Any) -> Any:
        return not_null(value)


class RenderParts(_Message):
    """A part regeneration (ADR 0026): render `indices`, read every other part back; the text splits into `segments_total`."""

    indices: Annotated[list[Annotated[JsInt, Field(ge=0, le=999)]], Field(min_length=1, max_length=1000)]
    segments_total: Annotated[JsInt, Field(ge=1, le=1000)]

    @model_validator(mode="after")
    def _ordered_and_in_range(self) -> RenderParts:
        # Mirrors the zod superRefine.
        if any(b <= a for a, b in zip(self.indices, self.indices[1:])):
            raise ValueError("indices must be strictly ascending")
        if any(i >= self.segments_total for i in self.indices):
            raise ValueError("every index must be below segments_total")
        return self


class SubmitRequest(_Message):
    protocol: ProtocolVersion
    job_id: Id
    kind: Kind
    # Up to the longest plan limit (worker/services/pricing.ts `textChars`).
    text: Annotated[JsStr, Field(min_length=1, max_length=50000), AfterValidator(not_blank)]
    language: Language
    voice: VoiceRef | None = None
    # Natural-language voice description (design_preview) or style instruction.
    instruct: Annotated[JsStr, Field(min_length=1, max_length=500)] | None = None
    seed: Annotated[JsInt, Field(ge=0, le=2**31 - 1)] | None = None
    # Silence between sentences and parts in ms (twice at a paragraph break); None: match the voice's own.
    pause_ms: Annotated[JsInt, Field(ge=0, le=MAX_PAUSE_MS)] | None = None
    output: OutputSpec
    callbacks: Callbacks
    # ISO-8601 instant after which the Worker no longer accepts this job's events.
    deadline: IsoDateTime
    # Present on a resumed attempt only (ADR 0023).
    resume_from: ResumeFrom | None = None
    # Present on a part regeneration only (ADR 0026): render these parts, read the rest back.
    render_parts: RenderParts | None = None

    @field_validator("voice", "instruct", "seed", "pause_ms", "resume_from", "render_parts", mode="before")
    @classmethod
    def _optional_not_null(cls, value: Any) -> Any:
        return not_null(value)

    @model_validator(mode="after")
    def _kind_needs(self) -> SubmitRequest:
        # Mirrors the zod superRefine.
        if self.kind == "generate" and self.voice is None:
            raise ValueError("generate jobs need a voice")
        if self.kind == "design_preview" and self.instruct is None:
            raise ValueError("design_preview jobs need an instruct (voice description)")
        if self.protocol == 2 and self.callbacks.stream_url is None:
            raise ValueError("protocol 2 submits need callbacks.stream_url")
        if self.kind != "generate" and self.render_parts is not None:
            raise ValueError("only generate jobs regenerate parts")
        return self


def submit_idempotency_key(request: SubmitRequest) -> str:
    """Mirrors `submitIdempotencyKey`: a resumed attempt is a new call of the same job (ADR 0023)."""
    if request.resume_from is None:
        return request.job_id
    return f"{request.job_id}.resume.{request.resume_from.attempt}"


class SubmitResponse(_Message):
    call_id: Annotated[JsStr, Field(min_length=1, max_length=256)]


class CancelResponse(_Message):
    cancelled: Bool


class _EventBase(_Message):
    job_id: Id
    seq: Seq


class StartedEvent(_EventBase):
    type: Annotated[Literal["started"], BeforeValidator(js_string)]
    # How many segments the text was split into, when known.
    segments_total: Annotated[JsInt, Field(ge=1, le=1000)] | None = None
    # Characters of each segment, in index order (ADR 0009 amendment): lets a stopped job be charged fairly.
    segment_chars: Annotated[list[Annotated[JsInt, Field(ge=0, le=5000)]], Field(min_length=1, max_length=1000)] | None = None

    @field_validator("segments_total", "segment_chars", mode="before")
    @classmethod
    def _optional_not_null(cls, value: Any) -> Any:
        return not_null(value)


class ProgressEvent(_EventBase):
    type: Annotated[Literal["progress"], BeforeValidator(js_string)]
    progress: Annotated[JsNumber, Field(ge=0, le=1)]
    stage: Annotated[JsStr, Field(min_length=1, max_length=64)]


class SegmentEvent(_EventBase):
    """Sent only after the segment's upload has been accepted."""

    type: Annotated[Literal["segment"], BeforeValidator(js_string)]
    index: Annotated[JsInt, Field(ge=0, le=999)]
    duration_ms: DurationMs
    # This segment's characters (ADR 0009 amendment), optional.
    chars: Annotated[JsInt, Field(ge=0, le=5000)] | None = None

    @field_validator("chars", mode="before")
    @classmethod
    def _optional_not_null(cls, value: Any) -> Any:
        return not_null(value)


class HeartbeatEvent(_EventBase):
    type: Annotated[Literal["heartbeat"], BeforeValidator(js_string)]


class CompletedEvent(_EventBase):
    """Sent only after the final upload has been accepted."""

    type: Annotated[Literal["completed"], BeforeValidator(js_string)]
    duration_ms: DurationMs
    sample_rate: SampleRate
    size_bytes: Annotated[JsInt, Field(ge=44)]


class FailedEvent(_EventBase):
    type: Annotated[Literal["failed"], BeforeValidator(js_string)]
    error: EngineError


EngineEventModel = StartedEvent | ProgressEvent | SegmentEvent | HeartbeatEvent | CompletedEvent | FailedEvent


def _event_type(value: Any) -> Any:
    # A callable discriminator, because pydantic's field discriminator refuses the
    # before-validators that give `type` its JavaScript string semantics.
    tag = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    return tag if isinstance(tag, str) else None


EngineEvent: TypeAdapter[EngineEventModel] = TypeAdapter(
    Annotated[
        Annotated[StartedEvent, Tag("started")]
        | Annotated[ProgressEvent, Tag("progress")]
        | Annotated[SegmentEvent, Tag("segment")]
        | Annotated[HeartbeatEvent, Tag("heartbeat")]
        | Annotated[CompletedEvent, Tag("completed")]
        | Annotated[FailedEvent, Tag("failed")],
        Discriminator(_event_type),
    ]
)


class EventAck(_Message):
    """The Worker's answer to an event POST; a terminal `state` tells the engine to stop."""

    accepted: Bool
    state: State


class UploadAck(_Message):
    size_bytes: Annotated[JsInt, Field(ge=0)]


# --- protocol v2 (ADR 0009): the engine socket and the artifact uploads ------------------------

ArtifactIndex = Annotated[JsInt, Field(ge=0)]
Frame = Annotated[JsInt, Field(ge=-1)]
PartNumber = Annotated[JsInt, Field(ge=1, le=10000)]
Etag = Annotated[JsStr, Field(min_length=1, max_length=256)]


class ArtifactRef(_Message):
    kind: Annotated[JsStr, Field(min_length=1, max_length=64)]
    index: ArtifactIndex | None = None


class StreamHello(_Message):
    """DO → engine, first message on the socket: where the task stands (−1 = nothing yet)."""

    type: Annotated[Literal["hello"], BeforeValidator(js_string)]
    acked_seq: Annotated[JsInt, Field(ge=-1)]
    state: State
    artifacts: list[ArtifactRef]
    last_frame: Frame
    # Proposed in ADR 0013 (optional, so ADR 0009's DO is still valid): samples in the live
    # stream so far, so a rerun's first frame carries the right `stream_offset`.
    stream_offset: Annotated[JsInt, Field(ge=0)] | None = None

    @field_validator("stream_offset", mode="before")
    @classmethod
    def _optional_not_null(cls, value: Any) -> Any:
        return not_null(value)


class StreamAck(_Message):
    """DO → engine: the answer to one event, by its seq."""

    type: Annotated[Literal["ack"], BeforeValidator(js_string)]
    seq: Seq
    accepted: Bool
    state: State


class StreamCancel(_Message):
    """DO → engine: the task ended from outside; the socket then closes with 4009."""

    type: Annotated[Literal["cancel"], BeforeValidator(js_string)]
    state: Annotated[Literal["cancelled", "failed"], BeforeValidator(js_string)]


class ArtifactAck(_Message):
    kind: Annotated[JsStr, Field(min_length=1, max_length=64)]
    index: ArtifactIndex | None
    size_bytes: Annotated[JsInt, Field(ge=0)]

    def to_json(self) -> dict[str, Any]:
        # `index` is always present on the wire (null for unindexed kinds).
        return self.model_dump(mode="json")


class MultipartStart(_Message):
    upload_id: Annotated[JsStr, Field(min_length=1, max_length=1024)]
    part_size: Annotated[JsInt, Field(ge=1)]


class MultipartPart(_Message):
    part_number: PartNumber
    etag: Etag


class MultipartComplete(_Message):
    parts: Annotated[list[MultipartPart], Field(min_length=1, max_length=10000)]

    @field_validator("parts")
    @classmethod
    def _ascending(cls, parts: list[MultipartPart]) -> list[MultipartPart]:
        numbers = [p.part_number for p in parts]
        if any(b <= a for a, b in zip(numbers, numbers[1:])):
            raise ValueError("parts must be in ascending part_number order without repeats")
        return parts


MAX_PEAKS: Final = 8000  # mirrors worker/engine/peaks.ts
PEAKS_PER_SECOND: Final = 50


class Peaks(BaseModel):
    """The `peaks` artifact (ADR 0023), mirrored from `Peaks` in worker/engine/peaks.ts (strict, as there)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    version: Annotated[Literal[1], BeforeValidator(js_int)]
    sample_rate: SampleRate
    length: Annotated[JsInt, Field(ge=1)]
    samples_per_peak: Annotated[JsInt, Field(ge=1)]
    peaks: Annotated[list[Annotated[JsNumber, Field(ge=0, le=1)]], Field(min_length=1, max_length=MAX_PEAKS)]

    @model_validator(mode="after")
    def _count(self) -> Peaks:
        expected = -(-self.length // self.samples_per_peak)
        if len(self.peaks) != expected:
            raise ValueError(f"expected ceil(length / samples_per_peak) = {expected} peaks, got {len(self.peaks)}")
        return self


def _message_type(value: Any) -> Any:
    tag = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    return tag if isinstance(tag, str) else None


# Any text message the DO sends the engine on its socket.
StreamMessage: TypeAdapter[StreamHello | StreamAck | StreamCancel] = TypeAdapter(
    Annotated[
        Annotated[StreamHello, Tag("hello")] | Annotated[StreamAck, Tag("ack")] | Annotated[StreamCancel, Tag("cancel")],
        Discriminator(_message_type),
    ]
)

# Every schema the shared fixtures name, by the name they use.
PROTOCOL_SCHEMAS: Final[dict[str, TypeAdapter[Any]]] = {
    "SubmitRequest": TypeAdapter(SubmitRequest),
    "SubmitResponse": TypeAdapter(SubmitResponse),
    "CancelResponse": TypeAdapter(CancelResponse),
    "EngineEvent": EngineEvent,
    "EventAck": TypeAdapter(EventAck),
    "UploadAck": TypeAdapter(UploadAck),
    "StreamHello": TypeAdapter(StreamHello),
    "StreamAck": TypeAdapter(StreamAck),
    "StreamCancel": TypeAdapter(StreamCancel),
    "ArtifactAck": TypeAdapter(ArtifactAck),
    "MultipartStart": TypeAdapter(MultipartStart),
    "MultipartPart": TypeAdapter(MultipartPart),
    "MultipartComplete": TypeAdapter(MultipartComplete),
    "Peaks": TypeAdapter(Peaks),
}
V1_SCHEMAS: Final[frozenset[str]] = frozenset(
    {"SubmitRequest", "SubmitResponse", "CancelResponse", "EngineEvent", "EventAck", "UploadAck"}
)


def parse(schema: str, value: Any) -> Any:
    """Validate a decoded JSON value against the named schema (raises pydantic.ValidationError)."""
    return PROTOCOL_SCHEMAS[schema].validate_python(value)
