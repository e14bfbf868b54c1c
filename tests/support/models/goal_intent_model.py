"""Exports a small seeded goal-intent model (HeadConfig.goal_intent) into the folder given, with
PyTorch's one-step chunk for an xArm6 state, a goal intent and a current intent, for the runtime's
tests (tests/unit/models/goal-intent.test.ts). Prints one JSON line: the inputs and the chunk."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "models" / "tools"))

from blm_tools.config import BackboneConfig, BridgeConfig, HeadConfig, ModelConfig  # noqa: E402
from blm_tools.embodiments import ARMS  # noqa: E402
from blm_tools.export import Model, denormalize, export_graphs, normalize, write_manifest  # noqa: E402
from blm_tools.modules import euler_sample  # noqa: E402

CFG = ModelConfig(
    backbone=BackboneConfig(image_size=16, patch=8, max_text=8, d=16, n_heads=2, ffn=32, n_layers=1, layer_k=1),
    bridge=BridgeConfig(n_intent=4, d_latent=16, d_intent=16, n_heads=2, ffn=32, n_layers=1),
    head=HeadConfig(d_model=16, n_heads=2, ffn=32, n_layers=1, enc_hidden=16, prediction="sample",
                    state_skip="identity", goal_intent=True),
)


def main(out: Path) -> None:
    torch.set_num_threads(1)
    torch.manual_seed(7)
    model = Model(CFG).eval()
    manifest = write_manifest(model, out, export_graphs(model, out), "goal-tiny", "goal-intent test model")
    entry = manifest["embodiments"]["xarm6"]
    arm = next(a for a in ARMS if a.name == "xarm6")
    g = torch.Generator().manual_seed(8)
    n, d = CFG.bridge.n_intent, CFG.bridge.d_intent
    goal, current = torch.randn(n, d, generator=g), torch.randn(n, d, generator=g)
    noise = torch.randn(CFG.head.horizon, CFG.head.action_dim, generator=g)
    state = np.array([0.1, -0.2, 0.3, 0.0, 0.5, -0.1, 0.04], np.float32)
    s = torch.zeros(1, CFG.head.state_dim)
    s[0, entry["state"]["indices"]] = torch.from_numpy(normalize(state, entry["state"]["normalization"]))
    context = torch.cat([goal, current])[None]
    x = euler_sample(model.head, noise[None], s, torch.tensor([arm.model_id]), context, 1)[0].numpy()
    chunk = denormalize(x[:, entry["action"]["indices"]], entry["action"]["normalization"])
    print(json.dumps({"goal": goal.flatten().tolist(), "current": current.flatten().tolist(), "tokens": n, "dim": d,
                      "noise": noise.flatten().tolist(), "state": state.tolist(), "chunk": chunk.flatten().tolist()}))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
