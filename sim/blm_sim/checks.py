"""The state checks ManiSkill's success criteria use, computed from MuJoCo's model and data.

- robot static: ``BaseAgent.is_static(0.2)`` / ``Panda.is_static``: the largest absolute arm joint
  speed (gripper joints excluded) is at most the threshold (0.2 rad/s).
- object static: ``Actor.is_static(lin_thresh, ang_thresh)``: linear speed <= lin_thresh (m/s) and
  angular speed <= ang_thresh (rad/s); the tasks use 0.01 and 0.5.
- grasping: ``Panda.is_grasping(object, min_force=0.5, max_angle=85)``: each finger touches the
  object with a net contact force of at least 0.5 N, and that force (on the finger) points within
  85 degrees of the finger's opening direction, i.e. the object pushes both jaws apart.
  (ManiSkill takes the opening direction from the finger link's y axis; here it is the direction
  from the other finger's pads to this finger's pads, which is the same line for a parallel
  gripper and needs no knowledge of the link frames.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Sequence

import mujoco
import numpy as np

__all__ = [
    "ROBOT_STATIC_THRESHOLD",
    "OBJECT_STATIC_LIN",
    "OBJECT_STATIC_ANG",
    "max_joint_speed",
    "is_robot_static",
    "free_body_velocity",
    "is_object_static",
    "contact_force_on",
    "GraspResult",
    "is_grasping",
]

ROBOT_STATIC_THRESHOLD = 0.2  # rad/s
OBJECT_STATIC_LIN = 0.01  # m/s
OBJECT_STATIC_ANG = 0.5  # rad/s
GRASP_MIN_FORCE = 0.5  # N
GRASP_MAX_ANGLE_DEG = 85.0


def max_joint_speed(data: mujoco.MjData, dof_adrs: Sequence[int]) -> float:
    """Largest absolute joint speed over these DoF addresses (0 when there are none)."""
    if len(dof_adrs) == 0:
        return 0.0
    return float(np.max(np.abs(data.qvel[list(dof_adrs)])))


def is_robot_static(data: mujoco.MjData, arm_dof_adrs: Sequence[int], threshold: float = ROBOT_STATIC_THRESHOLD) -> bool:
    return max_joint_speed(data, arm_dof_adrs) <= threshold


def free_body_velocity(model: mujoco.MjModel, data: mujoco.MjData, body_id: int) -> tuple[float, float]:
    """(linear speed m/s, angular speed rad/s) of a body.

    For a body on a free joint this reads the joint's ``qvel`` (linear velocity of the body
    origin in the world frame, angular velocity in the body frame; the norms are frame-free), so
    it is current after ``mj_step``; other bodies use ``mj_objectVelocity``.
    """
    jnt = int(model.body_jntadr[body_id])
    if jnt >= 0 and int(model.jnt_type[jnt]) == mujoco.mjtJoint.mjJNT_FREE:
        adr = int(model.jnt_dofadr[jnt])
        v = data.qvel[adr : adr + 6]
        return float(np.linalg.norm(v[:3])), float(np.linalg.norm(v[3:]))
    v6 = np.zeros(6)
    mujoco.mj_objectVelocity(model, data, mujoco.mjtObj.mjOBJ_BODY, body_id, v6, 0)
    return float(np.linalg.norm(v6[3:])), float(np.linalg.norm(v6[:3]))


def is_object_static(
    model: mujoco.MjModel,
    data: mujoco.MjData,
    body_id: int,
    lin_thresh: float = OBJECT_STATIC_LIN,
    ang_thresh: float = OBJECT_STATIC_ANG,
) -> bool:
    lin, ang = free_body_velocity(model, data, body_id)
    return lin <= lin_thresh and ang <= ang_thresh


def contact_force_on(
    model: mujoco.MjModel,
    data: mujoco.MjData,
    geoms: Iterable[int],
    other_body: int,
) -> np.ndarray:
    """Net contact force (world frame, N) that ``other_body`` exerts on the geoms ``geoms``.

    MuJoCo's contact frame has its normal pointing from geom1 to geom2, and the force from
    ``mj_contactForce`` in that frame is the one geom1 exerts on geom2.
    """
    total = np.zeros(3)
    if data.ncon == 0:
        return total
    mine = np.zeros(model.ngeom, dtype=bool)
    mine[np.fromiter(geoms, dtype=int)] = True
    pairs = np.asarray(data.contact.geom)  # (ncon, 2)
    bodies = model.geom_bodyid[pairs]
    on_first = mine[pairs[:, 0]] & (bodies[:, 1] == other_body)
    on_second = mine[pairs[:, 1]] & (bodies[:, 0] == other_body)
    f6 = np.zeros(6)
    for i in np.flatnonzero(on_first | on_second):
        sign = -1.0 if on_first[i] else 1.0  # force on geom1 = -(force on geom2)
        mujoco.mj_contactForce(model, data, int(i), f6)
        frame = np.asarray(data.contact.frame[i]).reshape(3, 3)
        total += sign * (frame.T @ f6[:3])
    return total


@dataclass(frozen=True)
class GraspResult:
    grasped: bool
    force_left: float
    force_right: float
    angle_left_deg: float
    angle_right_deg: float


def _angle_deg(a: np.ndarray, b: np.ndarray) -> float:
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0.0 or nb == 0.0:
        return 180.0
    c = float(np.clip(np.dot(a, b) / (na * nb), -1.0, 1.0))
    return math.degrees(math.acos(c))


def is_grasping(
    model: mujoco.MjModel,
    data: mujoco.MjData,
    left_geoms: Sequence[int],
    right_geoms: Sequence[int],
    left_pads: Sequence[int],
    right_pads: Sequence[int],
    object_body: int,
    min_force: float = GRASP_MIN_FORCE,
    max_angle_deg: float = GRASP_MAX_ANGLE_DEG,
) -> GraspResult:
    """ManiSkill's two-finger grasp test from contact forces on both fingers.

    ``left_geoms``/``right_geoms``: all collision geoms of each finger; ``left_pads``/``right_pads``:
    the pad geoms whose centres define each finger's opening direction.
    """
    pl = np.mean([data.geom_xpos[g] for g in left_pads], axis=0)
    pr = np.mean([data.geom_xpos[g] for g in right_pads], axis=0)
    open_l = pl - pr
    open_r = pr - pl
    fl = contact_force_on(model, data, left_geoms, object_body)
    fr = contact_force_on(model, data, right_geoms, object_body)
    al, ar = _angle_deg(open_l, fl), _angle_deg(open_r, fr)
    nl, nr = float(np.linalg.norm(fl)), float(np.linalg.norm(fr))
    ok = nl >= min_force and al <= max_angle_deg and nr >= min_force and ar <= max_angle_deg
    return GraspResult(bool(ok), nl, nr, al, ar)
