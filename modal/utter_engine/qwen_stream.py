"""Streaming Qwen3-TTS: codec frames one step at a time, decoded in growing chunks with left context.

Frames come from one of two steppers over the same talker inputs (built by
faster-qwen3-tts's input builder, ADR 0012):
- `graph` (CUDA): faster-qwen3-tts's static-KV-cache + CUDA-graph talker and code
  predictor (`fast_generate_streaming`, one frame per yield);
- `eager` (CPU, tests, fallback): the talker's own forward with a dynamic cache,
  the same sampling, so the CPU tests run the real model code.

`ChunkDecoder` turns frames into audio: a small first chunk so sound leaves the
GPU as early as the model allows, then larger ones (fewer decoder calls); each
chunk is decoded with up to `left_context` earlier frames in front and only the
new frames' samples kept, so the codec's causal convolutions and its sliding
attention see what they would in one whole decode and joins are inaudible.

Needs torch; imported only by `qwen_model` inside its GPU paths.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

# First chunk 4 frames (0.32 s of audio), then doubling up to 2 s per chunk.
DEFAULT_SCHEDULE: tuple[int, ...] = (4, 8, 16, 25)
LEFT_CONTEXT_FRAMES = 25


@dataclass(frozen=True)
class Sampling:
    temperature: float = 0.9
    top_k: int = 50
    top_p: float = 1.0
    do_sample: bool = True
    repetition_penalty: float = 1.05
    min_new_tokens: int = 2


class ChunkDecoder:
    """Accumulates codec frames; `push` returns audio for whole chunks, `finish` the rest."""

    def __init__(
        self,
        decode: Any,
        samples_per_frame: int,
        *,
        schedule: Sequence[int] = DEFAULT_SCHEDULE,
        left_context: int = LEFT_CONTEXT_FRAMES,
        prefix: torch.Tensor | None = None,
    ) -> None:
        self._decode = decode
        self._spf = samples_per_frame
        self._schedule = tuple(schedule) or (1,)
        self._left = left_context
        # Frames decoded before the generated ones (the ICL reference's codes): context only, never emitted.
        self._prefix = prefix[-left_context:] if prefix is not None and left_context > 0 else None
        self._frames: list[torch.Tensor] = []
        self._emitted = 0
        self.chunks = 0

    @property
    def frames(self) -> int:
        return len(self._frames)

    def _next_size(self) -> int:
        return self._schedule[min(self.chunks, len(self._schedule) - 1)]

    def push(self, frame: torch.Tensor) -> NDArray[np.float32] | None:
        self._frames.append(frame.reshape(-1))
        if len(self._frames) - self._emitted >= self._next_size():
            return self._flush()
        return None

    def finish(self) -> NDArray[np.float32] | None:
        return self._flush() if len(self._frames) > self._emitted else None

    def _flush(self) -> NDArray[np.float32]:
        start = max(0, self._emitted - self._left)
        window = self._frames[start:]
        codes = torch.stack(window)
        context = self._emitted - start
        if self._prefix is not None and context < self._left:
            extra = self._prefix[-(self._left - context) :]
            codes = torch.cat([extra.to(codes.device), codes], dim=0)
            context += extra.shape[0]
        audio = self._decode(codes)
        new = audio[context * self._spf :]
        self._emitted = len(self._frames)
        self.chunks += 1
        return np.ascontiguousarray(new, dtype=np.float32)


def decoder_for(speech_tokenizer: Any) -> Any:
    """`codes [T, 16] -> float32 samples [T * samples_per_frame]` with the qwen-tts speech tokenizer."""

    def decode(codes: torch.Tensor) -> NDArray[np.float32]:
        wavs, _ = speech_tokenizer.decode({"audio_codes": codes.unsqueeze(0)})
        first = wavs[0]
        if hasattr(first, "detach"):
            first = first.detach().float().cpu().numpy()
        return np.asarray(first, dtype=np.float32).reshape(-1)

    return decode


def eager_frames(
    talker: Any,
    inputs: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor],
    config: Any,
    *,
    max_new_tokens: int,
    sampling: Sampling,
) -> Iterator[torch.Tensor]:
    """One codec frame ([num_code_groups] ids) per step, until end-of-speech or the budget."""
    from faster_qwen3_tts.sampling import apply_repetition_penalty, sample_logits

    embeds, mask, trailing, pad = inputs
    eos = config.codec_eos_token_id
    vocab = config.vocab_size
    # Control tokens (the top 1,024 ids) are never spoken; only end-of-speech may be sampled among them.
    suppress = torch.zeros(vocab, dtype=torch.bool, device=embeds.device)
    suppress[max(0, vocab - 1024) :] = True
    suppress[eos] = False
    kw = dict(
        temperature=sampling.temperature, top_k=sampling.top_k, top_p=sampling.top_p, do_sample=sampling.do_sample
    )
    with torch.inference_mode():
        out = talker.forward(
            inputs_embeds=embeds,
            attention_mask=mask,
            use_cache=True,
            output_hidden_states=True,
            return_dict=True,
            trailing_text_hidden=trailing,
            tts_pad_embed=pad,
            generation_step=None,
            past_hidden=None,
            past_key_values=None,
        )
        token = sample_logits(
            out.logits[:, -1, :], suppress_mask=suppress, suppress_tokens=[eos] if sampling.min_new_tokens else None, **kw
        )
        past, hidden, step = out.past_key_values, out.past_hidden, out.generation_step
        mask = mask.clone() if mask is not None else None
        history: list[torch.Tensor] = []
        for _ in range(max_new_tokens):
            if int(token.item()) == eos:
                return
            position = None
            if mask is not None:
                mask = torch.cat([mask, mask.new_ones((mask.shape[0], 1))], dim=1)
                position = torch.tensor([mask.shape[1] - 1], device=mask.device)
            out = talker.forward(
                input_ids=token.view(1, 1),
                attention_mask=mask,
                use_cache=True,
                output_hidden_states=True,
                return_dict=True,
                trailing_text_hidden=trailing,
                tts_pad_embed=pad,
                generation_step=step,
                past_hidden=hidden,
                past_key_values=past,
                subtalker_dosample=sampling.do_sample,
                subtalker_top_k=sampling.top_k,
                subtalker_top_p=sampling.top_p,
                subtalker_temperature=sampling.temperature,
                cache_position=position,
            )
            codes = out.hidden_states[1]
            if codes is None:
                return
            history.append(token.detach().reshape(-1))
            yield codes.reshape(-1).detach()
            logits = out.logits[:, -1, :]
            if sampling.repetition_penalty != 1.0:
                logits = apply_repetition_penalty(logits, torch.cat(history), sampling.repetition_penalty)
            suppress_eos = len(history) < sampling.min_new_tokens
            token = sample_logits(logits, suppress_mask=suppress, suppress_tokens=[eos] if suppress_eos else None, **kw)
            past, hidden, step = out.past_key_values, out.past_hidden, out.generation_step


def graph_frames(
    talker: Any,
    inputs: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor],
    config: Any,
    *,
    predictor_graph: Any,
    talker_graph: Any,
    max_new_tokens: int,
    sampling: Sampling,
) -> Iterator[torch.Tensor]:
    """The CUDA-graph stepper of faster-qwen3-tts, one frame per yield."""
    from faster_qwen3_tts.streaming import fast_generate_streaming

    embeds, mask, trailing, pad = inputs
    for chunk, _timing in fast_generate_streaming(
        talker=talker,
        talker_input_embeds=embeds,
        attention_mask=mask,
        trailing_text_hiddens=trailing,
        tts_pad_embed=pad,
        config=config,
        predictor_graph=predictor_graph,
        talker_graph=talker_graph,
        max_new_tokens=max_new_tokens,
        min_new_tokens=sampling.min_new_tokens,
        temperature=sampling.temperature,
        top_k=sampling.top_k,
        top_p=sampling.top_p,
        do_sample=sampling.do_sample,
        repetition_penalty=sampling.repetition_penalty,
        chunk_size=1,
    ):
        for frame in chunk:
            yield frame.reshape(-1)


class QwenStreamer:
    """Streams one text at a time through a loaded `qwen_tts.Qwen3TTSModel`."""

    def __init__(self, inner: Any, *, use_graphs: bool | None = None, max_seq_len: int = 2048) -> None:
        from faster_qwen3_tts import FasterQwen3TTS

        self._inner = inner
        device = getattr(inner, "device", torch.device("cpu"))
        self.device = torch.device(device)
        self.use_graphs = self.device.type == "cuda" if use_graphs is None else use_graphs
        m = inner.model
        dtype = next(m.parameters()).dtype
        predictor_graph = talker_graph = None
        if self.use_graphs:
            from faster_qwen3_tts.predictor_graph import PredictorGraph
            from faster_qwen3_tts.talker_graph import TalkerGraph

            talker_config = m.config.talker_config
            predictor_graph = PredictorGraph(
                m.talker.code_predictor,
                m.talker.code_predictor.model.config,
                talker_config.hidden_size,
                device=str(self.device),
                dtype=dtype,
                do_sample=True,
                top_k=50,
                temperature=0.9,
            )
            talker_graph = TalkerGraph(
                m.talker.model, talker_config, device=str(self.device), dtype=dtype, max_seq_len=max_seq_len
            )
        self._fast = FasterQwen3TTS(
            base_model=inner,
            predictor_graph=predictor_graph,
            talker_graph=talker_graph,
            device=str(self.device),
            dtype=dtype,
            max_seq_len=max_seq_len,
        )
        if not self.use_graphs:
            self._fast._warmed_up = True  # nothing to capture without CUDA
        tokenizer = m.speech_tokenizer
        self.samples_per_frame = int(tokenizer.get_decode_upsample_rate())
        self.sample_rate = int(tokenizer.get_output_sample_rate())
        self._decode = decoder_for(tokenizer)

    def warmup(self, prefill_len: int = 100) -> None:
        if self.use_graphs:
            self._fast.warmup(prefill_len)

    def _frames(self, talker: Any, config: Any, inputs: Any, max_new_tokens: int, sampling: Sampling) -> Iterator[torch.Tensor]:
        if self.use_graphs:
            return graph_frames(
                talker,
                inputs,
                config,
                predictor_graph=self._fast.predictor_graph,
                talker_graph=self._fast.talker_graph,
                max_new_tokens=max_new_tokens,
                sampling=sampling,
            )
        return eager_frames(talker, inputs, config, max_new_tokens=max_new_tokens, sampling=sampling)

    def stream_clone(
        self,
        text: str,
        language: str,
        prompt: Any,
        *,
        max_new_tokens: int,
        schedule: Sequence[int] = DEFAULT_SCHEDULE,
        sampling: Sampling | None = None,
    ) -> Iterator[NDArray[np.float32]]:
        items = list(prompt) if isinstance(prompt, (list, tuple)) else [prompt]
        m, talker, config, tie, tam, tth, tpe, ref_codes = self._fast._prepare_generation(
            text=text, language=language, voice_clone_prompt=items[:1], non_streaming_mode=False
        )
        decoder = ChunkDecoder(self._decode, self.samples_per_frame, schedule=schedule, prefix=ref_codes)
        yield from self._run(talker, config, (tie, tam, tth, tpe), decoder, max_new_tokens, sampling or Sampling())

    def stream_design(
        self,
        text: str,
        language: str,
        instruct: str,
        *,
        max_new_tokens: int,
        schedule: Sequence[int] = DEFAULT_SCHEDULE,
        sampling: Sampling | None = None,
    ) -> Iterator[NDArray[np.float32]]:
        m, talker, config, tie, tam, tth, tpe = self._fast._prepare_generation_custom(
            text=text, language=language, speaker=None, instruct=instruct, non_streaming_mode=True
        )
        decoder = ChunkDecoder(self._decode, self.samples_per_frame, schedule=schedule)
        yield from self._run(talker, config, (tie, tam, tth, tpe), decoder, max_new_tokens, sampling or Sampling())

    def _run(
        self, talker: Any, config: Any, inputs: Any, decoder: ChunkDecoder, max_new_tokens: int, sampling: Sampling
    ) -> Iterator[NDArray[np.float32]]:
        with torch.inference_mode():
            for frame in self._frames(talker, config, inputs, max_new_tokens, sampling):
                audio = decoder.push(frame)
                if audio is not None:
                    yield audio
            rest = decoder.finish()
            if rest is not None:
                yield rest
