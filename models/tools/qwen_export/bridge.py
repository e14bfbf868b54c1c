"""The Qwen hidden states -> intent bridge parity fixture: PyTorch's intent bridge of
models/test-tiny (the Perceiver bridge of blm_tools, D = 64 = the tiny Qwen's width) applied to
PyTorch's layer-k Qwen hidden states (fixtures/parity.json), written to fixtures/bridge.json for
the TypeScript test that runs BlmModel (backbone kind qwen2_5_vl) end to end.

The bridge's weights are test-tiny's: make_test_model.py seeds torch (1234) and builds the Model
first, and training touches only the head, so rebuilding it the same way gives the same bridge;
this is checked against the committed intent_bridge.onnx through onnxruntime before anything is
written.

  python -m qwen_export.bridge [--qwen models/qwen-tiny] [--test-tiny models/test-tiny]
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from blm_tools.config import HeadConfig, ModelConfig  # noqa: E402
from blm_tools.export import Model  # noqa: E402

TEST_TINY_SEED = 1234  # make_test_model.py's default seed
ONNX_CHECK_TOL = 1e-4  # PyTorch bridge vs the committed intent_bridge.onnx, max abs


def test_tiny_bridge(test_tiny: Path, seed: int = TEST_TINY_SEED) -> torch.nn.Module:
    """test-tiny's intent bridge in PyTorch, checked against its committed ONNX graph."""
    torch.manual_seed(seed)
    bridge = Model(ModelConfig(head=HeadConfig(prediction="sample"))).bridge.eval()
    g = torch.Generator().manual_seed(0)
    hidden = torch.randn(2, 37, bridge.in_proj.in_features, generator=g) * 5
    mask = torch.ones(2, 37, dtype=torch.int64)
    mask[1, 30:] = 0
    with torch.no_grad():
        ref = bridge(hidden, mask).numpy()
    sess = ort.InferenceSession(str(test_tiny / "intent_bridge.onnx"), providers=["CPUExecutionProvider"])
    got = sess.run(None, {"hidden_states": hidden.numpy(), "hidden_mask": mask.numpy()})[0]
    err = float(np.abs(got - ref).max())
    if err > ONNX_CHECK_TOL:
        raise RuntimeError(f"rebuilt bridge differs from {test_tiny / 'intent_bridge.onnx'} by {err:.3g}")
    return bridge


def bridge_fixture(parity: dict, bridge: torch.nn.Module) -> dict:
    """Intent tokens of the PyTorch bridge for each parity case's PyTorch hidden states."""
    cases = []
    for i, c in enumerate(parity["cases"]):
        raw = base64.b64decode(c["hidden_states_f32_b64"])
        hidden = torch.from_numpy(np.frombuffer(raw, dtype=np.float32).reshape(1, c["length"], c["dim"]).copy())
        with torch.no_grad():
            intent = bridge(hidden, torch.ones(1, c["length"], dtype=torch.int64))[0].numpy()
        cases.append(
            {
                "parity_case": i,
                "images": c["images"],
                "instruction": c["instruction"],
                "count": int(intent.shape[0]),
                "dim": int(intent.shape[1]),
                "intent_f32_b64": base64.b64encode(np.ascontiguousarray(intent, dtype=np.float32).tobytes()).decode(),
            }
        )
    return {
        "bridge": "models/test-tiny/intent_bridge.onnx (blm_tools IntentBridge, seed 1234)",
        "reference": "PyTorch bridge on the transformers layer-k hidden states of fixtures/parity.json, fp32",
        "cases": cases,
    }


def write_bridge_fixture(qwen: Path, test_tiny: Path) -> Path:
    parity = json.loads((qwen / "fixtures" / "parity.json").read_text())
    data = bridge_fixture(parity, test_tiny_bridge(test_tiny))
    path = qwen / "fixtures" / "bridge.json"
    path.write_text(json.dumps(data, indent=1) + "\n")
    return path


def main(argv: list[str] | None = None) -> int:
    models = Path(__file__).resolve().parents[2]
    ap = argparse.ArgumentParser(prog="python -m qwen_export.bridge")
    ap.add_argument("--qwen", type=Path, default=models / "qwen-tiny")
    ap.add_argument("--test-tiny", type=Path, default=models / "test-tiny")
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    print(f"wrote {write_bridge_fixture(a.qwen, a.test_tiny)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
