"""stage2 import: the committed blm-tiny's bridge and head back into a training checkpoint, whose PyTorch
outputs are the shipped graphs' (so train --init goes on from exactly the model that ships)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from blm_tiny import stage2  # noqa: E402
from blm_tiny.policy_import import import_policy  # noqa: E402

REPO = Path(__file__).resolve().parents[3]
MODEL = REPO / "models" / "blm-tiny"


@pytest.fixture(scope="module")
def imported(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("import") / "ckpt.pt"
    import_policy(MODEL, out)
    return out


def test_the_imported_policy_computes_what_the_shipped_graphs_compute(imported):
    import onnxruntime as ort

    policy, cfg = stage2.load_policy(torch.load(imported, weights_only=False))
    rng = np.random.default_rng(0)
    b, seq = 3, 20
    hidden = rng.normal(size=(b, seq, cfg.backbone.d)).astype(np.float32)
    mask = np.ones((b, seq), np.int64)
    mask[1, 12:] = 0
    bridge = ort.InferenceSession(str(MODEL / "intent_bridge.onnx"))
    want_intent = bridge.run(None, {"hidden_states": hidden, "hidden_mask": mask})[0]
    with torch.no_grad():
        intent = policy.bridge(torch.from_numpy(hidden), torch.from_numpy(mask)).numpy()
    np.testing.assert_allclose(intent, want_intent, atol=2e-4)

    h = cfg.head
    feeds = {"noisy_actions": rng.normal(size=(b, h.horizon, h.action_dim)).astype(np.float32),
             "flow_time": np.array([0.0, 0.5, 0.9], np.float32),
             "state": rng.uniform(-1, 1, size=(b, h.state_dim)).astype(np.float32),
             "embodiment_id": np.array([0, 2, 3], np.int64), "intent": want_intent}
    want = ort.InferenceSession(str(MODEL / "denoiser.onnx")).run(None, feeds)[0]
    with torch.no_grad():
        got = policy.head(*(torch.from_numpy(v) for v in feeds.values())).numpy()
    np.testing.assert_allclose(got, want, atol=2e-3, rtol=1e-3)


def test_the_checkpoint_carries_the_manifest_statistics_and_names_what_it_could_not_import(imported):
    ck = torch.load(imported, weights_only=False)
    manifest = json.loads((MODEL / "manifest.json").read_text())
    for name, e in manifest["embodiments"].items():
        assert list(ck["ranges"][name][0]) == e["state"]["normalization"]["min"]
        assert list(ck["ranges"][name][1]) == e["state"]["normalization"]["max"]
    assert ck["config"]["head"]["state_skip"] == manifest["config"]["head"]["state_skip"]
    report = json.loads(imported.with_name("import.json").read_text())
    assert report["not_imported"] and all(n.startswith(("locate", "head.future_head.")) for n in report["not_imported"])


def test_graphs_that_do_not_fit_the_manifest_are_refused(tmp_path):
    import shutil

    bad = tmp_path / "model"
    shutil.copytree(MODEL, bad)
    manifest = json.loads((bad / "manifest.json").read_text())
    manifest["config"]["head"]["d_model"] = 64  # the graphs hold 96-wide weights
    (bad / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="do not fit the manifest's config"):
        import_policy(bad, tmp_path / "ckpt.pt")


def test_an_ee_pose_models_tcp_statistics_come_back_as_the_checkpoints(tmp_path):
    """An ee_pose model (stage2 train --action-space ee_pose) keeps its TCP statistics in state.tcp:
    the imported checkpoint carries them as tcp_ranges, so train --init goes on in the same units."""
    import shutil

    model = tmp_path / "ee"
    shutil.copytree(MODEL, model)
    m = json.loads((model / "manifest.json").read_text())
    m["config"]["head"]["action_space"] = "ee_pose"
    tcp = {}
    for k, (name, e) in enumerate(m["embodiments"].items()):
        lo = [-0.5 + 0.01 * k] * 9
        hi = [0.5 + 0.01 * k] * 9
        e["action_space"] = "ee_pose"
        e["state"]["tcp"] = {"indices": list(range(16, 25)), "normalization": {"mode": "min_max", "min": lo, "max": hi}}
        tcp[name] = (lo, hi)
    (model / "manifest.json").write_text(json.dumps(m))
    ck = torch.load(import_policy(model, tmp_path / "ckpt.pt") and tmp_path / "ckpt.pt", weights_only=False)
    assert ck["config"]["head"]["action_space"] == "ee_pose"
    assert {n: (list(a), list(b)) for n, (a, b) in ck["tcp_ranges"].items()} == tcp
    plain = torch.load(import_policy(MODEL, tmp_path / "plain.pt") and tmp_path / "plain.pt", weights_only=False)
    assert plain["tcp_ranges"] is None


def test_a_goal_intent_model_comes_back_as_a_goal_intent_checkpoint(tmp_path):
    """A model whose denoiser reads the goal's intent ahead of the current one (stage2 train
    --intent-frame goal) imports with goal_intent set and intent_frame "goal", so train --init goes on
    feeding it both halves; its head computes what the shipped denoiser does on a 2n-token context."""
    import dataclasses
    import shutil

    import onnxruntime as ort
    from blm_tools.config import BackboneConfig, BridgeConfig, HeadConfig, ModelConfig
    from blm_tools.export import Model, export_graphs

    model = tmp_path / "goal"
    shutil.copytree(MODEL, model)
    m = json.loads((model / "manifest.json").read_text())
    c = m["config"]
    cfg = ModelConfig(BackboneConfig(**c["backbone"]), BridgeConfig(**c["bridge"]),
                      dataclasses.replace(HeadConfig(**c["head"]), goal_intent=True))
    torch.manual_seed(7)
    policy = stage2.Policy(cfg).eval()
    with torch.no_grad():  # a trained model's values: no two weights equal, as a fresh init's zero biases are
        for p in policy.parameters():
            p.add_(0.01 * torch.randn(p.shape))
    graphs = Model(cfg)
    graphs.bridge, graphs.head = policy.bridge, policy.head
    export_graphs(graphs, model, names=("denoiser",))
    c["head"]["goal_intent"] = True
    m["intent"]["frames"] = ["goal", "current"]
    (model / "manifest.json").write_text(json.dumps(m))

    ck = torch.load(import_policy(model, tmp_path / "ckpt.pt") and tmp_path / "ckpt.pt", weights_only=False)
    assert ck["intent_frame"] == "goal" and ck["config"]["head"]["goal_intent"] is True
    back, _ = stage2.load_policy(ck)
    h, n = cfg.head, cfg.bridge.n_intent
    rng = np.random.default_rng(1)
    feeds = {"noisy_actions": rng.normal(size=(2, h.horizon, h.action_dim)).astype(np.float32),
             "flow_time": np.array([0.0, 0.7], np.float32),
             "state": rng.uniform(-1, 1, size=(2, h.state_dim)).astype(np.float32),
             "embodiment_id": np.array([1, 3], np.int64),
             "intent": rng.normal(size=(2, 2 * n, cfg.bridge.d_intent)).astype(np.float32)}
    want = ort.InferenceSession(str(model / "denoiser.onnx")).run(None, feeds)[0]
    with torch.no_grad():
        got = back.head(*(torch.from_numpy(v) for v in feeds.values())).numpy()
    np.testing.assert_allclose(got, want, atol=2e-3, rtol=1e-3)
    plain = torch.load(import_policy(MODEL, tmp_path / "plain.pt") and tmp_path / "plain.pt", weights_only=False)
    assert plain["intent_frame"] == "current"
