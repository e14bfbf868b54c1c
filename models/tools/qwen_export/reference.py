"""The reference side of parity: transformers' own processor, index helpers and forward pass."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from transformers import Qwen2_5_VLProcessor, Qwen2TokenizerFast, Qwen2VLImageProcessor

from transformers.video_processing_utils import BaseVideoProcessor

from .tiny import CHAT_TEMPLATE


class _NoVideo(BaseVideoProcessor):
    """The processor insists on a video processor; images are all we feed it (no torchvision here)."""


class ImageOnlyProcessor(Qwen2_5_VLProcessor):
    """Qwen2_5_VLProcessor unchanged, except that it accepts the stand-in video processor (its class
    check resolves to a torchvision placeholder when torchvision is absent)."""

    def check_argument_for_proper_class(self, argument_name, argument):
        if argument_name == "video_processor":
            return type(argument)
        return super().check_argument_for_proper_class(argument_name, argument)


def make_processor(folder: Path, min_pixels: int, max_pixels: int) -> ImageOnlyProcessor:
    """Qwen2_5_VLProcessor from a folder's tokenizer files and the given pixel budget (slow, PIL
    image processor: the reference the TypeScript preprocessing reproduces)."""
    tok = Qwen2TokenizerFast(tokenizer_file=str(folder / "tokenizer.json"), **_tok_kwargs(folder))
    ip = Qwen2VLImageProcessor(min_pixels=min_pixels, max_pixels=max_pixels)
    return ImageOnlyProcessor(image_processor=ip, tokenizer=tok, video_processor=_NoVideo(), chat_template=CHAT_TEMPLATE)


def _tok_kwargs(folder: Path) -> dict:
    import json

    cfg = json.loads((folder / "tokenizer_config.json").read_text())
    return {k: cfg[k] for k in ("eos_token", "pad_token") if cfg.get(k)} | {"clean_up_tokenization_spaces": False}


def messages(n_images: int, instruction: str) -> list[dict]:
    content = [{"type": "image"} for _ in range(n_images)] + [{"type": "text", "text": instruction}]
    return [{"role": "user", "content": content}]


def vision_pos_ids(grid_thw: torch.Tensor, merge: int) -> torch.Tensor:
    """The (h, w) index of each patch in the processor's order, as rot_pos_emb builds it."""
    out = []
    for t, h, w in grid_thw.tolist():
        hp = torch.arange(h).unsqueeze(1).expand(-1, w).reshape(h // merge, merge, w // merge, merge)
        wp = torch.arange(w).unsqueeze(0).expand(h, -1).reshape(h // merge, merge, w // merge, merge)
        hp = hp.permute(0, 2, 1, 3).flatten()
        wp = wp.permute(0, 2, 1, 3).flatten()
        out.append(torch.stack([hp, wp], dim=-1).repeat(t, 1))
    return torch.cat(out, dim=0)


def graph_inputs(model, grid_thw: torch.Tensor) -> dict[str, torch.Tensor]:
    """The vision graph's data-dependent inputs, from the reference model's own methods."""
    v = model.model.visual
    window_index, cu_window = v.get_window_index(grid_thw)
    cu_window = torch.unique_consecutive(torch.tensor(cu_window, dtype=torch.int64))
    cu = torch.repeat_interleave(grid_thw[:, 1] * grid_thw[:, 2], grid_thw[:, 0]).cumsum(0)
    cu = torch.nn.functional.pad(cu, (1, 0), value=0).to(torch.int64)
    pos = vision_pos_ids(grid_thw, v.spatial_merge_size)
    # tie pos to the reference: rot_pos_emb(grid) must equal pos * inv_freq
    ref = v.rot_pos_emb(grid_thw)
    mine = (pos.float()[..., None] * v.rotary_pos_emb.inv_freq).flatten(1)
    assert torch.equal(ref, mine), "vision position ids disagree with rot_pos_emb"
    return {
        "vision_pos_ids": pos.to(torch.int64),
        "window_index": window_index.to(torch.int64),
        "cu_seqlens": cu,
        "cu_window_seqlens": cu_window,
    }


@torch.no_grad()
def reference_hidden(model, inputs: dict, layer_k: int) -> np.ndarray:
    """Hidden states after decoder block k from the full transformers forward (hook on block k-1)."""
    got: list[torch.Tensor] = []
    layer = model.model.language_model.layers[layer_k - 1]
    handle = layer.register_forward_hook(lambda _m, _i, out: got.append(out[0] if isinstance(out, tuple) else out))
    try:
        model.model(**inputs, use_cache=False)
    finally:
        handle.remove()
    return got[0].float().numpy()


@torch.no_grad()
def reference_position_ids(model, inputs: dict) -> np.ndarray:
    pos, _ = model.model.get_rope_index(
        inputs["input_ids"], inputs.get("image_grid_thw"), None, None, inputs.get("attention_mask")
    )
    return pos.numpy()
