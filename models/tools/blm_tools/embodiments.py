"""The four arms as the model sees them, read from the embodiment definitions
(embodiments/<name>/embodiment.yaml: joint names and limits from the published sources in
/work/shared/ROBOTS.md, the shared padded layout, and the gripper value).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

PI = math.pi
EMBODIMENTS_DIR = Path(__file__).resolve().parents[3] / "embodiments"
# Order = embodiment index of the policy head's per-embodiment weights.
NAMES = ("panda", "xarm6", "xarm7", "widowx_ai")


@dataclass(frozen=True)
class Arm:
    name: str
    model_id: int
    joints: tuple[str, ...]
    lower: tuple[float, ...]
    upper: tuple[float, ...]
    gripper: str
    gripper_value: str  # "width" (m, jaw opening) or "joint_position" (gripper joint units)
    gripper_range: tuple[float, float]  # in gripper_value units
    state_indices: tuple[int, ...]  # joints then gripper, in the padded state vector
    action_indices: tuple[int, ...]  # joints then gripper, in the padded action vector
    home: tuple[float, ...]  # the home configuration (arm joints)
    velocity: tuple[float, ...]  # joint velocity limits (rad/s)
    gripper_limits: tuple[float, float] = (0.0, 1.0)  # gripper joint position lower, upper (joint units)
    gripper_widths: tuple[float, float] = (0.0, 1.0)  # jaw width (m) at the joint's lower, upper limit

    @property
    def dims(self) -> int:
        return len(self.joints) + 1

    def width_of(self, q):
        """Jaw width (m) of a gripper joint position: linear between the limits (the runtime's map)."""
        (lo, hi), (w0, w1) = self.gripper_limits, self.gripper_widths
        return w0 + (q - lo) / (hi - lo) * (w1 - w0)


def load_arm(name: str, model_id: int, root: Path = EMBODIMENTS_DIR) -> Arm:
    d = yaml.safe_load((root / name / "embodiment.yaml").read_text())
    g = d["gripper"]
    m = d["model"]
    value = m.get("gripper_value", "width")
    if value == "width":
        lo, hi = sorted((float(g["width_at_lower"]), float(g["width_at_upper"])))
    else:
        lo, hi = float(g["position"]["lower"]), float(g["position"]["upper"])
    return Arm(
        name=name,
        model_id=model_id,
        joints=tuple(j["name"] for j in d["joints"]),
        lower=tuple(float(j["position"]["lower"]) for j in d["joints"]),
        upper=tuple(float(j["position"]["upper"]) for j in d["joints"]),
        gripper=g["joint"],
        gripper_value=value,
        gripper_range=(lo, hi),
        state_indices=tuple(m["state_indices"]),
        action_indices=tuple(m["action_indices"]),
        home=tuple(float(x) for x in d["home"]),
        velocity=tuple(float(j["velocity"]) for j in d["joints"]),
        gripper_limits=(float(g["position"]["lower"]), float(g["position"]["upper"])),
        gripper_widths=(float(g.get("width_at_lower", 0.0)), float(g.get("width_at_upper", 1.0))),
    )


ARMS: tuple[Arm, ...] = tuple(load_arm(n, i) for i, n in enumerate(NAMES))


# Half-width (rad) of the joint range around home that the test model's statistics cover.
REACH = 1.5
# Distance (rad) the statistics keep from each joint limit.
LIMIT_MARGIN = 0.05


# First padded state slot of the arm joints' velocities (HeadConfig.state_motion): joint i at
# VELOCITY_SLOT + i. Every arm's positions sit below it (the largest arm has 7 joints + gripper).
VELOCITY_SLOT = 8
# First padded slot of the TCP pose (kinematics.POSE_DIMS values) in both the state and the action
# vector of an "ee_pose" model: above the velocities, below action_dim.
TCP_SLOT = 16


def velocity_scale(lo, hi) -> np.ndarray:
    """Normalized units per rad/s of each arm joint's velocity: the slope of its min/max position
    normalization (``lo``/``hi`` list the arm joints then the gripper), so a velocity reads in the
    same units as the position it changes."""
    lo, hi = np.asarray(lo, dtype=np.float64)[:-1], np.asarray(hi, dtype=np.float64)[:-1]
    return 2.0 / (hi - lo)


def stats_range(arm: Arm, reach: float = REACH, margin: float = LIMIT_MARGIN) -> tuple[list[float], list[float]]:
    """min/max statistics (embodiment units) strictly inside the limits.

    Each joint covers home ± `reach` rad intersected with its limits shrunk by `margin` rad (the
    test model's operating range: a tabletop task stays near home); the gripper its whole range
    less 1 % at each end. With min/max normalization and the runtime's clip of normalized actions
    to [-1, 1], every output lies inside the limits. The narrower the range, the fewer radians a
    residual error of the sampler in normalized units is worth.
    """
    lo: list[float] = []
    hi: list[float] = []
    for a, b, h in zip(arm.lower, arm.upper, arm.home):
        lo.append(round(max(a + margin, h - reach), 6))
        hi.append(round(min(b - margin, h + reach), 6))
    g0, g1 = arm.gripper_range
    gm = 0.01 * (g1 - g0)
    lo.append(round(g0 + gm, 6))
    hi.append(round(g1 - gm, 6))
    return lo, hi
