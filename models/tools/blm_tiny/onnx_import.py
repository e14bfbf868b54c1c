"""The Stage I backbone folder (what ``backbone.load`` reads) rebuilt from an exported model folder:
the weights of the vision, embed and language graphs (``qwen_export``'s ONNX files) put back into a
``Qwen2_5_VLForConditionalGeneration`` of the same sizes, and the tokenizer and pixel budget beside
them. Stage II's ``features`` and ``export`` then run on a shipped model without its training
folder (a committed blm-tiny, or a model someone else trained).

Only what the layer-k graphs hold comes back: decoder blocks above k, the final norm and the LM
head keep their seeded initial values (recorded in blm_tiny.json), so ``encode`` up to layer k is
the exported backbone's, text generation is not.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Optional

import numpy as np
import onnx
import torch
from onnx import numpy_helper

from . import backbone as B

# graph file -> prefix of its module names in the model's state dict
GRAPH_PREFIX = {"vision": "model.", "embed": "model.language_model.", "language": "model.language_model."}
# EmbedGraph names its nn.Embedding "embed"
RENAMES = {"model.language_model.embed.weight": "model.language_model.embed_tokens.weight"}


def graph_weights(path: Path) -> dict[str, np.ndarray]:
    """Parameter name -> array for one exported graph. Named initializers are parameters as they
    are; the exporter stores Linear weights it feeds to MatMul unnamed and transposed, so those are
    named after the MatMul's module path (``/layers.0/self_attn/q_proj/MatMul``) and transposed back."""
    g = onnx.load(str(path)).graph
    inits = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    out = {name: a for name, a in inits.items() if not name.startswith("onnx::")}
    for node in g.node:
        if node.op_type != "MatMul" or len(node.input) < 2 or node.input[1] not in inits:
            continue
        if not node.input[1].startswith("onnx::"):
            continue
        parts = node.name.strip("/").split("/")[:-1]
        if not parts:
            raise ValueError(f"{path.name}: MatMul {node.name!r} has a weight but no module path")
        out[".".join(parts) + ".weight"] = inits[node.input[1]].T.copy()
    return out


def state_from_graphs(model_dir: Path, manifest: dict) -> dict[str, torch.Tensor]:
    state: dict[str, torch.Tensor] = {}
    for graph, prefix in GRAPH_PREFIX.items():
        spec = manifest["graphs"][graph]
        for name, a in graph_weights(model_dir / spec["file"]).items():
            key = RENAMES.get(prefix + name, prefix + name)
            state[key] = torch.from_numpy(np.array(a, dtype=np.float32))
    return state


def import_backbone(model_dir: Path, out: Path, sizes: Optional[dict] = None, seed: int = 0) -> dict:
    """Writes the backbone folder to ``out``; returns its blm_tiny.json provenance. Raises ValueError
    when the graphs do not fit a model of ``sizes`` (a missing, extra or misshapen weight)."""
    from tokenizers import Tokenizer
    from transformers import Qwen2_5_VLForConditionalGeneration

    model_dir, out = Path(model_dir), Path(out)
    manifest = json.loads((model_dir / "backbone.json").read_text())
    k = int(manifest["layer_k"])
    tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    torch.manual_seed(seed)
    model = Qwen2_5_VLForConditionalGeneration(B.make_config(tok, sizes))
    model.config._attn_implementation = "eager"
    own = model.state_dict()
    state = state_from_graphs(model_dir, manifest)
    unknown = sorted(set(state) - set(own))
    misshapen = sorted(n for n in state if n in own and tuple(own[n].shape) != tuple(state[n].shape))
    needed = [n for n in own if n.startswith("model.visual.") or n == "model.language_model.embed_tokens.weight"
              or any(n.startswith(f"model.language_model.layers.{i}.") for i in range(k))]
    missing = sorted(set(needed) - set(state))
    if unknown or misshapen or missing:
        raise ValueError(f"{model_dir}: the graphs do not fit this backbone: unknown {unknown[:5]}, "
                         f"misshapen {misshapen[:5]}, missing {missing[:5]}")
    model.load_state_dict(state, strict=False)
    model.eval()
    out.mkdir(parents=True, exist_ok=True)
    for f in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(model_dir / f, out / f)
    pixels = {"min_pixels": manifest["image"]["min_pixels"], "max_pixels": manifest["image"]["max_pixels"]}
    proc = B.processor(out, pixels)
    extra = {"imported_from": str(model_dir), "layer_k": k,
             "graphs_sha256": {g: manifest["graphs"][g]["sha256"] for g in GRAPH_PREFIX},
             "not_imported": sorted(set(own) - set(state))}
    B.save(model, proc, out, extra)
    return extra
