"""Export round trip on a tiny config: graphs match their contract, onnxruntime matches PyTorch
at batch 1 and 3, the manifest's hashes match the files, and the reference sampler inpaints."""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from blm_tools.config import BackboneConfig, BridgeConfig, HeadConfig, ModelConfig  # noqa: E402
from blm_tools.export import (  # noqa: E402
    Model,
    check_graph,
    example_inputs,
    export_graphs,
    io_contract,
    sha256,
    write_manifest,
)
from blm_tools.modules import euler_sample  # noqa: E402
from blm_tools.train import train_head  # noqa: E402

TINY = ModelConfig(
    backbone=BackboneConfig(image_size=16, patch=8, max_text=8, d=16, n_heads=2, ffn=32, n_layers=1, layer_k=1),
    bridge=BridgeConfig(n_intent=4, d_latent=16, d_intent=16, n_heads=2, ffn=32, n_layers=1),
    head=HeadConfig(d_model=16, n_heads=2, ffn=32, n_layers=1, enc_hidden=16),
)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = Model(TINY).eval()
    out = tmp_path_factory.mktemp("tiny")
    paths = export_graphs(model, out)
    manifest = write_manifest(model, out, paths, "tiny", "pytest")
    return model, out, paths, manifest


@pytest.mark.parametrize("batch", [1, 3])
def test_onnxruntime_matches_torch(exported, batch):
    model, out, _, _ = exported
    mods = {"backbone": model.backbone, "intent_bridge": model.bridge, "denoiser": model.head}
    for key, args in example_inputs(TINY, batch=batch).items():
        sess = ort.InferenceSession(str(out / f"{key}.onnx"), providers=["CPUExecutionProvider"])
        got = sess.run(None, {i.name: a.numpy() for i, a in zip(sess.get_inputs(), args)})
        with torch.no_grad():
            ref = mods[key](*args)
        ref = ref if isinstance(ref, tuple) else (ref,)
        for g, r in zip(got, ref):
            assert g.shape == tuple(r.shape)
            np.testing.assert_allclose(g, r.numpy(), atol=1e-5, rtol=0)


def test_manifest_states_the_graphs(exported):
    _, out, paths, manifest = exported
    on_disk = json.loads((out / "manifest.json").read_text())
    assert on_disk == json.loads(json.dumps(manifest))
    for key, p in paths.items():
        assert on_disk["graphs"][key]["sha256"] == sha256(p)
        assert on_disk["graphs"][key]["inputs"][0]["shape"][0] == "batch"
    assert set(on_disk["embodiments"]) == {"panda", "xarm6", "xarm7", "widowx_ai"}
    assert on_disk["policy"]["flow_matching"]["default_steps"] == 4


def test_check_graph_names_a_disagreement(exported):
    _, _, paths, _ = exported
    contract = copy.deepcopy(io_contract(TINY)["denoiser"])
    contract["inputs"][2]["shape"] = ["batch", 48]
    with pytest.raises(RuntimeError, match="denoiser.onnx"):
        check_graph(paths["denoiser"], contract)


def test_reference_sampler_keeps_the_inpainted_prefix(exported):
    model = exported[0]
    h = TINY.head
    g = torch.Generator().manual_seed(1)
    noise = torch.randn(2, h.horizon, h.action_dim, generator=g)
    prefix = torch.rand(2, 3, h.action_dim, generator=g)
    state = torch.zeros(2, h.state_dim)
    intent = torch.randn(2, TINY.bridge.n_intent, TINY.bridge.d_intent, generator=g)
    x = euler_sample(model.head, noise, state, torch.tensor([0, 3]), intent, 4, prefix)
    assert torch.equal(x[:, :3], prefix)
    assert torch.isfinite(x).all()


def test_training_runs_and_lowers_the_loss():
    torch.manual_seed(0)
    model = Model(TINY)
    losses = train_head(model.head, TINY, steps=30, seed=0, batch=16, log=lambda _: None)
    assert np.mean(losses[-5:]) < np.mean(losses[:5])


def test_sample_prediction_lands_on_the_predicted_chunk():
    """prediction = "sample": the exported velocity (a - x_t) / (1 - t) makes the last Euler step
    land on the network's clean-chunk estimate, for any step count."""
    cfg = copy.deepcopy(TINY)
    cfg.head.prediction = "sample"
    torch.manual_seed(0)
    head = Model(cfg).head.eval()
    g = torch.Generator().manual_seed(2)
    h = cfg.head
    noise = torch.randn(2, h.horizon, h.action_dim, generator=g)
    state = torch.rand(2, h.state_dim, generator=g) * 2 - 1
    intent = torch.randn(2, cfg.bridge.n_intent, cfg.bridge.d_intent, generator=g)
    emb = torch.tensor([1, 2])
    for steps in (1, 4, 10):
        x = noise.clone()
        with torch.no_grad():
            for i in range(steps - 1):
                t = torch.full((2,), i / steps)
                x = x + head(x, t, state, emb, intent) / steps
            t = torch.full((2,), (steps - 1) / steps)
            want, _ = head.forward_train(x, t, state, emb, intent)
        got = euler_sample(head, noise, state, emb, intent, steps)
        torch.testing.assert_close(got, want, atol=1e-5, rtol=0)


def test_identity_state_skip_is_fixed_and_a_bad_choice_is_refused():
    """state_skip = "identity": the decoder's output is the chunk's offset from the state in the
    shared padded layout, and the map has nothing to train."""
    cfg = copy.deepcopy(TINY)
    cfg.head.prediction, cfg.head.state_skip = "sample", "identity"
    head = Model(cfg).head
    assert not any(p.requires_grad for p in head.state_skip.parameters())
    h = cfg.head
    state = torch.rand(2, h.state_dim) * 2 - 1
    skip = head.state_skip(state[:, None, :], torch.tensor([0, 3]))[:, 0]
    k = min(h.state_dim, h.action_dim)
    torch.testing.assert_close(skip[:, :k], state[:, :k], atol=0, rtol=0)
    cfg.head.state_skip = "frozen"
    with pytest.raises(ValueError, match="state_skip"):
        Model(cfg)


def test_offset_scale_multiplies_the_decoders_offset_and_survives_export(tmp_path):
    """offset_scale: the clean chunk is the state (through the map) plus scale ⊙ the decoder's
    output, per embodiment and horizon step; the exported denoiser computes the same."""
    cfg = copy.deepcopy(TINY)
    cfg.head.prediction, cfg.head.state_skip, cfg.head.offset_scale = "sample", "identity", True
    torch.manual_seed(1)
    model = Model(cfg).eval()
    head = model.head
    assert not head.offset_scale.requires_grad and torch.all(head.offset_scale == 1)
    h = cfg.head
    scale = torch.rand(h.n_embodiments, h.horizon, h.action_dim) * 0.1 + 0.01
    head.set_offset_scale(scale)
    args = example_inputs(cfg, batch=3)["denoiser"]
    _, _, state, emb, intent = args
    with torch.no_grad():
        hid, _ = head.trunk(*args)
        raw = head.action_decoder(hid[:, 1:], emb)
        skip = head.state_skip(state[:, None, :], emb)
        torch.testing.assert_close(head.decode(hid, state, emb), skip + scale[emb] * raw)
        want = head(*args)
    paths = export_graphs(model, tmp_path, names=("denoiser",))
    sess = ort.InferenceSession(str(paths["denoiser"]), providers=["CPUExecutionProvider"])
    got = sess.run(None, {i.name: a.numpy() for i, a in zip(sess.get_inputs(), args)})[0]
    np.testing.assert_allclose(got, want.numpy(), atol=1e-4, rtol=1e-4)


def test_setting_a_flat_offset_scale_keeps_the_chunks_and_a_velocity_head_refuses_it():
    cfg = copy.deepcopy(TINY)
    cfg.head.prediction, cfg.head.state_skip, cfg.head.offset_scale = "sample", "identity", True
    torch.manual_seed(2)
    head = Model(cfg).eval().head
    args = example_inputs(cfg, batch=2)["denoiser"]
    with torch.no_grad():
        before = head(*args)
        h = cfg.head
        flat = (torch.rand(h.n_embodiments, 1, h.action_dim) * 0.2 + 0.01).expand(-1, h.horizon, -1)
        head.set_offset_scale(flat, keep_output=True)
        torch.testing.assert_close(head(*args), before, atol=1e-5, rtol=1e-5)
        # a profile along the horizon cannot be folded into the shared decoder: the chunks change
        head.set_offset_scale(flat * torch.linspace(0.5, 2.0, h.horizon)[None, :, None], keep_output=True)
        assert not torch.allclose(head(*args), before, atol=1e-3)
    cfg.head.prediction = "velocity"
    with pytest.raises(ValueError, match="offset_scale"):
        Model(cfg)


def test_object_offsets_are_computed_inside_the_exported_denoiser(tmp_path):
    """object_offsets: the locate layers and the object frame are part of the denoiser graph, so
    ONNX Runtime computes the same chunks from the same five inputs, and the located places move them."""
    cfg = copy.deepcopy(TINY)
    cfg.head.prediction, cfg.head.state_skip = "sample", "identity"
    cfg.head.action_space, cfg.head.object_offsets = "ee_pose", True
    torch.manual_seed(2)
    model = Model(cfg).eval()
    with torch.no_grad():
        model.head.object_frame.copy_(torch.rand(cfg.head.n_embodiments, 2, 3) + 0.5)
    args = example_inputs(cfg, batch=3)["denoiser"]
    with torch.no_grad():
        want = model.head(*args)
        moved = copy.deepcopy(model.head)
        moved.locate.bias.add_(1.0)
        assert (moved(*args) - want).abs().max() > 1e-4
    paths = export_graphs(model, tmp_path, names=("denoiser",))
    sess = ort.InferenceSession(str(paths["denoiser"]), providers=["CPUExecutionProvider"])
    got = sess.run(None, {i.name: a.numpy() for i, a in zip(sess.get_inputs(), args)})[0]
    np.testing.assert_allclose(got, want.numpy(), atol=1e-4, rtol=1e-4)


def test_a_state_blind_trunk_reads_only_the_view_and_the_exported_chunk_still_starts_at_the_state(tmp_path):
    """state_blind: slots the view hides change nothing the trunk computes, so a moved arm joint
    moves the clean chunk by exactly that much (the identity map) and nothing else; a slot the view
    keeps still conditions the chunk. ONNX Runtime computes the same from the same five inputs."""
    cfg = copy.deepcopy(TINY)
    cfg.head.prediction, cfg.head.state_skip, cfg.head.state_blind = "sample", "identity", True
    torch.manual_seed(3)
    model = Model(cfg).eval()
    head, h = model.head, cfg.head
    view = torch.ones(h.n_embodiments, h.state_dim)
    view[:, :3] = 0.0
    head.set_state_view(view)
    with pytest.raises(ValueError, match="0/1"):
        head.set_state_view(view * 0.5)
    noisy, t, state, emb, intent = example_inputs(cfg, batch=3)["denoiser"]
    t = torch.zeros_like(t)  # the agent's one Euler step: the noisy actions carry nothing
    hidden, kept = state.clone(), state.clone()
    hidden[:, 1] += 0.3
    kept[:, 5] += 0.3
    with torch.no_grad():
        sample = lambda s: head.decode(head.trunk(noisy, t, s, emb, intent)[0], s, emb)  # noqa: E731
        base, moved, other = sample(state), sample(hidden), sample(kept)
    shift = torch.zeros(h.action_dim)
    shift[1] = 0.3
    torch.testing.assert_close(moved - base, shift.expand_as(base), atol=1e-5, rtol=0)
    assert (other - base)[..., [i for i in range(h.action_dim) if i != 5]].abs().max() > 1e-4
    args = (noisy, t, hidden, emb, intent)
    with torch.no_grad():
        want = head(*args)
    paths = export_graphs(model, tmp_path, names=("denoiser",))
    sess = ort.InferenceSession(str(paths["denoiser"]), providers=["CPUExecutionProvider"])
    got = sess.run(None, {i.name: a.numpy() for i, a in zip(sess.get_inputs(), args)})[0]
    np.testing.assert_allclose(got, want.numpy(), atol=1e-4, rtol=1e-4)


def test_a_goal_intent_head_reads_the_goals_tokens_and_the_current_ones_and_exports_so(tmp_path):
    """goal_intent: the denoiser's context is the goal's intent followed by the current one. Each half
    conditions the chunk, swapping the halves changes it (the segment vectors tell them apart), the
    contract and manifest say so, and ONNX Runtime computes what PyTorch does."""
    cfg = copy.deepcopy(TINY)
    cfg.head.prediction, cfg.head.state_skip, cfg.head.goal_intent = "sample", "identity", True
    torch.manual_seed(4)
    model = Model(cfg).eval()
    n, d = cfg.bridge.n_intent, cfg.bridge.d_intent
    noisy, t, state, emb, context = example_inputs(cfg, batch=3)["denoiser"]
    assert context.shape == (3, 2 * n, d)
    goal, current = context[:, :n], context[:, n:]
    jolt = torch.randn(goal.shape, generator=torch.Generator().manual_seed(5))  # not a constant: the norm removes that
    with torch.no_grad():
        base = model.head(noisy, t, state, emb, context)
        other_goal = model.head(noisy, t, state, emb, torch.cat([goal + jolt, current], 1))
        other_now = model.head(noisy, t, state, emb, torch.cat([goal, current + jolt], 1))
        swapped = model.head(noisy, t, state, emb, torch.cat([current, goal], 1))
        with pytest.raises(ValueError, match="goal's and the current tokens, got 5"):
            model.head(noisy, t, state, emb, context[:, :5])
    for moved in (other_goal, other_now, swapped):
        assert (moved - base).abs().max() > 1e-4
    contract = io_contract(cfg)["denoiser"]["inputs"]
    assert next(x for x in contract if x["name"] == "intent")["shape"] == ["batch", 2 * n, d]
    paths = export_graphs(model, tmp_path)
    manifest = write_manifest(model, tmp_path, paths, "goal", "pytest")
    assert manifest["intent"] == {"tokens": n, "dim": d, "frames": ["goal", "current"]}
    sess = ort.InferenceSession(str(paths["denoiser"]), providers=["CPUExecutionProvider"])
    args = (noisy, t, state, emb, context)
    got = sess.run(None, {i.name: a.numpy() for i, a in zip(sess.get_inputs(), args)})[0]
    np.testing.assert_allclose(got, base.numpy(), atol=1e-4, rtol=1e-4)
    cfg.head.object_offsets, cfg.head.action_space = True, "ee_pose"
    with pytest.raises(ValueError, match="goal_intent and object_offsets"):
        Model(cfg)
