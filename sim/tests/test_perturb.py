"""The DART-style path bend (blm_sim/expert/perturb.py): pure, no ROS."""

from __future__ import annotations

import numpy as np
import pytest

from blm_sim.expert.perturb import Perturbation
from blm_sim.expert.planning import TimedPath

LOWER, UPPER = np.full(3, -2.0), np.full(3, 2.0)


def _path(duration: float = 2.0, n: int = 401) -> TimedPath:
    t = np.linspace(0.0, duration, n)
    q = np.stack([0.3 * t / duration, -0.2 * t / duration, np.zeros(n)], axis=1)
    v = np.tile([0.3 / duration, -0.2 / duration, 0.0], (n, 1))
    return TimedPath(times=t, positions=q, velocities=v)


def _bent(seed: int = 0, **kw) -> tuple[TimedPath, TimedPath]:
    p = Perturbation(0.05, LOWER, UPPER, np.random.default_rng(seed), probability=1.0, **kw)
    path = _path()
    return path, p.apply(path)


def test_a_bent_path_keeps_its_ends_and_leaves_the_plan_by_at_most_twice_the_std_mid_way():
    path, bent = _bent()
    np.testing.assert_allclose(bent.positions[[0, -1]], path.positions[[0, -1]], atol=1e-12)
    off = bent.positions - path.positions
    assert 0.0 < np.max(np.abs(off)) <= 0.1
    mid = len(path.times) // 2
    np.testing.assert_allclose(np.abs(off[mid]), np.max(np.abs(off), axis=0))  # the bump peaks mid-path
    np.testing.assert_array_equal(bent.times, path.times)


def test_a_bent_path_carries_its_own_velocities():
    _, bent = _bent(seed=3)
    fd = np.gradient(bent.positions, bent.times, axis=0)
    np.testing.assert_allclose(bent.velocities[1:-1], fd[1:-1], atol=2e-3)
    np.testing.assert_allclose(bent.velocities[[0, -1]], _path().velocities[[0, -1]], atol=1e-9)


def test_short_paths_and_paths_pushed_past_a_limit_run_as_planned():
    p = Perturbation(0.05, LOWER, UPPER, np.random.default_rng(0), probability=1.0, min_duration=0.6)
    assert p.apply(_path(duration=0.5)) is None
    tight = Perturbation(0.05, np.full(3, -0.06), np.full(3, 0.36), np.random.default_rng(0), probability=1.0)
    assert tight.apply(_path()) is None  # joint 2 reaches -0.2, outside -0.06 + margin


def test_which_paths_bend_follows_the_seed_not_the_paths():
    def pattern(seed: int, duration: float) -> list[bool]:
        p = Perturbation(0.05, LOWER, UPPER, np.random.default_rng(seed), probability=0.5)
        return [p.apply(_path(duration)) is not None for _ in range(40)]

    a = pattern(1, 2.0)
    assert a == pattern(1, 3.0) and 5 < sum(a) < 35
    assert a != pattern(2, 2.0)


def test_a_non_positive_std_is_refused():
    with pytest.raises(ValueError, match="std must be > 0"):
        Perturbation(0.0, LOWER, UPPER, np.random.default_rng(0))
