"""Runs the three exported graphs the way the TypeScript runtime does (Python twin, for tests):
vision -> embed -> splice image embeddings at <|image_pad|> -> language."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from .reference import graph_inputs


class OnnxBackbone:
    def __init__(self, folder: Path, threads: int = 1) -> None:
        self.section = json.loads((folder / "backbone.json").read_text())
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        self.sessions = {
            name: ort.InferenceSession(str(folder / g["file"]), so, providers=["CPUExecutionProvider"])
            for name, g in self.section["graphs"].items()
        }

    def run(self, model, inputs: dict) -> np.ndarray:
        """inputs: the processor's output (pt tensors); model: supplies the reference index helpers."""
        grid = inputs["image_grid_thw"]
        gi = {k: v.numpy() for k, v in graph_inputs(model, grid).items()}
        img = self.sessions["vision"].run(None, {"pixel_values": inputs["pixel_values"].numpy(), **gi})[0]
        ids = inputs["input_ids"].numpy()
        emb = self.sessions["embed"].run(None, {"input_ids": ids})[0]
        where = ids == self.section["tokens"]["image_pad"]
        emb[where] = img
        pos, _ = model.model.get_rope_index(inputs["input_ids"], grid, None, None, inputs["attention_mask"])
        hidden, _mask = self.sessions["language"].run(
            None,
            {"inputs_embeds": emb, "attention_mask": inputs["attention_mask"].numpy(), "position_ids": pos.numpy()},
        )
        return hidden


def synthetic_image(height: int, width: int, seed: int) -> np.ndarray:
    """Deterministic RGB test image (the TypeScript tests compute the same formula)."""
    y, x = np.mgrid[0:height, 0:width].astype(np.int64)
    out = np.empty((height, width, 3), np.uint8)
    for c in range(3):
        v = x * 5 + y * 3 + c * 80 + seed * 17 + (((x * 7) ^ (y * 11) ^ (seed * 29)) & 63)
        out[..., c] = (v & 255).astype(np.uint8)
    return out


@torch.no_grad()
def max_rel_error(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    diff = np.abs(a - b).max()
    return float(diff), float(diff / max(np.abs(b).max(), 1e-12))
