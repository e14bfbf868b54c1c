"""DART-style noise for recording demonstrations (Laskey et al., 2017): the arm executes a perturbed
copy of the expert's planned path while the expert's own path is recorded as the reference.

A policy trained only on the expert's states has never seen itself off the path, so its small errors
compound in the closed loop. Here each executed path is bent by a smooth bump that leaves its start and
end where they were (q(t) + a * sin^2(pi t / T), a per joint): the arm leaves the plan by up to |a|
mid-motion and comes back to it, and the demonstration then pairs those off-path states with the
reference ahead of them, which leads back. The grasp, place and push poses (the ends of paths) stay
exact, so the episode succeeds as often as a clean one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from .planning import TimedPath

__all__ = ["Perturbation"]


@dataclass
class Perturbation:
    """``std``: the bump's amplitude per joint (rad, normal, clipped at 2 std); a path shorter than
    ``min_duration`` (s) or whose bent copy would leave the joint limits (less ``margin``) is executed
    as planned; each other path is bent with probability ``probability``."""

    std: float
    lower: np.ndarray
    upper: np.ndarray
    rng: np.random.Generator
    min_duration: float = 0.6
    probability: float = 0.7
    margin: float = 0.05

    def __post_init__(self) -> None:
        if not self.std > 0:
            raise ValueError(f"perturbation std must be > 0 rad, got {self.std}")

    def apply(self, path: TimedPath) -> Optional[TimedPath]:
        """The bent path to execute, or None to execute ``path`` as planned. Draws from the rng either way
        (one draw pattern per path), so which paths are bent does not depend on their shapes."""
        amp = np.clip(self.rng.normal(0.0, self.std, path.positions.shape[1]), -2 * self.std, 2 * self.std)
        bend = self.rng.random() < self.probability
        T = path.duration
        if not bend or T < self.min_duration:
            return None
        s = np.pi * path.times / T
        positions = path.positions + np.sin(s)[:, None] ** 2 * amp[None]
        if np.any(positions < self.lower + self.margin) or np.any(positions > self.upper - self.margin):
            return None
        velocities = path.velocities + (np.pi / T) * np.sin(2 * s)[:, None] * amp[None]
        return TimedPath(times=path.times, positions=positions, velocities=velocities)
