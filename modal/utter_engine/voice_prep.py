"""From a voice's reference URL to a cached voice-clone prompt."""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass, field

from .audio_decode import DecodeError, decode_audio
from .errors import EngineFailure, ModelOutOfMemory
from .joins import natural_pause_ms
from .model_api import SpeechModel, Transcriber
from .prompt_cache import PromptCache, prompt_key
from .protocol import VoiceRef
from .reference_window import ReferenceUnusable, WindowSettings, select_reference_window
from .worker_client import ReferenceTooLarge, WorkerClient, WorkerRejected, WorkerUnreachable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VoiceSettings:
    # Uploads are capped at 50 MB by the Worker; a little headroom for container overhead.
    max_reference_bytes: int = 60 * 1024 * 1024
    window: WindowSettings = field(default_factory=WindowSettings)


@dataclass(frozen=True)
class PreparedVoice:
    prompt: object
    cache_hit: bool
    transcript_source: str  # "cache" | "reference_text" | "asr" | "none"
    # How long the speaker pauses between phrases (joins.natural_pause_ms); None when the clip does not say.
    pause_ms: int | None = None


# The measured pause per prompt key, beside the prompt cache (same keys, same lifetime per container).
_PAUSES: OrderedDict[str, int | None] = OrderedDict()
_MAX_PAUSES = 256


def _remember_pause(key: str, pause_ms: int | None) -> None:
    _PAUSES[key] = pause_ms
    _PAUSES.move_to_end(key)
    while len(_PAUSES) > _MAX_PAUSES:
        _PAUSES.popitem(last=False)


# The Worker's name for a clip (reference_id + transcript) → its prompt key: a clip seen before needs
# no download. Keys only; the prompts themselves stay in the prompt cache and leave it as it decides.
_BY_REFERENCE_ID: OrderedDict[str, str] = OrderedDict()


def _named_key(voice: VoiceRef) -> str | None:
    return f"{voice.reference_id}\0{voice.reference_text or ''}" if voice.reference_id else None


def _remember_name(name: str, key: str) -> None:
    _BY_REFERENCE_ID[name] = key
    _BY_REFERENCE_ID.move_to_end(name)
    while len(_BY_REFERENCE_ID) > _MAX_PAUSES:
        _BY_REFERENCE_ID.popitem(last=False)


def download_reference(client: WorkerClient, url: str, max_bytes: int) -> bytes:
    try:
        data, _content_type = client.get_reference(url, max_bytes=max_bytes)
    except WorkerRejected as exc:
        raise EngineFailure(
            "reference_unavailable",
            f"The reference audio could not be downloaded (HTTP {exc.status}).",
            retryable=exc.status >= 500,
        ) from exc
    except WorkerUnreachable as exc:
        raise EngineFailure(
            "reference_unavailable", f"The reference audio could not be downloaded ({exc.last}).", retryable=True
        ) from exc
    except ReferenceTooLarge as exc:
        raise EngineFailure("reference_unusable", f"The reference audio is too large: {exc}.", retryable=False) from exc
    return data


def prepare_voice(
    *,
    client: WorkerClient,
    voice: VoiceRef,
    language: str,
    model: SpeechModel,
    transcriber: Transcriber | None,
    cache: PromptCache,
    settings: VoiceSettings | None = None,
) -> PreparedVoice:
    s = settings or VoiceSettings()
    # A clip the Worker names (ADR 0024) and this container has prepared: no download at all.
    named = _named_key(voice)
    known = _BY_REFERENCE_ID.get(named) if named else None
    if known is not None:
        cached = cache.get(known)
        if cached is not None:
            _remember_name(named, known)
            return PreparedVoice(cached, True, "cache", _PAUSES.get(known))
    data = download_reference(client, voice.reference_url, s.max_reference_bytes)
    key = prompt_key(data, voice.reference_text)
    if named:
        _remember_name(named, key)
    cached = cache.get(key)
    if cached is not None:
        return PreparedVoice(cached, True, "cache", _PAUSES.get(key))

    rate = model.sample_rate
    try:
        decoded = decode_audio(data, rate)
        window = select_reference_window(decoded, rate, s.window)
    except (DecodeError, ReferenceUnusable) as exc:
        raise EngineFailure(
            "reference_unusable", f"The reference audio cannot be used: {exc}.", retryable=False
        ) from exc

    # The upload's transcript only matches the clip if the clip holds all of its speech.
    given = (voice.reference_text or "").strip()
    transcript: str | None = given if given and window.covers_all_speech else None
    source = "reference_text" if transcript else "none"
    if transcript is None and transcriber is not None:
        try:
            transcript = transcriber.transcribe(window.audio, rate, language).strip() or None
            source = "asr" if transcript else "none"
        except Exception:
            # Cloning from the speaker embedding alone still works, just less closely.
            log.exception("transcribing the reference window failed; cloning without a transcript")

    try:
        prompt = model.create_voice_prompt(window.audio, rate, transcript)
    except ModelOutOfMemory as exc:
        raise EngineFailure("out_of_memory", "Preparing the voice ran out of GPU memory.", retryable=True) from exc
    except EngineFailure:
        raise
    except Exception as exc:
        raise EngineFailure(
            "generation_failed", f"Preparing the voice failed: {type(exc).__name__}: {exc}", retryable=True
        ) from exc
    pause_ms = natural_pause_ms(decoded, rate)
    cache.put(key, prompt)
    _remember_pause(key, pause_ms)
    return PreparedVoice(prompt, False, source, pause_ms)
