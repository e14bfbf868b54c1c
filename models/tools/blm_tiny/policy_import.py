"""A Stage II training checkpoint rebuilt from an exported model folder: the intent bridge's and the
denoiser's weights (their ONNX graphs) put back into a ``Policy`` of the manifest's config, and the
manifest's per-arm min/max statistics as the checkpoint's ranges (and an ee_pose model's TCP
statistics as its tcp_ranges). ``stage2 train --init`` then goes on
from a shipped model (the committed blm-tiny) without its training folder.

What the graphs do not hold starts from the seeded initial values and is listed in the checkpoint's
``not_imported``: the training-only future-prediction and locate heads.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import numpy_helper

from blm_tools.config import BackboneConfig, BridgeConfig, HeadConfig, ModelConfig

from .onnx_import import graph_weights

GRAPH_PREFIX = {"intent_bridge": "bridge.", "denoiser": "head."}


def import_policy(model_dir: Path, out: Path, seed: int = 0) -> dict:
    """Writes the checkpoint to ``out``; returns its summary. Raises ValueError when the graphs do not
    fit the manifest's config (a missing, extra or misshapen weight)."""
    from .stage2 import Policy, _save

    model_dir, out = Path(model_dir), Path(out)
    manifest = json.loads((model_dir / "manifest.json").read_text())
    c = manifest["config"]
    cfg = ModelConfig(BackboneConfig(**c["backbone"]), BridgeConfig(**c["bridge"]), HeadConfig(**c["head"]))
    torch.manual_seed(seed)
    policy = Policy(cfg)
    own = policy.state_dict()
    state = {}
    for graph, prefix in GRAPH_PREFIX.items():
        path = model_dir / manifest["graphs"][graph]["file"]
        for name, a in graph_weights(path).items():
            state[prefix + name] = torch.from_numpy(a.astype("float32").copy())
        wanted = {n: tuple(t.shape) for n, t in own.items() if n.startswith(prefix) and n not in state}
        for name, a in _folded(path, wanted).items():
            state[name] = torch.from_numpy(a.astype("float32").copy())
    unknown = sorted(set(state) - set(own))
    misshapen = sorted(n for n in state if n in own and tuple(own[n].shape) != tuple(state[n].shape))
    not_imported = sorted(set(own) - set(state))
    exported = [n for n in not_imported if not _training_only(n)]
    if unknown or misshapen or exported:
        raise ValueError(f"{model_dir}: the graphs do not fit the manifest's config: unknown {unknown[:5]}, "
                         f"misshapen {misshapen[:5]}, missing {exported[:5]}")
    policy.load_state_dict(state, strict=False)
    ranges = {name: (e["state"]["normalization"]["min"], e["state"]["normalization"]["max"])
              for name, e in manifest["embodiments"].items()}
    tcp_ranges = {name: (e["state"]["tcp"]["normalization"]["min"], e["state"]["tcp"]["normalization"]["max"])
                  for name, e in manifest["embodiments"].items() if "tcp" in e["state"]} or None
    layer_k = manifest["backbone"].get("layer_k")
    out.parent.mkdir(parents=True, exist_ok=True)
    opt = torch.optim.AdamW(policy.parameters())
    _save(out, policy, opt, 0, ranges, [], cfg, seed, layer_k, tcp_ranges,
          "goal" if cfg.head.goal_intent else "current")
    summary = {"imported_from": str(model_dir), "not_imported": not_imported,
               "graphs_sha256": {g: manifest["graphs"][g]["sha256"] for g in GRAPH_PREFIX}}
    out.with_name("import.json").write_text(json.dumps(summary, indent=1) + "\n")
    return summary


def _folded(path: Path, wanted: dict[str, tuple]) -> dict[str, np.ndarray]:
    """Parameters the exporter folded into unnamed constants, other than MatMul weights:
    - a leading-1 view (``latents[None]`` before an Expand, ``pos_embed[None]`` before an Add): each
      missing parameter with exactly one unnamed initializer of shape (1, *its shape);
    - rows indexed by constants (a goal-intent head's ``intent_segment[0]`` and ``[1]``, each before
      an Add): a missing (k, *s) parameter with exactly k unnamed initializers of shape s, stacked in
      the order the graph first uses them, which is the order the rows were traced."""
    g = onnx.load(str(path)).graph
    matmul = {n.input[1] for n in g.node if n.op_type == "MatMul" and len(n.input) > 1}
    first_use: dict[str, int] = {}
    for k, n in enumerate(g.node):
        for i in n.input:
            first_use.setdefault(i, k)
    unnamed = [(i.name, numpy_helper.to_array(i)) for i in g.initializer
               if i.name.startswith("onnx::") and i.name not in matmul]
    out = {}
    for name, shape in wanted.items():
        hits = [a for _, a in unnamed if a.shape == (1, *shape)]
        if len(hits) == 1:
            out[name] = hits[0][0]
            continue
        rows = sorted(((first_use.get(n, len(g.node)), a) for n, a in unnamed if a.shape == tuple(shape[1:])),
                      key=lambda r: r[0])
        if len(shape) > 1 and shape[0] > 1 and len(rows) == shape[0]:
            out[name] = np.stack([a for _, a in rows])
    return out


def _training_only(name: str) -> bool:
    return name.startswith("locate") or name.startswith("head.future_head.")
