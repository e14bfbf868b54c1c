"""ONNX export of the three graphs and the manifest that describes them.

Graphs (dynamic batch, opset 17, TorchScript exporter):
  backbone       pixel_values [B, C, 3, S, S] f32, input_ids [B, T] i64, attention_mask [B, T] i64
                 -> hidden_states [B, L, D] f32, hidden_mask [B, L] i64
  intent_bridge  hidden_states [B, L, D] f32, hidden_mask [B, L] i64 -> intent [B, N, d] f32
  denoiser       noisy_actions [B, H, A] f32, flow_time [B] f32, state [B, S] f32,
                 embodiment_id [B] i64, intent [B, N, d] f32 -> velocity [B, H, A] f32
The auxiliary future-prediction head is training-only and is not exported.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path

import numpy as np
import onnx
import torch

from .config import ModelConfig
from .embodiments import ARMS, TCP_SLOT, VELOCITY_SLOT, stats_range, velocity_scale
from .kinematics import POSE_DIMS
from .modules import IntentBridge, PolicyHead, StandInBackbone

OPSET = 17


class Model(torch.nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.backbone = StandInBackbone(cfg.backbone)
        self.bridge = IntentBridge(cfg.backbone.d, cfg.bridge)
        self.head = PolicyHead(cfg.head, cfg.bridge.d_intent)


def intent_frames(cfg: ModelConfig) -> list[str]:
    """Whose intents the denoiser's context holds, in order (the manifest's intent.frames)."""
    return ["goal", "current"] if cfg.head.goal_intent else ["current"]


def context_tokens(cfg: ModelConfig) -> int:
    """The denoiser's intent length: the bridge's tokens once per frame in its context."""
    return cfg.bridge.n_intent * len(intent_frames(cfg))


def io_contract(cfg: ModelConfig) -> dict[str, dict[str, list[dict]]]:
    """The graphs' inputs and outputs as the manifest states them (symbolic dims are strings)."""
    b, h, r = cfg.backbone, cfg.head, cfg.bridge
    L = b.seq_len

    def t(name: str, dtype: str, shape: list) -> dict:
        return {"name": name, "dtype": dtype, "shape": shape}

    return {
        "backbone": {
            "inputs": [
                t("pixel_values", "float32", ["batch", b.n_cameras, 3, b.image_size, b.image_size]),
                t("input_ids", "int64", ["batch", b.max_text]),
                t("attention_mask", "int64", ["batch", b.max_text]),
            ],
            "outputs": [t("hidden_states", "float32", ["batch", L, b.d]), t("hidden_mask", "int64", ["batch", L])],
        },
        "intent_bridge": {
            "inputs": [t("hidden_states", "float32", ["batch", "seq", b.d]), t("hidden_mask", "int64", ["batch", "seq"])],
            "outputs": [t("intent", "float32", ["batch", r.n_intent, r.d_intent])],
        },
        "denoiser": {
            "inputs": [
                t("noisy_actions", "float32", ["batch", h.horizon, h.action_dim]),
                t("flow_time", "float32", ["batch"]),
                t("state", "float32", ["batch", h.state_dim]),
                t("embodiment_id", "int64", ["batch"]),
                t("intent", "float32", ["batch", context_tokens(cfg), r.d_intent]),
            ],
            "outputs": [t("velocity", "float32", ["batch", h.horizon, h.action_dim])],
        },
    }


def example_inputs(cfg: ModelConfig, batch: int = 2) -> dict[str, tuple[torch.Tensor, ...]]:
    b, h, r = cfg.backbone, cfg.head, cfg.bridge
    g = torch.Generator().manual_seed(0)
    mask = torch.ones(batch, b.max_text, dtype=torch.int64)
    mask[:, b.max_text // 2 :] = 0
    return {
        "backbone": (
            torch.randn(batch, b.n_cameras, 3, b.image_size, b.image_size, generator=g),
            torch.randint(0, b.vocab_size, (batch, b.max_text), generator=g),
            mask,
        ),
        "intent_bridge": (
            torch.randn(batch, b.seq_len, b.d, generator=g),
            torch.cat([torch.ones(batch, b.seq_len - 5, dtype=torch.int64), torch.zeros(batch, 5, dtype=torch.int64)], 1),
        ),
        "denoiser": (
            torch.randn(batch, h.horizon, h.action_dim, generator=g),
            torch.rand(batch, generator=g),
            torch.randn(batch, h.state_dim, generator=g),
            torch.arange(batch, dtype=torch.int64) % h.n_embodiments,
            torch.randn(batch, context_tokens(cfg), r.d_intent, generator=g),
        ),
    }


def _export(module: torch.nn.Module, args: tuple, path: Path, contract: dict) -> None:
    names_in = [x["name"] for x in contract["inputs"]]
    names_out = [x["name"] for x in contract["outputs"]]
    dynamic: dict[str, dict[int, str]] = {}
    for x in contract["inputs"] + contract["outputs"]:
        axes = {i: d for i, d in enumerate(x["shape"]) if isinstance(d, str)}
        if axes:
            dynamic[x["name"]] = axes
    module.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            args,
            str(path),
            input_names=names_in,
            output_names=names_out,
            dynamic_axes=dynamic,
            opset_version=OPSET,
            dynamo=False,
            do_constant_folding=True,
        )
    _annotate(path, contract)
    check_graph(path, contract)


def _annotate(path: Path, contract: dict) -> None:
    """Write the contract's dims on the graph's inputs/outputs.

    The TorchScript exporter leaves some output dims symbolic (e.g. `Addhidden_states_dim_1`) that
    are static by construction; the contract states them, and onnxruntime's shape inference agrees.
    """
    m = onnx.load(str(path))
    spec = {x["name"]: x["shape"] for x in contract["inputs"] + contract["outputs"]}
    for v in list(m.graph.input) + list(m.graph.output):
        shape = spec.get(v.name)
        if shape is None:
            continue
        dims = v.type.tensor_type.shape.dim
        if len(dims) != len(shape):
            raise RuntimeError(f"{path.name}: {v.name} has rank {len(dims)}, the contract says {len(shape)}")
        for d, want in zip(dims, shape):
            if isinstance(want, str):
                d.dim_param = want
            else:
                d.dim_value = want
    onnx.save(m, str(path))


_ONNX_DTYPES = {onnx.TensorProto.FLOAT: "float32", onnx.TensorProto.INT64: "int64"}


def graph_io(path: Path) -> dict[str, list[dict]]:
    m = onnx.load(str(path))
    onnx.checker.check_model(m)

    def desc(v) -> dict:
        tt = v.type.tensor_type
        shape = [d.dim_param if d.dim_param else d.dim_value for d in tt.shape.dim]
        return {"name": v.name, "dtype": _ONNX_DTYPES.get(tt.elem_type, str(tt.elem_type)), "shape": shape}

    inits = {i.name for i in m.graph.initializer}
    return {
        "inputs": [desc(v) for v in m.graph.input if v.name not in inits],
        "outputs": [desc(v) for v in m.graph.output],
    }


def check_graph(path: Path, contract: dict) -> None:
    """The exported graph must match the contract exactly (names, dtypes, static dims, symbolic names)."""
    actual = graph_io(path)
    if actual != contract:
        raise RuntimeError(f"{path.name}: exported I/O {actual} differs from the contract {contract}")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


GRAPHS = ("backbone", "intent_bridge", "denoiser")


def export_graphs(model: Model, out_dir: Path, names: tuple[str, ...] = GRAPHS) -> dict[str, Path]:
    """Exports the named graphs (a model with an exported Qwen backbone leaves out "backbone")."""
    out_dir.mkdir(parents=True, exist_ok=True)
    contract = io_contract(model.cfg)
    ex = example_inputs(model.cfg)
    modules = {"backbone": model.backbone, "intent_bridge": model.bridge, "denoiser": model.head}
    paths = {}
    for name in names:
        paths[name] = out_dir / f"{name}.onnx"
        _export(modules[name], ex[name], paths[name], contract[name])
    return paths


IMAGE_MEAN = [0.5, 0.5, 0.5]
IMAGE_STD = [0.5, 0.5, 0.5]
CAMERAS = ["front", "wrist"]


def embodiment_entries(cfg: ModelConfig, ranges: dict[str, tuple[list[float], list[float]]] | None = None,
                       tcp_ranges: dict[str, tuple[list[float], list[float]]] | None = None) -> dict[str, dict]:
    """Per-arm manifest entries; min/max statistics from `ranges` (by arm name) or stats_range, and for
    an ee_pose model the TCP pose's from `tcp_ranges` (state.tcp, and the action's pose entries)."""
    out: dict[str, dict] = {}
    ee = cfg.head.action_space == "ee_pose"
    if ee and not tcp_ranges:
        raise ValueError("an ee_pose model needs its TCP statistics")
    for arm in ARMS:
        lo, hi = ranges[arm.name] if ranges else stats_range(arm)
        norm = {"mode": "min_max", "min": lo, "max": hi}
        state: dict = {"indices": list(arm.state_indices), "normalization": norm}
        action: dict = {"indices": list(arm.action_indices), "normalization": norm}
        if cfg.head.state_motion:
            n = len(arm.joints)
            state["velocity"] = {"indices": list(range(VELOCITY_SLOT, VELOCITY_SLOT + n)),
                                 "scale": [round(float(x), 9) for x in velocity_scale(lo, hi)]}
        if ee:
            tlo, thi = tcp_ranges[arm.name]
            pose = list(range(TCP_SLOT, TCP_SLOT + POSE_DIMS))
            state["tcp"] = {"indices": pose, "normalization": {"mode": "min_max", "min": tlo, "max": thi}}
            action = {"indices": pose + [arm.action_indices[-1]],
                      "normalization": {"mode": "min_max", "min": [*tlo, lo[-1]], "max": [*thi, hi[-1]]}}
        out[arm.name] = {
            "id": arm.model_id,
            "joint_names": list(arm.joints),
            "gripper": {"name": arm.gripper, "value": arm.gripper_value},
            "action_space": cfg.head.action_space,
            "state": state,
            "action": action,
        }
    assert all(e["id"] < cfg.head.n_embodiments for e in out.values())
    return out


def image_spec(cfg: ModelConfig) -> dict:
    return {
        "height": cfg.backbone.image_size,
        "width": cfg.backbone.image_size,
        "resize": "bilinear",
        "rescale": 1 / 255,
        "mean": IMAGE_MEAN,
        "std": IMAGE_STD,
        "channel_order": "rgb",
    }


def tokenizer_spec(cfg: ModelConfig) -> dict:
    return {
        "kind": "bytes",
        "max_length": cfg.backbone.max_text,
        "vocab_size": cfg.backbone.vocab_size,
        "pad_id": 0,
        "bos_id": 1,
        "eos_id": 2,
        "byte_offset": 4,
    }


def write_manifest(
    model: Model,
    out_dir: Path,
    paths: dict[str, Path],
    name: str,
    description: str,
    ranges: dict[str, tuple[list[float], list[float]]] | None = None,
    created_by: str = "models/tools/make_test_model.py",
    tcp_ranges: dict[str, tuple[list[float], list[float]]] | None = None,
) -> dict:
    """manifest.json for the exported graphs; `ranges` (min/max per arm) replaces stats_range's
    statistics (a trained model carries its data's)."""
    cfg = model.cfg
    contract = io_contract(cfg)
    graphs = {
        key: {"file": p.name, "sha256": sha256(p), **contract[key]} for key, p in paths.items()
    }
    manifest = {
        "format": "blm-model/1",
        "name": name,
        "description": description,
        "created_by": created_by,
        "config": cfg.to_dict(),
        "graphs": graphs,
        "backbone": {
            "kind": "standin",
            "layer_k": cfg.backbone.layer_k,
            "hidden_dim": cfg.backbone.d,
            "cameras": CAMERAS[: cfg.backbone.n_cameras],
        },
        "image": image_spec(cfg),
        "tokenizer": tokenizer_spec(cfg),
        "intent": {"tokens": cfg.bridge.n_intent, "dim": cfg.bridge.d_intent,
                   **({"frames": intent_frames(cfg)} if cfg.head.goal_intent else {})},
        "policy": {
            "horizon": cfg.head.horizon,
            "action_dim": cfg.head.action_dim,
            "state_dim": cfg.head.state_dim,
            "action_dt": 0.05,
            "flow_matching": {"path": "linear", "solver": "euler", "default_steps": 4, "time_scale": cfg.head.time_scale},
        },
        "embodiments": embodiment_entries(cfg, ranges, tcp_ranges),
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


# ---- reference pre/post-processing (the TypeScript runtime implements the same) ----


def tokenize(text: str, tok: dict) -> tuple[np.ndarray, np.ndarray]:
    """Byte tokenizer: [bos] + (utf-8 bytes + offset), truncated to max_length - 1, then [eos], padded."""
    n = tok["max_length"]
    body = [b + tok["byte_offset"] for b in text.encode("utf-8")][: n - 2]
    ids = [tok["bos_id"], *body, tok["eos_id"]]
    mask = [1] * len(ids) + [0] * (n - len(ids))
    ids = ids + [tok["pad_id"]] * (n - len(ids))
    return np.array(ids, dtype=np.int64), np.array(mask, dtype=np.int64)


def preprocess_same_size(images_hwc: np.ndarray, image: dict) -> np.ndarray:
    """uint8 [C, S, S, 3] rgb at the model size -> float32 [C, 3, S, S] (x * rescale - mean) / std."""
    x = images_hwc.astype(np.float32) * np.float32(image["rescale"])
    x = (x - np.array(image["mean"], np.float32)) / np.array(image["std"], np.float32)
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


def normalize(x: np.ndarray, norm: dict) -> np.ndarray:
    if norm["mode"] == "min_max":
        lo, hi = np.array(norm["min"], np.float64), np.array(norm["max"], np.float64)
        return (2.0 * (x - lo) / (hi - lo) - 1.0).astype(np.float32)
    return ((x - np.array(norm["mean"])) / np.array(norm["std"])).astype(np.float32)


def denormalize(x: np.ndarray, norm: dict) -> np.ndarray:
    if norm["mode"] == "min_max":
        lo, hi = np.array(norm["min"], np.float64), np.array(norm["max"], np.float64)
        xc = np.clip(x.astype(np.float64), -1.0, 1.0)
        return ((xc + 1.0) * 0.5 * (hi - lo) + lo).astype(np.float32)
    return (x.astype(np.float64) * np.array(norm["std"]) + np.array(norm["mean"])).astype(np.float32)
