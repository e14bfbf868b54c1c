"""Read an embodiment definition (``embodiments/<name>/embodiment.yaml``) for the simulator.

The definition is validated by the zod schema in ``embodiments/schema.ts`` (the source of truth,
exported as ``embodiments/embodiment.schema.json``); this reader takes only what the sim needs and
fails with a message that names the missing or malformed field. No MuJoCo, no ROS.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import yaml

from .trajectory import JointLimits

__all__ = ["EmbodimentError", "ArmJoint", "GripperDef", "Embodiment", "load_embodiment", "repo_root"]


class EmbodimentError(ValueError):
    """A definition the simulator cannot use; the message names the field."""


def repo_root() -> Path:
    """The repository root (``sim/blm_sim/embodiment.py`` -> two levels up from ``sim``)."""
    return Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class ArmJoint:
    name: str
    lower: float
    upper: float
    velocity: float
    acceleration: float
    effort: Optional[float]

    def limits(self) -> JointLimits:
        return JointLimits(self.lower, self.upper, self.velocity)


@dataclass(frozen=True)
class GripperDef:
    joint: str
    mimic_joints: tuple[str, ...]
    lower: float
    upper: float
    velocity: float
    width_at_lower: float
    width_at_upper: float
    interface: str  # trajectory | gripper_command | parallel_gripper
    command: str
    max_effort: float

    def width(self, position: float) -> float:
        """Jaw opening (m) at a joint position, linear between the range ends."""
        f = (position - self.lower) / (self.upper - self.lower)
        return self.width_at_lower + f * (self.width_at_upper - self.width_at_lower)

    def position(self, width: float) -> float:
        f = (width - self.width_at_lower) / (self.width_at_upper - self.width_at_lower)
        return self.lower + f * (self.upper - self.lower)


@dataclass(frozen=True)
class Embodiment:
    name: str
    joints: tuple[ArmJoint, ...]
    home: tuple[float, ...]
    gripper: GripperDef
    base_xyz: tuple[float, float, float]
    base_rpy: tuple[float, float, float]
    trajectory_topic: str
    joint_states_topic: str
    control_rate_hz: float
    source: Optional[Path] = None

    @property
    def joint_names(self) -> tuple[str, ...]:
        return tuple(j.name for j in self.joints)

    def arm_limits(self) -> tuple[JointLimits, ...]:
        return tuple(j.limits() for j in self.joints)


def _get(d: Any, path: str, kind: type | tuple = (int, float)) -> Any:
    cur = d
    for part in path.split("."):
        if not isinstance(cur, dict) or part not in cur:
            raise EmbodimentError(f"embodiment field '{path}' is missing")
        cur = cur[part]
    if kind is not None and not isinstance(cur, kind):
        raise EmbodimentError(f"embodiment field '{path}' has the wrong type ({type(cur).__name__})")
    return cur


def _num(d: Any, path: str) -> float:
    v = _get(d, path, (int, float))
    if isinstance(v, bool):
        raise EmbodimentError(f"embodiment field '{path}' must be a number")
    return float(v)


def parse_embodiment(raw: dict, source: Optional[Path] = None) -> Embodiment:
    name = _get(raw, "name", str)
    joints_raw = _get(raw, "joints", list)
    joints = []
    for i, j in enumerate(joints_raw):
        joints.append(
            ArmJoint(
                name=_get(j, "name", str),
                lower=_num(j, "position.lower"),
                upper=_num(j, "position.upper"),
                velocity=_num(j, "velocity"),
                acceleration=_num(j, "acceleration"),
                effort=float(j["effort"]) if "effort" in j else None,
            )
        )
        if joints[-1].lower >= joints[-1].upper:
            raise EmbodimentError(f"embodiment field 'joints.{i}.position' has inverted limits")
    home = tuple(float(v) for v in _get(raw, "home", list))
    if len(home) != len(joints):
        raise EmbodimentError(f"embodiment field 'home' needs {len(joints)} values")
    g = _get(raw, "gripper", dict)
    gripper = GripperDef(
        joint=_get(g, "joint", str),
        mimic_joints=tuple(g.get("mimic_joints", []) or []),
        lower=_num(g, "position.lower"),
        upper=_num(g, "position.upper"),
        velocity=_num(g, "velocity"),
        width_at_lower=_num(g, "width_at_lower"),
        width_at_upper=_num(g, "width_at_upper"),
        interface=_get(g, "interface", str),
        command=_get(g, "command", str),
        max_effort=_num(g, "max_effort"),
    )
    base = raw.get("kinematics", {}).get("base", {}) if isinstance(raw.get("kinematics"), dict) else {}
    xyz = tuple(float(v) for v in base.get("xyz", (-0.615, 0.0, 0.0)))
    rpy = tuple(float(v) for v in base.get("rpy", (0.0, 0.0, 0.0)))
    driver = _get(raw, "driver", dict)
    return Embodiment(
        name=name,
        joints=tuple(joints),
        home=home,
        gripper=gripper,
        base_xyz=xyz,  # type: ignore[arg-type]
        base_rpy=rpy,  # type: ignore[arg-type]
        trajectory_topic=_get(driver, "trajectory_topic", str),
        joint_states_topic=str(driver.get("joint_states_topic", "/joint_states")),
        control_rate_hz=_num(driver, "control_rate_hz"),
        source=source,
    )


def load_embodiment(name_or_path: str | Path, root: Optional[Path] = None) -> Embodiment:
    """Load ``embodiments/<name>/embodiment.yaml`` (or a path to a YAML file)."""
    p = Path(name_or_path)
    if p.suffix not in (".yaml", ".yml"):
        p = (root or repo_root()) / "embodiments" / str(name_or_path) / "embodiment.yaml"
    if not p.exists():
        raise EmbodimentError(f"no embodiment definition at {p}")
    with p.open() as f:
        raw = yaml.safe_load(f)
    if not isinstance(raw, dict):
        raise EmbodimentError(f"{p} does not hold a mapping")
    return parse_embodiment(raw, p)
