"""ONNX-exportable forwards of Qwen2.5-VL's pieces, reusing the model's own modules (weights,
norms, MLPs, rotary helpers) and replacing only what the reference computes from Python data:

- vision: the reference splits attention by ``cu_seqlens.tolist()``; here the same block-diagonal
  attention is a mask built in-graph from ``cu_seqlens`` / ``cu_window_seqlens`` (graph inputs),
  and the window permutation, vision position ids and their rotary table come in as inputs too.
- language: the reference builds its causal mask and 3-D position ids in Python; here the mask is
  built in-graph from the 2-D attention mask, and the position ids (get_rope_index) are an input.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers.models.qwen2_5_vl.modeling_qwen2_5_vl import apply_rotary_pos_emb_vision


def _segments(cu: torch.Tensor, n: int) -> torch.Tensor:
    """Segment id of each of n rows given cumulative boundaries cu = [0, e1, e2, ..]."""
    rows = torch.arange(n, device=cu.device, dtype=cu.dtype)
    return (rows[:, None] >= cu[None, 1:]).to(torch.int64).sum(-1)


def _block_mask(cu: torch.Tensor, n: int) -> torch.Tensor:
    seg = _segments(cu, n)
    same = seg[:, None] == seg[None, :]
    return torch.where(same, torch.zeros((), dtype=torch.float32), torch.full((), torch.finfo(torch.float32).min))


class VisionGraph(nn.Module):
    """pixel_values [N, 3*2*14*14], vision_pos_ids [N, 2] (h, w per patch, processor order),
    window_index [N/4], cu_seqlens [images+1], cu_window_seqlens [windows+1]
    -> image_embeds [N/4, D] in the processor's (merged-token) order."""

    def __init__(self, visual: nn.Module) -> None:
        super().__init__()
        self.visual = visual

    def forward(self, pixel_values, vision_pos_ids, window_index, cu_seqlens, cu_window_seqlens):
        v = self.visual
        dtype = v.patch_embed.proj.weight.dtype
        x = v.patch_embed(pixel_values.to(dtype))
        n = x.shape[0]
        u = v.spatial_merge_unit
        x = x.reshape(n // u, u, -1)[window_index].reshape(n, -1)
        # rot_pos_emb: outer(arange, inv_freq)[pos_ids] == pos_ids * inv_freq (same float32 products)
        rot = (vision_pos_ids.to(torch.float32)[..., None] * v.rotary_pos_emb.inv_freq.float()).flatten(1)
        rot = rot.reshape(n // u, u, -1)[window_index].reshape(n, -1)
        emb = torch.cat((rot, rot), dim=-1)
        cos, sin = emb.cos(), emb.sin()
        full = _block_mask(cu_seqlens, n)
        windowed = _block_mask(cu_window_seqlens, n)
        for i, blk in enumerate(v.blocks):
            mask = full if i in v.fullatt_block_indexes else windowed
            attn = blk.attn
            h = blk.norm1(x)
            q, k, val = attn.qkv(h).reshape(n, 3, attn.num_heads, -1).permute(1, 0, 2, 3).unbind(0)
            q, k = apply_rotary_pos_emb_vision(q, k, cos, sin)
            q, k, val = q.transpose(0, 1), k.transpose(0, 1), val.transpose(0, 1)  # [H, N, d]
            scores = torch.matmul(q, k.transpose(1, 2)) * attn.scaling
            w = torch.softmax(scores.float() + mask, dim=-1).to(val.dtype)
            o = torch.matmul(w, val).transpose(0, 1).reshape(n, -1)
            x = x + attn.proj(o)
            x = x + blk.mlp(blk.norm2(x))
        merged = v.merger(x)
        out = torch.zeros_like(merged)
        out[window_index] = merged  # == merged[argsort(window_index)]
        return out.to(torch.float32)


class EmbedGraph(nn.Module):
    """input_ids [B, T] -> inputs_embeds [B, T, D]."""

    def __init__(self, embed: nn.Embedding) -> None:
        super().__init__()
        self.embed = embed

    def forward(self, input_ids):
        return self.embed(input_ids).to(torch.float32)


class LanguageGraph(nn.Module):
    """inputs_embeds [B, T, D], attention_mask [B, T], position_ids [3, B, T]
    -> hidden_states [B, T, D] after decoder block k (no final norm), hidden_mask [B, T]."""

    def __init__(self, text_model: nn.Module, layer_k: int) -> None:
        super().__init__()
        self.rotary = text_model.rotary_emb
        self.layers = nn.ModuleList(list(text_model.layers[:layer_k]))
        self.dtype = text_model.embed_tokens.weight.dtype

    def forward(self, inputs_embeds, attention_mask, position_ids):
        h = inputs_embeds.to(self.dtype)
        t = h.shape[1]
        cos, sin = self.rotary(h, position_ids)
        idx = torch.arange(t, device=h.device)
        allowed = (idx[None, :] <= idx[:, None])[None, None] & (attention_mask[:, None, None, :] == 1)
        mask = torch.where(allowed, torch.zeros((), dtype=self.dtype), torch.full((), torch.finfo(self.dtype).min, dtype=self.dtype))
        for layer in self.layers:
            out = layer(h, attention_mask=mask, position_embeddings=(cos, sin))
            h = out[0] if isinstance(out, tuple) else out
        return h.to(torch.float32), attention_mask
