"""Qwen3-TTS checkpoints with random weights, built from an architecture in code.

No weights can be downloaded in tests or on the benchmark machine, so both
write a complete model directory (config, generation config, text tokenizer,
speech tokenizer, random safetensors) that the real `qwen_tts` loader reads as
it reads a published checkpoint. `tiny` sizes run on two CPU cores in seconds;
`0.6B`/`1.7B` follow the published architecture (talker 28 layers, 16 heads,
8 KV heads, head_dim 128, hidden 1024/2048; code predictor 5 layers of 1024;
16 codebooks of 2048; 24 kHz audio at 12.5 codec frames/s) for the benchmark.

Needs torch, transformers, tokenizers and qwen_tts: import it only where they exist.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

# Codec ids of the 12 Hz checkpoints: codebook tokens are < 2048, control tokens above.
_CODEC = {
    "codec_pad_id": 2148,
    "codec_bos_id": 2149,
    "codec_eos_token_id": 2150,
    "codec_think_id": 2154,
    "codec_nothink_id": 2155,
    "codec_think_bos_id": 2156,
    "codec_think_eos_id": 2157,
}
_LANGUAGES = {
    "chinese": 2055,
    "english": 2050,
    "german": 2053,
    "italian": 2070,
    "portuguese": 2071,
    "spanish": 2054,
    "japanese": 2058,
    "korean": 2064,
    "french": 2061,
    "russian": 2069,
}
_SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<tts_pad>", "<tts_text_bos>", "<tts_text_eod>"]


@dataclass(frozen=True)
class Architecture:
    name: str
    talker_hidden: int
    talker_layers: int
    talker_heads: int
    talker_kv_heads: int
    head_dim: int
    talker_intermediate: int
    text_hidden: int
    predictor_hidden: int
    predictor_layers: int
    predictor_heads: int
    predictor_kv_heads: int
    predictor_intermediate: int
    mrope_section: tuple[int, int, int]
    # Speech tokenizer (decoder) sizes.
    codec_hidden: int
    codec_layers: int
    codec_heads: int
    codec_latent: int
    codec_decoder_dim: int
    codec_intermediate: int
    # Speaker encoder (ECAPA-TDNN) channels.
    spk_channels: int
    spk_attention: int
    spk_res2net_scale: int
    # Mimi encoder (reference audio -> codes) sizes.
    mimi_hidden: int
    mimi_layers: int
    mimi_filters: int


ARCHITECTURES: dict[str, Architecture] = {
    "tiny": Architecture(
        name="tiny",
        talker_hidden=32,
        talker_layers=2,
        talker_heads=2,
        talker_kv_heads=1,
        head_dim=16,
        talker_intermediate=64,
        text_hidden=32,
        predictor_hidden=32,
        predictor_layers=1,
        predictor_heads=2,
        predictor_kv_heads=1,
        predictor_intermediate=64,
        mrope_section=(4, 2, 2),
        codec_hidden=32,
        codec_layers=1,
        codec_heads=2,
        codec_latent=32,
        codec_decoder_dim=32,
        codec_intermediate=64,
        spk_channels=16,
        spk_attention=8,
        spk_res2net_scale=2,
        mimi_hidden=32,
        mimi_layers=1,
        mimi_filters=4,
    ),
    "0.6B": Architecture(
        name="0.6B",
        talker_hidden=1024,
        talker_layers=28,
        talker_heads=16,
        talker_kv_heads=8,
        head_dim=128,
        talker_intermediate=3072,
        text_hidden=2048,
        predictor_hidden=1024,
        predictor_layers=5,
        predictor_heads=16,
        predictor_kv_heads=8,
        predictor_intermediate=3072,
        mrope_section=(24, 20, 20),
        codec_hidden=512,
        codec_layers=8,
        codec_heads=16,
        codec_latent=1024,
        codec_decoder_dim=1536,
        codec_intermediate=1024,
        spk_channels=512,
        spk_attention=128,
        spk_res2net_scale=8,
        mimi_hidden=512,
        mimi_layers=8,
        mimi_filters=64,
    ),
}
# The 1.7B checkpoints differ from the 0.6B ones only in the talker's width.
ARCHITECTURES["1.7B"] = replace(ARCHITECTURES["0.6B"], name="1.7B", talker_hidden=2048, talker_intermediate=6144)


def _text_tokenizer(directory: Path) -> dict[str, int]:
    """A byte-level BPE with no merges (every byte a token) plus Qwen's chat/TTS special tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from tokenizers.pre_tokenizers import ByteLevel
    from transformers import PreTrainedTokenizerFast

    alphabet = ByteLevel.alphabet()
    vocab = {ch: i for i, ch in enumerate(sorted(alphabet))}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(_SPECIAL_TOKENS)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>", unk_token=None
    )
    fast.save_pretrained(str(directory))
    config = json.loads((directory / "tokenizer_config.json").read_text())
    config["tokenizer_class"] = "Qwen2TokenizerFast"
    (directory / "tokenizer_config.json").write_text(json.dumps(config, indent=1))
    return {t: tok.token_to_id(t) for t in _SPECIAL_TOKENS} | {"vocab_size": tok.get_vocab_size()}


def _codec_config(a: Architecture) -> dict[str, Any]:
    return {
        "model_type": "qwen3_tts_tokenizer_12hz",
        "encoder_valid_num_quantizers": 16,
        "input_sample_rate": 24000,
        "output_sample_rate": 24000,
        "decode_upsample_rate": 1920,
        "encode_downsample_rate": 1920,
        "encoder_config": {
            "hidden_size": a.mimi_hidden,
            "num_filters": a.mimi_filters,
            "num_residual_layers": 1,
            "upsampling_ratios": [8, 6, 5, 4],
            "kernel_size": 7,
            "last_kernel_size": 3,
            "residual_kernel_size": 3,
            "dilation_growth_rate": 2,
            "compress": 2,
            "num_hidden_layers": a.mimi_layers,
            "num_attention_heads": a.codec_heads,
            "num_key_value_heads": a.codec_heads,
            "head_dim": a.mimi_hidden // a.codec_heads,
            "intermediate_size": 2 * a.mimi_hidden,
            "codebook_size": 2048,
            "codebook_dim": a.mimi_hidden // 2 if a.name == "tiny" else 256,
            "vector_quantization_hidden_dimension": a.mimi_hidden // 2 if a.name == "tiny" else 256,
            "num_quantizers": 32,
            "num_semantic_quantizers": 1,
            "frame_rate": 12.5,
            "sampling_rate": 24000,
            "sliding_window": 250,
            "use_cache": False,
            "upsample_groups": a.mimi_hidden,
        },
        "decoder_config": {
            "codebook_size": 2048,
            "codebook_dim": a.codec_latent if a.name == "tiny" else 512,
            "hidden_size": a.codec_hidden,
            "latent_dim": a.codec_latent,
            "num_attention_heads": a.codec_heads,
            "num_key_value_heads": a.codec_heads,
            "num_hidden_layers": a.codec_layers,
            "intermediate_size": a.codec_intermediate,
            "num_quantizers": 16,
            "upsample_rates": [8, 5, 4, 3],
            "upsampling_ratios": [2, 2],
            "decoder_dim": a.codec_decoder_dim,
            "sliding_window": 72,
        },
    }


def _model_config(a: Architecture, model_type: str, special: dict[str, int]) -> dict[str, Any]:
    spk = a.spk_channels
    return {
        "model_type": "qwen3_tts",
        "architectures": ["Qwen3TTSForConditionalGeneration"],
        "tokenizer_type": "qwen3_tts_tokenizer_12hz",
        "tts_model_size": a.name,
        "tts_model_type": model_type,
        "im_start_token_id": special["<|im_start|>"],
        "im_end_token_id": special["<|im_end|>"],
        "tts_pad_token_id": special["<tts_pad>"],
        "tts_bos_token_id": special["<tts_text_bos>"],
        "tts_eos_token_id": special["<tts_text_eod>"],
        "speaker_encoder_config": {
            "mel_dim": 128,
            "enc_dim": a.talker_hidden,
            "enc_channels": [spk, spk, spk, spk, 3 * spk],
            "enc_kernel_sizes": [5, 3, 3, 3, 1],
            "enc_dilations": [1, 2, 3, 4, 1],
            "enc_attention_channels": a.spk_attention,
            "enc_res2net_scale": a.spk_res2net_scale,
            "enc_se_channels": a.spk_attention,
            "sample_rate": 24000,
        },
        "talker_config": {
            "vocab_size": 3072,
            "hidden_size": a.talker_hidden,
            "intermediate_size": a.talker_intermediate,
            "num_hidden_layers": a.talker_layers,
            "num_attention_heads": a.talker_heads,
            "num_key_value_heads": a.talker_kv_heads,
            "head_dim": a.head_dim,
            "rope_theta": 1000000,
            "rope_scaling": {"mrope_section": list(a.mrope_section), "interleaved": True, "rope_type": "default"},
            "num_code_groups": 16,
            "text_hidden_size": a.text_hidden,
            "text_vocab_size": special["vocab_size"],
            "max_position_embeddings": 32768,
            "spk_id": {},
            "spk_is_dialect": {},
            "codec_language_id": dict(_LANGUAGES),
            **_CODEC,
            "code_predictor_config": {
                "vocab_size": 2048,
                "hidden_size": a.predictor_hidden,
                "intermediate_size": a.predictor_intermediate,
                "num_hidden_layers": a.predictor_layers,
                "num_attention_heads": a.predictor_heads,
                "num_key_value_heads": a.predictor_kv_heads,
                "head_dim": a.head_dim,
                "num_code_groups": 16,
                "rope_theta": 1000000,
                "max_position_embeddings": 65536,
            },
        },
    }


GENERATION_CONFIG = {
    "do_sample": True,
    "repetition_penalty": 1.05,
    "temperature": 0.9,
    "top_p": 1.0,
    "top_k": 50,
    "subtalker_dosample": True,
    "subtalker_temperature": 0.9,
    "subtalker_top_k": 50,
    "subtalker_top_p": 1.0,
    "max_new_tokens": 8192,
}


def write_random_checkpoint(directory: str | Path, size: str = "tiny", *, model_type: str = "base", seed: int = 0) -> Path:
    """Write a loadable Qwen3-TTS checkpoint with random weights; `model_type` is "base" or "voice_design"."""
    import torch
    from transformers import EncodecFeatureExtractor

    from qwen_tts.core.models import Qwen3TTSConfig, Qwen3TTSForConditionalGeneration
    from qwen_tts.core.models.processing_qwen3_tts import Qwen3TTSProcessor
    from qwen_tts.core.tokenizer_12hz.configuration_qwen3_tts_tokenizer_v2 import Qwen3TTSTokenizerV2Config
    from qwen_tts.core.tokenizer_12hz.modeling_qwen3_tts_tokenizer_v2 import Qwen3TTSTokenizerV2Model

    a = ARCHITECTURES[size]
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    special = _text_tokenizer(root)
    from transformers import AutoTokenizer

    Qwen3TTSProcessor(tokenizer=AutoTokenizer.from_pretrained(str(root))).save_pretrained(str(root))
    torch.manual_seed(seed)
    raw = _model_config(a, model_type, special)
    model = Qwen3TTSForConditionalGeneration(Qwen3TTSConfig(**json.loads(json.dumps(raw))))
    model.save_pretrained(str(root), safe_serialization=True)
    # The published config.json, not transformers' re-serialisation (whose sub-configs qwen-tts cannot read back).
    (root / "config.json").write_text(json.dumps(raw, indent=1))
    (root / "generation_config.json").write_text(json.dumps(GENERATION_CONFIG))

    codec_dir = root / "speech_tokenizer"
    codec = Qwen3TTSTokenizerV2Model(Qwen3TTSTokenizerV2Config(**_codec_config(a)))
    with torch.no_grad():
        # Fresh codebooks are all zeros (they are learnt by EMA), which would decode every code to silence.
        for name, tensor in [*codec.named_parameters(), *codec.named_buffers()]:
            if name.endswith("embedding_sum"):
                tensor.normal_(0.0, 1.0)
            elif name.endswith("cluster_usage"):
                tensor.fill_(1.0)
    codec.save_pretrained(str(codec_dir), safe_serialization=True)
    EncodecFeatureExtractor(feature_size=1, sampling_rate=24000, padding_value=0.0).save_pretrained(str(codec_dir))
    return root


def build_random_model(
    size: str, *, model_type: str = "voice_design", device: str = "cpu", dtype: str = "float32", seed: int = 0,
    workdir: str | Path,
) -> Any:
    """A `qwen_tts.Qwen3TTSModel` with random weights built in memory on `device` (no checkpoint on disk).

    For the benchmark, where writing 3–7 GB of random safetensors would cost more than the run.
    Only the text tokenizer (a few KB) goes through `workdir`.
    """
    import torch
    from transformers import AutoTokenizer, EncodecFeatureExtractor

    from qwen_tts import Qwen3TTSModel, Qwen3TTSTokenizer
    from qwen_tts.core.models import Qwen3TTSConfig, Qwen3TTSForConditionalGeneration
    from qwen_tts.core.models.processing_qwen3_tts import Qwen3TTSProcessor
    from qwen_tts.core.tokenizer_12hz.configuration_qwen3_tts_tokenizer_v2 import Qwen3TTSTokenizerV2Config
    from qwen_tts.core.tokenizer_12hz.modeling_qwen3_tts_tokenizer_v2 import Qwen3TTSTokenizerV2Model

    a = ARCHITECTURES[size]
    root = Path(workdir)
    root.mkdir(parents=True, exist_ok=True)
    special = _text_tokenizer(root)
    processor = Qwen3TTSProcessor(tokenizer=AutoTokenizer.from_pretrained(str(root)))
    torch_dtype = getattr(torch, dtype)
    torch.manual_seed(seed)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch_dtype)
    try:
        with torch.device(device):
            config = Qwen3TTSConfig(**json.loads(json.dumps(_model_config(a, model_type, special))))
            config._attn_implementation = "sdpa"
            model = Qwen3TTSForConditionalGeneration(config)
            codec = Qwen3TTSTokenizerV2Model(Qwen3TTSTokenizerV2Config(**_codec_config(a)))
            with torch.no_grad():
                for name, tensor in [*codec.named_parameters(), *codec.named_buffers()]:
                    if name.endswith("embedding_sum"):
                        tensor.normal_(0.0, 1.0)
                    elif name.endswith("cluster_usage"):
                        tensor.fill_(1.0)
    finally:
        torch.set_default_dtype(previous)
    model.eval()
    codec.eval()
    tokenizer = Qwen3TTSTokenizer()
    tokenizer.model = codec
    tokenizer.config = codec.config
    tokenizer.feature_extractor = EncodecFeatureExtractor(feature_size=1, sampling_rate=24000, padding_value=0.0)
    tokenizer.device = torch.device(device)
    model.load_speech_tokenizer(tokenizer)
    model.load_generate_config(dict(GENERATION_CONFIG))
    return Qwen3TTSModel(model=model, processor=processor, generate_defaults=dict(GENERATION_CONFIG))


def forbid_end_of_speech(inner: Any) -> None:
    """Make every generation run to its token budget: a fixed frame count for the benchmark."""
    import torch

    talker = inner.model.talker
    eos = talker.config.codec_eos_token_id

    def hook(_module: Any, _inputs: Any, output: torch.Tensor) -> torch.Tensor:
        output[..., eos] = torch.finfo(output.dtype).min
        return output

    talker.codec_head.register_forward_hook(hook)
