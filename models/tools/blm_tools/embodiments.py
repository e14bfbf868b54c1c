"""The four arms as the model sees them, read from the embodiment definitions
(embodiments/<name>/embodiment.yaml: joint names and limits from the published sources in
/work/shared/ROBOTS.md, the shared padded layout, and the gripper value).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

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

    @property
    def dims(self) -> int:
        return len(self.joints) + 1


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
    )


ARMS: tuple[Arm, ...] = tuple(load_arm(n, i) for i, n in enumerate(NAMES))


def stats_range(arm: Arm, margin: float = 0.05) -> tuple[list[float], list[float]]:
    """min/max statistics (embodiment units) strictly inside the limits.

    Joints with a range beyond ±π (the xArm's ±2π) are first clamped to ±π (the range a tabletop
    task uses); every joint is then shrunk by `margin` of its range at each end, the gripper by 1 %.
    With min/max normalization and the runtime's clip of normalized actions to [-1, 1], every
    output lies inside the limits.
    """
    lo: list[float] = []
    hi: list[float] = []
    for a, b in zip(arm.lower, arm.upper):
        a, b = max(a, -PI), min(b, PI)
        m = margin * (b - a)
        lo.append(round(a + m, 6))
        hi.append(round(b - m, 6))
    g0, g1 = arm.gripper_range
    gm = 0.01 * (g1 - g0)
    lo.append(round(g0 + gm, 6))
    hi.append(round(g1 - gm, 6))
    return lo, hi
