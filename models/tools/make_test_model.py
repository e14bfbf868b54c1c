"""Generate the seeded test model folder (models/test-tiny) and its parity fixtures.

    /work/main/.ros/venv/bin/python models/tools/make_test_model.py [--out models/test-tiny] [--steps 2500]

Writes backbone.onnx, intent_bridge.onnx, denoiser.onnx, manifest.json and fixtures/parity.json.
The fixtures carry every input, including the noise tensors (DESIGN decision 15), and PyTorch's
outputs, so the TypeScript parity tests do not depend on matching random number generators.
Deterministic for a given seed and torch build (torch==2.13.0 CPU).
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from blm_tools.config import HeadConfig, ModelConfig  # noqa: E402
from blm_tools.embodiments import ARMS  # noqa: E402
from blm_tools.export import (  # noqa: E402
    Model,
    denormalize,
    export_graphs,
    normalize,
    image_spec,
    preprocess_same_size,
    tokenize,
    tokenizer_spec,
    write_manifest,
)
from blm_tools.modules import euler_sample  # noqa: E402
from blm_tools.train import Task, train_head  # noqa: E402

INSTRUCTIONS = (
    "pick up the red cube",
    "push the green block to the left",
    "open the drawer",
    "stack the blue cube on the red cube",
    "move the arm to the right",
    "put the cube in the bowl",
)


def b64(a: np.ndarray) -> dict:
    a = np.ascontiguousarray(a)
    dtype = {np.dtype(np.float32): "float32", np.dtype(np.int64): "int64", np.dtype(np.uint8): "uint8"}[a.dtype]
    return {"dtype": dtype, "shape": list(a.shape), "data": base64.b64encode(a.astype(a.dtype.newbyteorder("<")).tobytes()).decode()}


def ort_roundtrip(out: Path, model: Model) -> float:
    """Max |onnxruntime - torch| over the three graphs on random inputs with batch 3."""
    import onnxruntime as ort

    from blm_tools.export import example_inputs

    worst = 0.0
    ex = example_inputs(model.cfg, batch=3)
    mods = {"backbone": model.backbone, "intent_bridge": model.bridge, "denoiser": model.head}
    for key, args in ex.items():
        sess = ort.InferenceSession(str(out / f"{key}.onnx"), providers=["CPUExecutionProvider"])
        feeds = {i.name: a.numpy() for i, a in zip(sess.get_inputs(), args)}
        got = sess.run(None, feeds)
        with torch.no_grad():
            ref = mods[key](*args)
        ref = ref if isinstance(ref, tuple) else (ref,)
        for g_, r_ in zip(got, ref):
            worst = max(worst, float(np.max(np.abs(g_.astype(np.float64) - r_.numpy().astype(np.float64)))))
    return worst


def make_fixtures(model: Model, manifest: dict, seed: int) -> dict:
    cfg = model.cfg
    rng = np.random.default_rng(seed)
    c = cfg.backbone
    images = rng.integers(0, 256, size=(c.n_cameras, c.image_size, c.image_size, 3), dtype=np.uint8)
    instruction = "pick up the red cube"
    ids, mask = tokenize(instruction, manifest["tokenizer"])
    pixels = preprocess_same_size(images, manifest["image"])
    with torch.no_grad():
        hidden, hmask = model.backbone(torch.from_numpy(pixels[None]), torch.from_numpy(ids[None]), torch.from_numpy(mask[None]))
        intent = model.bridge(hidden, hmask)
    fixture: dict = {
        "about": "Inputs, noise and PyTorch outputs for the TypeScript parity tests (models/tools/make_test_model.py).",
        "torch": torch.__version__,
        "seed": seed,
        "encode": {
            "instruction": instruction,
            "images_rgb8": b64(images),
            "input_ids": b64(ids),
            "attention_mask": b64(mask),
            "pixel_values": b64(pixels),
            "hidden_states": b64(hidden[0].numpy()),
            "hidden_mask": b64(hmask[0].numpy()),
            "intent": b64(intent[0].numpy()),
        },
        "sample": [],
    }
    h = cfg.head
    for arm in ARMS:
        emb = manifest["embodiments"][arm.name]
        st_norm, act_norm = emb["state"]["normalization"], emb["action"]["normalization"]
        lo, hi = np.array(st_norm["min"]), np.array(st_norm["max"])
        state_units = (lo + (hi - lo) * rng.uniform(0.2, 0.8, size=arm.dims)).astype(np.float32)
        state = np.zeros(h.state_dim, np.float32)
        state[emb["state"]["indices"]] = normalize(state_units, st_norm)
        for steps in (1, 4, 10):
            for prefix_len in (0, 5):
                noise = rng.standard_normal((h.horizon, h.action_dim)).astype(np.float32)
                prefix_units = None
                prefix = None
                if prefix_len:
                    # a committed prefix from a "previous chunk": near the current state
                    lo_a, hi_a = np.array(act_norm["min"]), np.array(act_norm["max"])
                    prefix_units = (
                        state_units[None] + (hi_a - lo_a)[None] * 0.02 * rng.standard_normal((prefix_len, arm.dims))
                    ).astype(np.float32)
                    prefix_units = np.clip(prefix_units, lo_a, hi_a).astype(np.float32)
                    prefix = np.zeros((prefix_len, h.action_dim), np.float32)
                    prefix[:, emb["action"]["indices"]] = normalize(prefix_units, act_norm)
                x = euler_sample(
                    model.head,
                    torch.from_numpy(noise[None]),
                    torch.from_numpy(state[None]),
                    torch.tensor([emb["id"]], dtype=torch.int64),
                    intent,
                    steps,
                    None if prefix is None else torch.from_numpy(prefix[None]),
                )[0].numpy()
                chunk_units = denormalize(x[:, emb["action"]["indices"]], act_norm)
                case = {
                    "embodiment": arm.name,
                    "steps": steps,
                    "state_units": b64(state_units),
                    "noise": b64(noise),
                    "normalized_chunk": b64(x),
                    "chunk_units": b64(chunk_units),
                }
                if prefix_units is not None:
                    case["prefix_units"] = b64(prefix_units)
                fixture["sample"].append(case)
    return fixture


def intent_bank(model: Model, n: int, seed: int) -> torch.Tensor:
    """[n, n_intent, d_intent]: what the (fixed, untrained) stand-in backbone and bridge produce
    for random camera images and a few instructions; the head trains on these next to Gaussian intents."""
    cfg = model.cfg
    c = cfg.backbone
    rng = np.random.default_rng(seed)
    tok, img = tokenizer_spec(cfg), image_spec(cfg)
    out = []
    with torch.no_grad():
        for i in range(0, n, 64):
            b = min(64, n - i)
            images = rng.integers(0, 256, size=(b, c.n_cameras, c.image_size, c.image_size, 3), dtype=np.uint8)
            pixels = np.stack([preprocess_same_size(x, img) for x in images])
            ids, mask = zip(*(tokenize(INSTRUCTIONS[rng.integers(len(INSTRUCTIONS))], tok) for _ in range(b)))
            hidden, hmask = model.backbone(
                torch.from_numpy(pixels), torch.from_numpy(np.stack(ids)), torch.from_numpy(np.stack(mask))
            )
            out.append(model.bridge(hidden, hmask))
    return torch.cat(out)


def smoothness_report(model: Model, manifest: dict, seed: int, intents: torch.Tensor, n: int = 96) -> dict:
    """Per arm and step count: the largest per-step joint change as a fraction of velocity limit × dt,
    the largest |first point - state| (rad) and the smallest largest-joint motion over the horizon (rad),
    from states near home and across the statistics' range, with bridge intents."""
    cfg = model.cfg
    task = Task(cfg)
    g = torch.Generator().manual_seed(seed)
    dt = manifest["policy"]["action_dt"]
    report: dict = {}
    for e, arm in enumerate(ARMS):
        emb = torch.full((n,), e)
        nj = arm.dims - 1
        near = task.norm(task.home[emb] + 0.4 * (torch.rand(n, task.dims, generator=g) - 0.5), emb).clamp(-1, 1)
        wide = torch.rand(n, task.dims, generator=g) * 1.8 - 0.9
        s_norm = torch.where((torch.arange(n) < n // 2)[:, None], near, wide) * task.used[emb]
        s_units = task.denorm(s_norm, emb)[:, : arm.dims]
        state = task.scatter(s_norm, task.s_idx, emb, cfg.head.state_dim)
        intent = intents[torch.randint(0, intents.shape[0], (n,), generator=g)]
        vdt = torch.tensor(arm.velocity) * dt
        for steps in (1, 4, 10):
            noise = torch.randn(n, cfg.head.horizon, cfg.head.action_dim, generator=g)
            x = euler_sample(model.head, noise, state, emb, intent, steps)[:, :, list(arm.action_indices)]
            q = torch.from_numpy(denormalize(x.numpy(), manifest["embodiments"][arm.name]["action"]["normalization"]))
            q = q[:, :, :nj].double()
            step = ((q[:, 1:] - q[:, :-1]).abs() / vdt).max().item()
            jump = (q[:, 0] - s_units[:, :nj]).abs().max().item()
            move = (q[:, -1] - s_units[:, :nj]).abs().max(1).values.min().item()
            report[f"{arm.name}/{steps}"] = {"step_over_vdt": round(step, 4), "jump_rad": round(jump, 4), "min_move_rad": round(move, 4)}
    return report


def check_bounds(model: Model, manifest: dict, seed: int, n: int = 64) -> float:
    """Fraction of normalized outputs inside [-1, 1] (before the runtime's clip) on random inputs."""
    cfg = model.cfg
    g = torch.Generator().manual_seed(seed)
    inside = total = 0
    for arm in ARMS:
        emb = manifest["embodiments"][arm.name]
        state = torch.zeros(n, cfg.head.state_dim)
        state[:, list(arm.state_indices)] = torch.rand(n, arm.dims, generator=g) * 1.6 - 0.8
        intent = torch.randn(n, cfg.bridge.n_intent, cfg.bridge.d_intent, generator=g)
        noise = torch.randn(n, cfg.head.horizon, cfg.head.action_dim, generator=g)
        x = euler_sample(model.head, noise, state, torch.full((n,), emb["id"]), intent, 4)[:, :, list(arm.action_indices)]
        inside += int((x.abs() <= 1).sum())
        total += x.numel()
    return inside / total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "test-tiny")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--steps", type=int, default=2500, help="training steps of the synthetic task")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)  # tiny weights late in training: denormals slow the CPU down many-fold
    torch.manual_seed(args.seed)
    cfg = ModelConfig(head=HeadConfig(prediction="sample"))
    model = Model(cfg)
    model.eval()
    bank = intent_bank(model, 1024, args.seed)
    train_head(model.head, cfg, args.steps, args.seed, intent_bank=bank)
    model.eval()
    paths = export_graphs(model, args.out)
    manifest = write_manifest(
        model,
        args.out,
        paths,
        "test-tiny",
        "Seeded tiny test model: stand-in backbone, Perceiver intent bridge, DiT flow-matching head "
        "trained briefly on a synthetic task. For tests and benchmarks only.",
    )
    print(f"onnxruntime vs torch, batch 3: max abs diff {ort_roundtrip(args.out, model):.2e}")
    print(f"normalized outputs inside [-1, 1] before clipping: {check_bounds(model, manifest, args.seed):.4f}")
    report = smoothness_report(model, manifest, args.seed, intent_bank(model, 64, args.seed + 1))
    for key, r in report.items():
        print(f"{key:14s} per-step change / (v·dt) {r['step_over_vdt']:.3f}  first-point jump {r['jump_rad']:.3f} rad  "
              f"smallest motion {r['min_move_rad']:.3f} rad")
    fixtures = make_fixtures(model, manifest, args.seed)
    (args.out / "fixtures").mkdir(exist_ok=True)
    (args.out / "fixtures" / "parity.json").write_text(json.dumps(fixtures, indent=1) + "\n")
    total = sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file())
    print(f"wrote {args.out} ({total / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
