"""blm-tiny's backbone: a small Qwen2.5-VL (``Qwen2_5_VLForConditionalGeneration``, eager attention)
with "the small tokenizer", and the hidden states Stage II reads from it.

- Tokenizer: byte-level BPE trained like ``qwen_export.tiny.train_tokenizer`` (Qwen2's normalizer,
  pre-tokenizer regex, decoder and special tokens at ids 0..13) on the task instructions, the
  Stage I questions and answers and the chat template's text (``tokenizer_corpus``).
- Vision tower: depth 4, width 96 (3 heads), patch 14, temporal patch 2, merge 2, window 112, blocks
  1 and 3 full attention; the merger projects to the language width.
- Language model: hidden 128, 4 layers, 4 heads (2 KV heads), MLP 256, M-RoPE sections [4, 6, 6].
- Images go through ``qwen_export.reference.make_processor`` (Qwen2VLImageProcessor, PIL bicubic:
  what the TypeScript runtime reproduces) with ``PIXELS``: a 128 x 128 camera image becomes
  140 x 140, a 10 x 10 patch grid, 5 x 5 = 25 visual tokens per camera.

``encode`` gives what the runtime's backbone computes from the exported graphs: hidden states after
decoder block ``layer_k`` (before the final norm) of the prompt
``apply_chat_template(messages(2, instruction), add_generation_prompt=True)`` — default system
prompt, the front then the wrist image, the instruction — as ``models/runtime/qwen/chat.ts``
renders it with backbone.json's ``prompt`` section.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration, Qwen2VLImageProcessor  # noqa: E402

from qwen_export.reference import make_processor, messages  # noqa: E402
from qwen_export.tiny import INSTRUCTIONS, qwen_config, tokenizer_config, train_tokenizer  # noqa: E402

# 128 x 128 -> smart_resize -> 140 x 140 (10 x 10 patches of 14, 25 merged tokens per image)
PIXELS = {"min_pixels": 56 * 56, "max_pixels": 140 * 140}
CAMERA_SIZE = 128  # the sim's camera images (qa.SIZE)


def pixels_for_side(side: int) -> dict:
    """A pixel budget that resizes a CAMERA_SIZE square image to side x side (a multiple of 28):
    finer visual tokens, (side / 28)^2 per image, without changing the camera."""
    if side % 28 or side < 56:
        raise ValueError(f"image side {side} must be a multiple of 28 (patch 14 x merge 2), at least 56")
    return {"min_pixels": side * side, "max_pixels": side * side}


def tokens_per_side(proc, size: int = CAMERA_SIZE) -> int:
    """Merged visual tokens per row (= per column) of a size x size camera image under the
    processor's pixel budget."""
    grid = proc.image_processor(images=[np.zeros((size, size, 3), np.uint8)], return_tensors="pt")["image_grid_thw"][0]
    if int(grid[1]) != int(grid[2]):
        raise ValueError(f"a square image became a {int(grid[1])} x {int(grid[2])} patch grid")
    return int(grid[1]) // int(proc.image_processor.merge_size)
VOCAB_SIZE = 1024
META_FILE = "blm_tiny.json"

SIZES = dict(
    vision_depth=4,
    vision_hidden=96,
    vision_heads=3,
    vision_intermediate=256,
    vision_fullatt=(1, 3),
    window_size=112,
    hidden=128,
    layers=4,
    heads=4,
    kv_heads=2,
    intermediate=256,
    mrope_section=(4, 6, 6),
)
# for tests: a smaller one of the same shape
TINY_SIZES = dict(SIZES, vision_depth=2, vision_hidden=32, vision_heads=2, vision_intermediate=64,
                  vision_fullatt=(1,), hidden=64, layers=2, heads=4, kv_heads=2, intermediate=128,
                  mrope_section=(2, 3, 3))


def tokenizer_corpus() -> list[str]:
    """What the small tokenizer is trained on: instructions, Stage I questions and answers, and the
    chat template's text (tiny.py's INSTRUCTIONS list includes the latter)."""
    from . import qa

    answers = qa.answer_vocabulary()
    corpus = list(INSTRUCTIONS) + qa.instructions() + qa.question_corpus() + answers
    return corpus * 4 + [" ".join(answers)] * 8


def write_tokenizer(out: Path, vocab_size: int = VOCAB_SIZE):
    out.mkdir(parents=True, exist_ok=True)
    tok = train_tokenizer(vocab_size, tokenizer_corpus())
    tok.save(str(out / "tokenizer.json"))
    (out / "tokenizer_config.json").write_text(json.dumps(tokenizer_config(), indent=2) + "\n")
    return tok


def make_config(tok, sizes: Optional[dict] = None) -> Qwen2_5_VLConfig:
    s = dict(SIZES, **(sizes or {}))
    if 2 * sum(s["mrope_section"]) != s["hidden"] // s["heads"]:
        raise ValueError("mrope_section must sum to half the head dim")
    return qwen_config(
        tok, hidden=s["hidden"], intermediate=s["intermediate"], layers=s["layers"], heads=s["heads"],
        kv_heads=s["kv_heads"], mrope_section=s["mrope_section"], vision_depth=s["vision_depth"],
        vision_hidden=s["vision_hidden"], vision_intermediate=s["vision_intermediate"],
        vision_heads=s["vision_heads"], window_size=s["window_size"], vision_fullatt=s["vision_fullatt"],
    )


def build(out: Path, seed: int = 0, sizes: Optional[dict] = None, pixels: Optional[dict] = None):
    """A fresh (seeded, random-weight) model and its processor; writes the tokenizer files to out."""
    tok = write_tokenizer(out)
    cfg = make_config(tok, sizes)
    torch.manual_seed(seed)
    model = Qwen2_5_VLForConditionalGeneration(cfg)
    model.config._attn_implementation = "eager"
    pixels = dict(pixels or PIXELS)
    return model, processor(out, pixels)


def processor(folder: Path, pixels: Optional[dict] = None):
    pixels = dict(pixels or PIXELS)
    proc = make_processor(Path(folder), pixels["min_pixels"], pixels["max_pixels"])
    proc.tokenizer.padding_side = "right"
    proc.pixels = pixels  # type: ignore[attr-defined]
    return proc


def save(model, proc, folder: Path, extra: Optional[dict] = None) -> None:
    """A transformers folder: config + weights, tokenizer.json + tokenizer_config.json,
    preprocessor_config.json (the pixel budget; what ``python -m qwen_export --checkpoint`` reads)
    and blm_tiny.json (pixels, default layer k, training provenance)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder, safe_serialization=True)
    proc.tokenizer.backend_tokenizer.save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text(json.dumps(tokenizer_config(), indent=2) + "\n")
    Qwen2VLImageProcessor(**proc.pixels).save_pretrained(folder)
    meta = {"pixels": proc.pixels, "layer_k": model.config.text_config.num_hidden_layers, **(extra or {})}
    (folder / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")


def load(folder: Path):
    """(model, processor) from a folder written by ``save`` (eval mode, eager attention, float32)."""
    folder = Path(folder)
    meta = json.loads((folder / META_FILE).read_text()) if (folder / META_FILE).exists() else {}
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(
        folder, dtype=torch.float32, attn_implementation="eager", local_files_only=True
    ).eval()
    return model, processor(folder, meta.get("pixels", PIXELS))


def default_layer_k(model) -> int:
    return int(model.config.text_config.num_hidden_layers)


def prompt(proc, text: str) -> str:
    """The chat-template text of [system] + user(front image, wrist image, text) + assistant prompt."""
    cache = proc.__dict__.setdefault("_blm_prompts", {})
    p = cache.get(text)
    if p is None:
        p = cache[text] = proc.apply_chat_template(messages(2, text), add_generation_prompt=True, tokenize=False)
    return p


def inputs(proc, frames: Sequence[tuple[np.ndarray, np.ndarray]], texts: Sequence[str]) -> dict:
    """The processor's tensors for full texts (already templated) with two images each."""
    images = [im for pair in frames for im in pair]
    return dict(proc(text=list(texts), images=images, return_tensors="pt", padding=True))


@torch.no_grad()
def encode(
    model,
    proc,
    frames: Sequence[tuple[np.ndarray, np.ndarray]],
    instructions: Sequence[str],
    layer_k: Optional[int] = None,
    batch_size: int = 32,
) -> list[np.ndarray]:
    """Hidden states after decoder block ``layer_k`` (default: the last) for each (front, wrist)
    uint8 HWC image pair and instruction: a list of float32 [L_i, D], L_i the prompt's length
    (system, image tokens, instruction, assistant prompt; no padding)."""
    if len(frames) != len(instructions):
        raise ValueError(f"{len(frames)} frame pairs for {len(instructions)} instructions")
    k = layer_k or default_layer_k(model)
    n_layers = default_layer_k(model)
    if not 1 <= k <= n_layers:
        raise ValueError(f"layer_k {k} outside 1..{n_layers}")
    model.eval()
    out: list[np.ndarray] = []
    layer = model.model.language_model.layers[k - 1]
    got: list[torch.Tensor] = []
    handle = layer.register_forward_hook(lambda _m, _i, o: got.append(o[0] if isinstance(o, tuple) else o))
    try:
        for s in range(0, len(frames), batch_size):
            texts = [prompt(proc, t) for t in instructions[s : s + batch_size]]
            inp = inputs(proc, frames[s : s + batch_size], texts)
            got.clear()
            # the decoder blocks after k are not needed: stop there
            model.model(**inp, use_cache=False) if k == n_layers else _run_until(model, inp, k, got)
            h = got[0].float().numpy()
            mask = inp["attention_mask"].numpy().astype(bool)
            out += [h[i][mask[i]] for i in range(h.shape[0])]
    finally:
        handle.remove()
    return out


class _Stop(Exception):
    pass


def _run_until(model, inp: dict, k: int, got: list) -> None:
    layer = model.model.language_model.layers[k - 1]

    def stop(_m, _i, _o):
        raise _Stop

    h = layer.register_forward_hook(stop)
    try:
        model.model(**inp, use_cache=False)
    except _Stop:
        pass
    finally:
        h.remove()
