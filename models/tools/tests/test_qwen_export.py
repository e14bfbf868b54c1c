"""Qwen2.5-VL backbone export (issue 7) on a tiny random config: the three graphs match their
contract and the transformers forward (1 and 2 images, different instruction lengths), fp16 and
external-data exports load and stay close, the manifest section merges, and the committed
models/qwen-tiny is what the tool produces."""

from __future__ import annotations

import base64
import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from qwen_export.export import TINY_PIXELS, build_tiny, export_backbone, main, merge_into_manifest  # noqa: E402
from qwen_export.pipeline import OnnxBackbone, max_rel_error, synthetic_image  # noqa: E402
from qwen_export.reference import graph_inputs, make_processor, messages, reference_hidden  # noqa: E402

COMMITTED = Path(__file__).resolve().parents[2] / "qwen-tiny"
TOL_REL_FP32 = 1e-4
TOL_REL_FP16 = 1e-2


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("qwen-tiny")
    model = build_tiny(out, layers=3, seed=0)
    section = export_backbone(model, out, 2, "float32", TINY_PIXELS, external="never")
    return out, build_tiny(tmp_path_factory.mktemp("ref"), layers=3, seed=0), section


def _inputs(folder: Path, sizes, instruction: str):
    proc = make_processor(folder, **TINY_PIXELS)
    text = proc.apply_chat_template(messages(len(sizes), instruction), add_generation_prompt=True, tokenize=False)
    imgs = [synthetic_image(h, w, 7 + i) for i, (h, w) in enumerate(sizes)]
    return dict(proc(text=[text], images=imgs, return_tensors="pt"))


def test_graphs_declare_the_contract_and_hashes(tiny):
    out, _, section = tiny
    for name, g in section["graphs"].items():
        path = out / g["file"]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == g["sha256"]
        m = onnx.load(str(path))
        assert [i.name for i in m.graph.input] == [t["name"] for t in g["inputs"]], name
        assert [o.name for o in m.graph.output] == [t["name"] for t in g["outputs"]], name
        for t, vi in zip(g["inputs"], m.graph.input):
            dims = [d.dim_param or d.dim_value for d in vi.type.tensor_type.shape.dim]
            assert [isinstance(d, str) for d in dims] == [isinstance(d, str) for d in t["shape"]], (name, t["name"], dims)
    assert json.loads((out / "backbone.json").read_text()) == section


@pytest.mark.parametrize(
    "sizes,instruction",
    [
        ([(128, 128)], "pick up the red cube"),
        ([(128, 128), (96, 160)], "push the blue cube away from you to the goal"),
        ([(140, 84), (128, 128)], "lift"),
    ],
)
def test_onnx_matches_transformers_at_layer_k(tiny, sizes, instruction):
    out, ref_model, _ = tiny
    inputs = _inputs(out, sizes, instruction)
    ref = reference_hidden(ref_model, inputs, 2)
    got = OnnxBackbone(out).run(ref_model, inputs)
    assert got.shape == ref.shape
    _, rel = max_rel_error(got, ref)
    assert rel < TOL_REL_FP32


def test_graph_inputs_agree_with_the_reference_vision_forward(tiny):
    _, ref_model, _ = tiny
    grid = torch.tensor([[1, 10, 10], [1, 6, 12]])
    gi = graph_inputs(ref_model, grid)  # asserts rot_pos_emb == pos_ids * inv_freq
    assert gi["cu_seqlens"].tolist() == [0, 100, 172]
    assert gi["cu_window_seqlens"][-1].item() == 172
    assert sorted(gi["window_index"].tolist()) == list(range(43))


def test_fp16_with_external_data_loads_and_stays_close(tiny, tmp_path):
    _, ref_model, _ = tiny
    model = build_tiny(tmp_path, layers=3, seed=0)
    section = export_backbone(model, tmp_path, 2, "float16", TINY_PIXELS, external="always")
    for g in section["graphs"].values():
        (ext,) = g["external_data"]
        assert (tmp_path / ext["file"]).stat().st_size == ext["bytes"] > 0
        assert (tmp_path / g["file"]).stat().st_size < 256 * 1024  # graph only, weights outside
    committed = json.loads((COMMITTED / "fp16" / "backbone.json").read_text())
    for name, g in committed["graphs"].items():
        assert g["sha256"] == section["graphs"][name]["sha256"], f"fp16 {name}: regenerate with python -m qwen_export.fixtures"
        assert g["external_data"] == section["graphs"][name]["external_data"]
    inputs = _inputs(tmp_path, [(128, 128), (128, 128)], "pick up the red cube")
    ref = reference_hidden(ref_model, inputs, 2)
    got = OnnxBackbone(tmp_path).run(ref_model, inputs)
    _, rel = max_rel_error(got, ref)
    assert rel < TOL_REL_FP16


def test_merge_into_manifest_sets_the_backbone_section(tiny, tmp_path):
    _, _, section = tiny
    m = tmp_path / "manifest.json"
    standin = {"kind": "standin", "layer_k": 2, "hidden_dim": 64, "cameras": ["front"]}
    m.write_text(json.dumps({"backbone": standin, "graphs": {"backbone": {}, "intent_bridge": {}}}))
    merge_into_manifest(m, section, ["front", "wrist"])
    merged = json.loads(m.read_text())
    b = merged["backbone"]
    assert b["kind"] == "qwen2_5_vl" and b["cameras"] == ["front", "wrist"] and b["qwen2_5_vl"]["layer_k"] == 2
    assert list(merged["graphs"]) == ["intent_bridge"]
    assert merged["tokenizer"]["kind"] == "tokenizer_json"


def test_layer_k_out_of_range_is_refused(tmp_path):
    model = build_tiny(tmp_path, layers=2, seed=0)
    with pytest.raises(ValueError, match="layer_k"):
        export_backbone(model, tmp_path, 3)


def test_committed_tiny_model_is_what_the_tool_writes(tiny):
    out, _, section = tiny
    committed = json.loads((COMMITTED / "backbone.json").read_text())
    for name, g in committed["graphs"].items():
        assert hashlib.sha256((COMMITTED / g["file"]).read_bytes()).hexdigest() == g["sha256"]
        assert g["sha256"] == section["graphs"][name]["sha256"], f"{name}: regenerate with python -m qwen_export.fixtures"
    assert (COMMITTED / "tokenizer.json").read_bytes() == (out / "tokenizer.json").read_bytes()


def test_cli_exports_a_tiny_model(tmp_path, capsys):
    assert main(["--tiny", "--out", str(tmp_path), "--layers", "2", "--layer-k", "1"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == {"layer_k": 1, "hidden_dim": 64, "dtype": "float32"}
    assert {p.name for p in tmp_path.iterdir()} >= {"vision.onnx", "embed.onnx", "language.onnx", "backbone.json", "tokenizer.json"}


def test_language_graph_masks_right_padding_in_a_batch(tiny):
    """Row 2 is row 1 cut short and right-padded: its real tokens match the unpadded run."""
    out, ref_model, _ = tiny
    bb = OnnxBackbone(out)
    inputs = _inputs(out, [(128, 128)], "pick up the red cube and move it to the green target")
    full = bb.run(ref_model, inputs)[0]
    ids = inputs["input_ids"].numpy()
    t = ids.shape[1]
    cut = t - 6
    emb = bb.sessions["embed"].run(None, {"input_ids": ids})[0][0]
    pos, _ = ref_model.model.get_rope_index(inputs["input_ids"], inputs["image_grid_thw"], None, None, inputs["attention_mask"])
    # image rows: take them from the full run's inputs by re-running the vision graph through run()'s path
    gi = {k: v.numpy() for k, v in graph_inputs(ref_model, inputs["image_grid_thw"]).items()}
    img = bb.sessions["vision"].run(None, {"pixel_values": inputs["pixel_values"].numpy(), **gi})[0]
    emb[ids[0] == bb.section["tokens"]["image_pad"]] = img
    batch_emb = np.stack([emb, np.concatenate([emb[:cut], np.zeros((t - cut, emb.shape[1]), np.float32)])])
    mask = np.ones((2, t), np.int64)
    mask[1, cut:] = 0
    pos2 = np.concatenate([pos.numpy(), pos.numpy()], axis=1)
    pos2[:, 1, cut:] = 1
    hidden, hmask = bb.sessions["language"].run(
        None, {"inputs_embeds": batch_emb, "attention_mask": mask, "position_ids": pos2}
    )
    np.testing.assert_allclose(hidden[0], full, atol=1e-6)
    np.testing.assert_allclose(hidden[1, :cut], full[:cut], atol=1e-6)
    assert (hmask == mask).all()


def test_cli_exports_a_saved_checkpoint_folder(tmp_path, capsys):
    """The --checkpoint path on a local Hugging Face folder (save_pretrained of the tiny model)."""
    from transformers import Qwen2VLImageProcessor

    ckpt = tmp_path / "ckpt"
    model = build_tiny(ckpt, layers=2, seed=1)  # writes tokenizer.json + tokenizer_config.json
    model.save_pretrained(ckpt)
    Qwen2VLImageProcessor(min_pixels=3136, max_pixels=28 * 28 * 32).save_pretrained(ckpt)
    out = tmp_path / "out"
    assert main(["--checkpoint", str(ckpt), "--layer-k", "1", "--dtype", "float16", "--out", str(out)]) == 0
    section = json.loads((out / "backbone.json").read_text())
    assert section["dtype"] == "float16" and section["layer_k"] == 1
    assert section["image"]["max_pixels"] == 28 * 28 * 32
    assert (out / "tokenizer.json").read_bytes() == (ckpt / "tokenizer.json").read_bytes()
    inputs = _inputs(out, [(128, 128)], "pick up the red cube")
    ref = reference_hidden(model.float(), inputs, 1)
    got = OnnxBackbone(out).run(model, inputs)
    assert max_rel_error(got, ref)[1] < TOL_REL_FP16


def test_committed_bridge_fixture_is_what_the_tool_writes():
    """fixtures/bridge.json: test-tiny's bridge (rebuilt in PyTorch, checked against its ONNX graph)
    on the committed parity hidden states; regenerating it gives the same intent tokens."""
    from qwen_export.bridge import bridge_fixture, test_tiny_bridge

    parity = json.loads((COMMITTED / "fixtures" / "parity.json").read_text())
    fresh = bridge_fixture(parity, test_tiny_bridge(COMMITTED.parent / "test-tiny"))
    committed = json.loads((COMMITTED / "fixtures" / "bridge.json").read_text())
    assert [c["images"] for c in committed["cases"]] == [c["images"] for c in parity["cases"]]
    for a, b in zip(fresh["cases"], committed["cases"]):
        x = np.frombuffer(base64.b64decode(a["intent_f32_b64"]), dtype=np.float32)
        y = np.frombuffer(base64.b64decode(b["intent_f32_b64"]), dtype=np.float32)
        assert x.shape == (8 * 64,) and np.abs(x - y).max() <= 1e-6
