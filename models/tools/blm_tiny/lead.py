"""What the measured motion already tells about a chunk, against what the policy gets right.

On the held-out demonstrations (``stage2.split``), the error in radians (largest over the arm
joints, mean over samples) at the chunk's first point and over the chunk, per arm, of:

- ``hold``: the chunk is the current joints, held;
- ``extrapolate``: the current joints plus g_k times the last measured step (this sample's state
  less the previous sample's, 0.05 s earlier on the anchor grid; zero at an episode's start), one
  gain g_k per horizon step fitted by least squares on the training samples of that arm;
- each checkpoint's policy, one Euler step from zero noise as the agent samples.

The policy's state is joint positions only; the expert's commands lead the measured joints by its
tracking lag, which only the motion shows. When ``extrapolate`` beats the policy at the first point,
the policy is missing the arm's velocity, not the scene.

    python -m blm_tiny.lead --cache ../../out/train/os/cache [--ckpt CKPT ...] [--out lead.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch


def _motion(states: np.ndarray) -> np.ndarray:
    v = np.zeros_like(states)
    v[1:] = states[1:] - states[:-1]
    return v


def _errors(pred: np.ndarray, want: np.ndarray) -> tuple[float, float]:
    """pred, want [N, H, joints] -> (first point, whole chunk): mean over samples of the largest joint error."""
    e = np.abs(pred - want).max(axis=2)
    return float(e[:, 0].mean()), float(e.mean())


def baselines(demos, train_rows: np.ndarray, val_rows: np.ndarray) -> dict:
    """Per arm: hold and extrapolate errors on the held-out rows, and the fitted gains."""
    by_arm: dict[str, dict[str, list]] = {}
    for part, rows in (("train", train_rows), ("held_out", val_rows)):
        for i, j in demos.index[rows]:
            e = demos.eps[i]
            d = by_arm.setdefault(e["arm"].name, {"train": [], "held_out": []})
            s = e["states"][:, :-1]
            d[part].append((s[j], _motion(s)[j], e["chunks"][j][:, :-1]))
    out = {}
    for arm, d in sorted(by_arm.items()):
        if not d["train"] or not d["held_out"]:
            continue
        s, v, c = (np.array(x) for x in zip(*d["train"]))
        gains = (v[:, None, :] * (c - s[:, None, :])).sum(axis=(0, 2)) / max(float((v * v).sum()), 1e-12)
        s, v, c = (np.array(x) for x in zip(*d["held_out"]))
        hold = np.repeat(s[:, None, :], c.shape[1], axis=1)
        out[arm] = {"samples": len(s), "hold": _errors(hold, c),
                    "extrapolate": _errors(hold + gains[None, :, None] * v[:, None, :], c),
                    "gains": [round(float(g), 3) for g in gains]}
    return out


@torch.no_grad()
def policy_errors(demos, val_rows: np.ndarray, ckpt_path: Path) -> dict:
    """Per arm: the checkpoint's (first point, chunk) errors in radians on the held-out rows."""
    from blm_tools.modules import euler_sample

    from .stage2 import Batcher, load_policy

    ck = torch.load(ckpt_path, weights_only=False)
    policy, cfg = load_policy(ck)
    if cfg.head.action_space != "absolute_joint":
        raise ValueError(f"{ckpt_path}: lead compares joint-space chunks; this model's actions are {cfg.head.action_space}")
    batcher = Batcher(demos, ck["ranges"], cfg)
    pred_by_arm: dict[str, list] = {}
    want_by_arm: dict[str, list] = {}
    idx = demos.index[val_rows]
    for k in range(0, len(idx), 256):
        part = idx[k : k + 256]
        b = batcher.make(part, np.random.default_rng(0), stale=False)
        intent = policy.bridge(b["hidden"], b["mask"])
        x = euler_sample(policy.head, torch.zeros_like(b["actions"]), b["state"], b["emb"], intent, 1).numpy()
        for r, (i, j) in enumerate(part):
            arm = demos.eps[i]["arm"]
            lo, hi = batcher.lo[arm.name][:-1], batcher.hi[arm.name][:-1]
            ai = list(arm.action_indices)[:-1]
            pred_by_arm.setdefault(arm.name, []).append((x[r][:, ai] + 1) / 2 * (hi - lo) + lo)
            want_by_arm.setdefault(arm.name, []).append(demos.eps[i]["chunks"][j][:, :-1])
    return {arm: _errors(np.array(pred_by_arm[arm]), np.array(want_by_arm[arm])) for arm in sorted(pred_by_arm)}


def report(cache: Path, ckpts: list[Path]) -> dict:
    from .stage2 import Demos, split

    demos = Demos(sorted(Path(cache).glob("*/*/seed_*.npz")))
    train_rows, val_rows = split(demos)
    out = {"cache": str(cache), "units": "rad, (first point, chunk)", "baselines": baselines(demos, train_rows, val_rows)}
    out["policies"] = {str(c): policy_errors(demos, val_rows, c) for c in ckpts}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m blm_tiny.lead", description=__doc__.split("\n\n")[0])
    ap.add_argument("--cache", type=Path, required=True)
    ap.add_argument("--ckpt", type=Path, nargs="*", default=[])
    ap.add_argument("--out", type=Path, default=None)
    a = ap.parse_args(argv)
    r = report(a.cache, a.ckpt)
    text = json.dumps(r, indent=1)
    if a.out:
        a.out.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
