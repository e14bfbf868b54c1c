"""Export a Qwen2.5-VL backbone truncated after decoder block k to three ONNX graphs, and write
the manifest's backbone section (``backbone.json``; merged into a manifest.json when given).

  python -m qwen_export --checkpoint /path/to/Qwen2.5-VL-7B-Instruct --layer-k 16 --dtype float16 --out DIR
  python -m qwen_export --tiny --out models/qwen-tiny            # random weights, seeded, for tests

Graphs (opset 17, TorchScript exporter, dynamic image grid and sequence length):
  vision    pixel_values f32 [patches, 1176], vision_pos_ids i64 [patches, 2], window_index i64 [merged],
            cu_seqlens i64 [images+1], cu_window_seqlens i64 [windows+1] -> image_embeds f32 [merged, D]
  embed     input_ids i64 [batch, seq] -> inputs_embeds f32 [batch, seq, D]
  language  inputs_embeds f32 [batch, seq, D], attention_mask i64 [batch, seq], position_ids i64 [3, batch, seq]
            -> hidden_states f32 [batch, seq, D] (after block k, before any final norm), hidden_mask i64 [batch, seq]
Inputs and outputs stay float32 with --dtype float16 (weights and compute in fp16, casts at the edges).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import tempfile
import warnings
from pathlib import Path

import onnx
import torch
import transformers
from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration, Qwen2VLImageProcessor

from .graphs import EmbedGraph, LanguageGraph, VisionGraph
from .tiny import CHAT_TEMPLATE, SPECIAL_TOKENS, tiny_config, write_tokenizer

OPSET = 17
FORMAT = "qwen2_5_vl/1"
# Above this many bytes of weights a graph's tensors go to one external data file beside it.
EXTERNAL_THRESHOLD = 1 << 30
TINY_PIXELS = {"min_pixels": 56 * 56, "max_pixels": 28 * 28 * 64}


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def build_tiny(out: Path, layers: int = 3, seed: int = 0) -> Qwen2_5_VLForConditionalGeneration:
    """Tokenizer + random-weight model from a config alone (seeded); writes the tokenizer files."""
    tok = write_tokenizer(out)
    cfg = tiny_config(tok, layers=layers)
    torch.manual_seed(seed)
    model = Qwen2_5_VLForConditionalGeneration(cfg).eval()
    return model


def load_checkpoint(folder: Path, dtype: torch.dtype) -> Qwen2_5_VLForConditionalGeneration:
    return Qwen2_5_VLForConditionalGeneration.from_pretrained(
        folder, torch_dtype=dtype, attn_implementation="eager", local_files_only=True
    ).eval()


def tensor(name: str, dtype: str, shape: list) -> dict:
    return {"name": name, "dtype": dtype, "shape": shape}


def io_contract(d_vision_in: int, d: int) -> dict:
    return {
        "vision": {
            "inputs": [
                tensor("pixel_values", "float32", ["patches", d_vision_in]),
                tensor("vision_pos_ids", "int64", ["patches", 2]),
                tensor("window_index", "int64", ["merged"]),
                tensor("cu_seqlens", "int64", ["images_plus_1"]),
                tensor("cu_window_seqlens", "int64", ["windows_plus_1"]),
            ],
            "outputs": [tensor("image_embeds", "float32", ["merged", d])],
        },
        "embed": {
            "inputs": [tensor("input_ids", "int64", ["batch", "seq"])],
            "outputs": [tensor("inputs_embeds", "float32", ["batch", "seq", d])],
        },
        "language": {
            "inputs": [
                tensor("inputs_embeds", "float32", ["batch", "seq", d]),
                tensor("attention_mask", "int64", ["batch", "seq"]),
                tensor("position_ids", "int64", [3, "batch", "seq"]),
            ],
            "outputs": [
                tensor("hidden_states", "float32", ["batch", "seq", d]),
                tensor("hidden_mask", "int64", ["batch", "seq"]),
            ],
        },
    }


def _example(model, grid: list[list[int]], seq: int = 7) -> dict:
    from .reference import graph_inputs

    vc = model.config.vision_config
    g = torch.tensor(grid, dtype=torch.int64)
    n = int((g[:, 0] * g[:, 1] * g[:, 2]).sum())
    d_in = 3 * vc.temporal_patch_size * vc.patch_size**2
    gi = graph_inputs(model, g)
    d = model.config.text_config.hidden_size
    pos = torch.arange(seq).view(1, 1, -1).expand(3, 2, -1).contiguous()
    return {
        "vision": (torch.randn(n, d_in), gi["vision_pos_ids"], gi["window_index"], gi["cu_seqlens"], gi["cu_window_seqlens"]),
        "embed": (torch.zeros(2, seq, dtype=torch.int64),),
        "language": (torch.randn(2, seq, d), torch.ones(2, seq, dtype=torch.int64), pos),
    }


def _export_one(module, args, spec: dict, path: Path, external: bool) -> list[dict]:
    dynamic = {
        t["name"]: {i: s for i, s in enumerate(t["shape"]) if isinstance(s, str)}
        for t in spec["inputs"] + spec["outputs"]
    }
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        raw = Path(tmp) / "raw.onnx"
        torch.onnx.export(
            module,
            args,
            str(raw),
            input_names=[t["name"] for t in spec["inputs"]],
            output_names=[t["name"] for t in spec["outputs"]],
            dynamic_axes=dynamic,
            opset_version=OPSET,
            do_constant_folding=True,
            dynamo=False,
        )
        proto = onnx.load(str(raw))  # pulls in external tensors if torch wrote any
    for p in (path, path.with_name(path.name + ".data")):
        p.unlink(missing_ok=True)
    if external:
        onnx.save_model(
            proto,
            str(path),
            save_as_external_data=True,
            all_tensors_to_one_file=True,
            location=path.name + ".data",
            size_threshold=1024,
        )
        data = path.with_name(path.name + ".data")
        return [{"file": data.name, "bytes": data.stat().st_size}]
    onnx.save_model(proto, str(path))
    return []


def _rotary_in_fp32(inner) -> None:
    """Rotary frequencies stay float32 whatever the weights' dtype (model.to(float16) casts buffers;
    fp16 frequencies would put angles off by ~1e-3 x position)."""
    rot = inner.language_model.rotary_emb
    inv, _ = rot.rope_init_fn(rot.config, None)
    rot.inv_freq = inv.to(torch.float32)
    rot.original_inv_freq = rot.inv_freq
    vr = inner.visual.rotary_pos_emb
    dim = vr.inv_freq.numel() * 2
    vr.inv_freq = 1.0 / (10000.0 ** (torch.arange(0, dim, 2, dtype=torch.float) / dim))


def _weight_bytes(module: torch.nn.Module) -> int:
    return sum(p.numel() * p.element_size() for p in module.parameters())


def export_backbone(
    model: Qwen2_5_VLForConditionalGeneration,
    out: Path,
    layer_k: int,
    dtype: str = "float32",
    pixels: dict | None = None,
    external: str = "auto",
) -> dict:
    """Writes vision.onnx, embed.onnx, language.onnx (+ .data files) and backbone.json; returns the section."""
    cfg = model.config
    tc, vc = cfg.text_config, cfg.vision_config
    if not 1 <= layer_k <= tc.num_hidden_layers:
        raise ValueError(f"layer_k {layer_k} outside 1..{tc.num_hidden_layers}")
    out.mkdir(parents=True, exist_ok=True)
    torch_dtype = {"float32": torch.float32, "float16": torch.float16}[dtype]
    model = model.to(torch_dtype)
    inner = model.model
    _rotary_in_fp32(inner)
    d = tc.hidden_size
    d_in = 3 * vc.temporal_patch_size * vc.patch_size**2
    contract = io_contract(d_in, d)
    modules = {
        "vision": VisionGraph(inner.visual).eval(),
        "embed": EmbedGraph(inner.language_model.embed_tokens).eval(),
        "language": LanguageGraph(inner.language_model, layer_k).eval(),
    }
    # two images of different grids, so nothing specializes on one grid
    example = _example(model, [[1, 8, 8], [1, 4, 12]])
    graphs = {}
    for name, module in modules.items():
        ext = external == "always" or (external == "auto" and _weight_bytes(module) > EXTERNAL_THRESHOLD)
        path = out / f"{name}.onnx"
        with torch.no_grad():
            files = _export_one(module, example[name], contract[name], path, ext)
        graphs[name] = {"file": path.name, "sha256": sha256(path), **contract[name]}
        if files:
            graphs[name]["external_data"] = files
    pixels = pixels or {"min_pixels": 56 * 56, "max_pixels": 28 * 28 * 1280}
    section = {
        "format": FORMAT,
        "layer_k": layer_k,
        "hidden_dim": d,
        "dtype": dtype,
        "graphs": graphs,
        "vision": {
            "patch_size": vc.patch_size,
            "temporal_patch_size": vc.temporal_patch_size,
            "merge_size": vc.spatial_merge_size,
            "window_size": vc.window_size,
            "fullatt_block_indexes": list(vc.fullatt_block_indexes),
        },
        "image": {
            "resample": "bicubic",
            "rescale": 1 / 255,
            "mean": [0.48145466, 0.4578275, 0.40821073],  # OpenAI CLIP, as Qwen2VLImageProcessor
            "std": [0.26862954, 0.26130258, 0.27577711],
            **pixels,
        },
        "tokens": {
            "image_pad": cfg.image_token_id,
            "video_pad": cfg.video_token_id,
            "vision_start": cfg.vision_start_token_id,
            "vision_end": cfg.vision_end_token_id,
            "pad": tc.pad_token_id if tc.pad_token_id is not None else cfg.pad_token_id,
        },
        "tokenizer": {"file": "tokenizer.json", "config": "tokenizer_config.json"},
        "prompt": {"system": "You are a helpful assistant.", "add_generation_prompt": True},
        "provenance": {
            "transformers": transformers.__version__,
            "torch": torch.__version__.split("+")[0],
            "layers_total": tc.num_hidden_layers,
            "vision_depth": vc.depth,
        },
    }
    (out / "backbone.json").write_text(json.dumps(section, indent=2) + "\n")
    return section


def merge_into_manifest(manifest: Path, section: dict, cameras: list[str] | None = None) -> None:
    """Sets manifest.backbone to kind qwen2_5_vl with this section, drops the stand-in backbone graph
    and points the tokenizer at tokenizer.json (the other fields kept). The section's files are
    relative to the manifest's folder: export into that folder."""
    m = json.loads(manifest.read_text())
    b = m.setdefault("backbone", {})
    b.update({"kind": "qwen2_5_vl", "layer_k": section["layer_k"], "hidden_dim": section["hidden_dim"]})
    if cameras:
        b["cameras"] = cameras
    b["qwen2_5_vl"] = section
    m.get("graphs", {}).pop("backbone", None)
    m["tokenizer"] = {
        "kind": "tokenizer_json",
        "file": section["tokenizer"]["file"],
        "max_length": 4096,
        "pad_id": section["tokens"]["pad"] or 0,
    }
    manifest.write_text(json.dumps(m, indent=2) + "\n")


def _pixels_from_checkpoint(folder: Path) -> dict:
    ip = Qwen2VLImageProcessor.from_pretrained(folder, local_files_only=True)
    if (ip.patch_size, ip.temporal_patch_size, ip.merge_size) != (14, 2, 2) or not ip.do_resize:
        raise ValueError("the TypeScript preprocessing implements patch 14, temporal 2, merge 2 with resizing")
    return {
        "min_pixels": int(ip.min_pixels),
        "max_pixels": int(ip.max_pixels),
        "mean": [float(v) for v in ip.image_mean],
        "std": [float(v) for v in ip.image_std],
        "rescale": float(ip.rescale_factor),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m qwen_export", description=__doc__.split("\n\n")[0])
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--checkpoint", type=Path, help="a Qwen2.5-VL (or BLM-1) checkpoint folder")
    src.add_argument("--tiny", action="store_true", help="tiny random-weight config (tests)")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--layer-k", type=int, default=None, help="keep decoder blocks 1..k (tiny: 2)")
    ap.add_argument("--dtype", choices=["float32", "float16"], default="float32")
    ap.add_argument("--external-data", choices=["auto", "always", "never"], default="auto")
    ap.add_argument("--layers", type=int, default=3, help="tiny: decoder layers")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--manifest", type=Path, help="also write the section into this manifest.json")
    ap.add_argument("--cameras", nargs="*", help="camera names for --manifest")
    a = ap.parse_args(argv)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    if a.tiny:
        model = build_tiny(a.out, layers=a.layers, seed=a.seed)
        pixels = TINY_PIXELS
        layer_k = a.layer_k or 2
    else:
        if a.layer_k is None:
            ap.error("--layer-k is required with --checkpoint")
        model = load_checkpoint(a.checkpoint, torch.float32 if a.dtype == "float32" else torch.float16)
        pixels = _pixels_from_checkpoint(a.checkpoint)
        layer_k = a.layer_k
        a.out.mkdir(parents=True, exist_ok=True)
        for f in ("tokenizer.json", "tokenizer_config.json"):
            shutil.copy(a.checkpoint / f, a.out / f)
    section = export_backbone(model, a.out, layer_k, a.dtype, pixels, a.external_data)
    if a.manifest:
        merge_into_manifest(a.manifest, section, a.cameras)
    print(json.dumps({k: section[k] for k in ("layer_k", "hidden_dim", "dtype")}))
    return 0
