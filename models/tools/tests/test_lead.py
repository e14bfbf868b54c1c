"""blm_tiny.lead: the hold and motion-extrapolation baselines a chunk's first point is measured against."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from blm_tiny import lead, stage2  # noqa: E402
from blm_tiny.demos import HORIZON  # noqa: E402
from blm_tools.embodiments import ARMS  # noqa: E402
from test_blm_tiny_stage2 import _use_small_policy, _write_cached  # noqa: E402

LAG = 2  # the commands lead the measured joints by two 0.05 s steps


def _moving_cache(root: Path, rng: np.random.Generator) -> None:
    """Arms moving at a constant velocity per episode, commanded LAG steps ahead of where they are."""
    for arm in ARMS:
        for seed in range(3):
            n = 25
            step = rng.uniform(-0.01, 0.01, arm.dims - 1)
            s = np.array([*arm.home, arm.gripper_range[1] * 0.9])[None].repeat(n, axis=0)
            s[:, :-1] += np.arange(n)[:, None] * step[None]
            chunks = s[:, None, :].repeat(HORIZON, axis=1)
            chunks[:, :, :-1] += (LAG + 1 + np.arange(HORIZON))[None, :, None] * step[None, None, :]
            _write_cached(root, arm.name, seed, rng.normal(size=(4, 6, 16)).astype(np.float16), s, chunks,
                          rng.integers(0, 4, (n, 4)))


def test_extrapolating_the_measured_motion_recovers_a_lagging_command_that_holding_misses(tmp_path):
    _moving_cache(tmp_path, np.random.default_rng(0))
    demos = stage2.Demos(sorted(tmp_path.glob("*/*/seed_*.npz")))
    train_rows, val_rows = stage2.split(demos)
    out = lead.baselines(demos, train_rows, val_rows)
    assert sorted(out) == sorted(a.name for a in ARMS)
    for arm in ARMS:
        r = out[arm.name]
        # the first sample of an episode has no previous state: its motion reads zero, so the fit is
        # exact on every other sample and the held-out error comes from that one sample
        assert abs(r["gains"][0] - (LAG + 1)) < 0.2 and abs(r["gains"][-1] - (LAG + HORIZON)) < 0.2 * HORIZON
        assert r["extrapolate"][0] < 0.2 * r["hold"][0]
        assert r["extrapolate"][1] < 0.2 * r["hold"][1]
        assert r["hold"][0] > 0


def test_the_report_measures_checkpoints_in_radians_per_arm(tmp_path, monkeypatch):
    _moving_cache(tmp_path / "cache", np.random.default_rng(1))
    _use_small_policy(monkeypatch)
    stage2.train(tmp_path / "cache", tmp_path / "run", steps=5, batch_size=8, lr=1e-3, seed=0, resume=False,
                 threads=1, state_skip="identity")
    r = lead.report(tmp_path / "cache", [tmp_path / "run" / "ckpt.pt"])
    errs = r["policies"][str(tmp_path / "run" / "ckpt.pt")]
    assert sorted(errs) == sorted(a.name for a in ARMS)
    # an untrained head predicts about the state: about the hold error, nowhere near zero or huge
    for arm, (first, chunk) in errs.items():
        hold = r["baselines"][arm]["hold"]
        assert 0 < first < 10 * hold[0] + 0.1 and chunk > 0
