"""A tiny random Qwen2.5-VL for tests: its tokenizer (byte-level BPE trained on the project's
instruction vocabulary plus the chat template's special tokens) and its config (built in code,
nothing from a hub)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
from transformers import Qwen2_5_VLConfig

# Qwen2.5-VL-Instruct's chat template, verbatim (the processor's chat_template.json).
CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}"
    "{{ message['content'] }}<|im_end|>\n{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}{% if add_vision_id %}Picture "
    "{{ image_count.value }}: {% endif %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}"
    "{% set video_count.value = video_count.value + 1 %}{% if add_vision_id %}Video "
    "{{ video_count.value }}: {% endif %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

# Qwen2's pre-tokenizer split pattern (tokenizer.json of every Qwen2/2.5 model).
QWEN_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
    r"\s*[\r\n]+|\s+(?!\S)|\s+"
)

# Special tokens in Qwen's order (151643..); here they take ids 0.. of the tiny vocabulary.
SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
]

# Task instructions (sim/blm_sim/tasks/*.py, DESIGN decision 8) and the chat template's own text.
INSTRUCTIONS = [
    "pick up the red cube and move it to the green target",
    "pick up the red cube",
    "grasp the red cube and bring it to the green ball",
    "lift the red cube to the green marker",
    "move the red cube to the goal position",
    "push the blue cube to the red and white target",
    "push the cube forward onto the target",
    "slide the blue cube into the target region",
    "push the blue cube away from you to the goal",
    "stack the red cube on top of the green cube",
    "put the red cube on the green cube",
    "pull the blue cube to the red and white target",
    "pull the cube toward you onto the target",
    "drag the blue cube back into the target region",
    "pull the blue cube to the goal",
    "place the blue ball into the bin",
    "put the sphere in the shallow bin",
    "pick up the blue sphere and drop it in the bin",
    "move the blue ball into the box",
    "lift the peg and stand it upright",
    "stand the red and blue peg up on its end",
    "pick up the peg and place it upright on the table",
    "turn the lying peg so that it stands vertically",
    "system\nYou are a helpful assistant.\n",
    "user\n",
    "assistant\n",
    "PickCube PushCube StackCube PullCube PlaceSphere LiftPegUpright",
    "Picture 1: Picture 2: Video 1:",
]


def train_tokenizer(vocab_size: int = 400, corpus: Sequence[str] | None = None) -> Tokenizer:
    """Byte-level BPE with Qwen2's normalizer, pre-tokenizer and decoder (deterministic), trained on
    ``corpus`` (default: the instructions above, as qwen-tiny's tokenizer)."""
    tok = Tokenizer(models.BPE(unk_token=None, fuse_unk=False, byte_fallback=False))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN_SPLIT), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=1,
        show_progress=False,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(list(corpus) if corpus is not None else INSTRUCTIONS * 4, trainer=trainer)
    return tok


def tokenizer_config() -> dict:
    """tokenizer_config.json as Qwen2.5-VL ships it (the fields the runtimes read)."""
    return {
        "tokenizer_class": "Qwen2Tokenizer",
        "bos_token": None,
        "eos_token": "<|im_end|>",
        "pad_token": "<|endoftext|>",
        "unk_token": None,
        "add_prefix_space": False,
        "clean_up_tokenization_spaces": False,
        "errors": "replace",
        "model_max_length": 32768,
        "split_special_tokens": False,
        "chat_template": CHAT_TEMPLATE,
    }


def write_tokenizer(out: Path, vocab_size: int = 400) -> Tokenizer:
    out.mkdir(parents=True, exist_ok=True)
    tok = train_tokenizer(vocab_size)
    tok.save(str(out / "tokenizer.json"))
    (out / "tokenizer_config.json").write_text(json.dumps(tokenizer_config(), indent=2) + "\n")
    return tok


def qwen_config(
    tok: Tokenizer,
    *,
    hidden: int,
    intermediate: int,
    layers: int,
    heads: int,
    kv_heads: int,
    mrope_section: Sequence[int],
    vision_depth: int,
    vision_hidden: int,
    vision_intermediate: int,
    vision_heads: int,
    window_size: int,
    vision_fullatt: Sequence[int],
    initializer_range: float = 0.02,
) -> Qwen2_5_VLConfig:
    """A Qwen2.5-VL config of the given sizes with Qwen's fixed choices (patch 14, temporal patch 2,
    2 x 2 merge, M-RoPE, untied embeddings) and the special tokens' ids from `tok`."""
    ids = {t: tok.token_to_id(t) for t in SPECIAL_TOKENS}
    text = dict(
        vocab_size=tok.get_vocab_size(),
        hidden_size=hidden,
        intermediate_size=intermediate,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        max_position_embeddings=4096,
        rope_theta=1000000.0,
        rms_norm_eps=1e-6,
        rope_scaling={"type": "mrope", "mrope_section": list(mrope_section)},
        tie_word_embeddings=False,
        use_sliding_window=False,
        initializer_range=initializer_range,
    )
    vision = dict(
        depth=vision_depth,
        hidden_size=vision_hidden,
        intermediate_size=vision_intermediate,
        num_heads=vision_heads,
        patch_size=14,
        temporal_patch_size=2,
        spatial_merge_size=2,
        window_size=window_size,
        out_hidden_size=hidden,
        fullatt_block_indexes=list(vision_fullatt),
        tokens_per_second=2,
        initializer_range=initializer_range,
    )
    cfg = Qwen2_5_VLConfig(
        text_config=text,
        vision_config=vision,
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        bos_token_id=ids["<|endoftext|>"],
        eos_token_id=ids["<|im_end|>"],
        pad_token_id=ids["<|endoftext|>"],
        **text,
    )
    cfg._attn_implementation = "eager"
    return cfg


def tiny_config(tok: Tokenizer, layers: int = 3, seed: int = 0) -> Qwen2_5_VLConfig:
    """A few layers, hidden 64, vision tower of width 32 with one windowed and one full block."""
    return qwen_config(
        tok, hidden=64, intermediate=128, layers=layers, heads=4, kv_heads=2, mrope_section=[2, 3, 3],
        vision_depth=2, vision_hidden=32, vision_intermediate=64, vision_heads=2, window_size=112,
        vision_fullatt=[1],
        # wider than transformers' 0.02 so attention is sharp and positions matter (a stronger test)
        initializer_range=0.2,
    )
