"""Small pose helpers. Quaternions are (w, x, y, z) as in MuJoCo and SAPIEN."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

__all__ = [
    "Pose",
    "quat_from_yaw",
    "quat_from_axis_angle",
    "quat_to_mat",
    "mat_to_quat",
    "quat_mul",
    "euler_xyz_last_angle",
    "look_at_camera_quat",
]


@dataclass(frozen=True)
class Pose:
    """A rigid pose in the world frame: position (m) and unit quaternion (w, x, y, z)."""

    pos: tuple[float, float, float]
    quat: tuple[float, float, float, float] = (1.0, 0.0, 0.0, 0.0)

    @staticmethod
    def of(pos: Sequence[float], quat: Sequence[float] = (1.0, 0.0, 0.0, 0.0)) -> "Pose":
        q = np.asarray(quat, dtype=float)
        q = q / np.linalg.norm(q)
        return Pose(tuple(float(v) for v in pos), tuple(float(v) for v in q))  # type: ignore[arg-type]

    def to_dict(self) -> dict:
        return {"pos": list(self.pos), "quat": list(self.quat)}


def quat_from_axis_angle(axis: Sequence[float], angle: float) -> tuple[float, float, float, float]:
    a = np.asarray(axis, dtype=float)
    a = a / np.linalg.norm(a)
    s = math.sin(angle / 2.0)
    return (math.cos(angle / 2.0), a[0] * s, a[1] * s, a[2] * s)


def quat_from_yaw(yaw: float) -> tuple[float, float, float, float]:
    """Rotation about world z (ManiSkill ``random_quaternions(lock_x=True, lock_y=True)``)."""
    return (math.cos(yaw / 2.0), 0.0, 0.0, math.sin(yaw / 2.0))


def quat_mul(a: Sequence[float], b: Sequence[float]) -> tuple[float, float, float, float]:
    w1, x1, y1, z1 = a
    w2, x2, y2, z2 = b
    return (
        w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2,
        w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
        w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2,
        w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2,
    )


def quat_to_mat(q: Sequence[float]) -> np.ndarray:
    w, x, y, z = (float(v) for v in q)
    n = math.sqrt(w * w + x * x + y * y + z * z)
    w, x, y, z = w / n, x / n, y / n, z / n
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
            [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
            [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
        ]
    )


def mat_to_quat(m: np.ndarray) -> tuple[float, float, float, float]:
    """Rotation matrix to (w, x, y, z), w >= 0."""
    m = np.asarray(m, dtype=float)
    tr = m[0, 0] + m[1, 1] + m[2, 2]
    if tr > 0:
        s = math.sqrt(tr + 1.0) * 2
        w, x, y, z = 0.25 * s, (m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s
    elif m[0, 0] > m[1, 1] and m[0, 0] > m[2, 2]:
        s = math.sqrt(1.0 + m[0, 0] - m[1, 1] - m[2, 2]) * 2
        w, x, y, z = (m[2, 1] - m[1, 2]) / s, 0.25 * s, (m[0, 1] + m[1, 0]) / s, (m[0, 2] + m[2, 0]) / s
    elif m[1, 1] > m[2, 2]:
        s = math.sqrt(1.0 + m[1, 1] - m[0, 0] - m[2, 2]) * 2
        w, x, y, z = (m[0, 2] - m[2, 0]) / s, (m[0, 1] + m[1, 0]) / s, 0.25 * s, (m[1, 2] + m[2, 1]) / s
    else:
        s = math.sqrt(1.0 + m[2, 2] - m[0, 0] - m[1, 1]) * 2
        w, x, y, z = (m[1, 0] - m[0, 1]) / s, (m[0, 2] + m[2, 0]) / s, (m[1, 2] + m[2, 1]) / s, 0.25 * s
    q = np.array([w, x, y, z])
    if q[0] < 0:
        q = -q
    q = q / np.linalg.norm(q)
    return (float(q[0]), float(q[1]), float(q[2]), float(q[3]))


def euler_xyz_last_angle(m: np.ndarray) -> float:
    """Third angle of ``matrix_to_euler_angles(m, "XYZ")`` (pytorch3d, used by ManiSkill).

    For the intrinsic X-Y-Z convention it is ``atan2(-m[0, 1], m[0, 0])``.
    """
    return math.atan2(-float(m[0, 1]), float(m[0, 0]))


def look_at_camera_quat(eye: Sequence[float], target: Sequence[float], up: Sequence[float] = (0, 0, 1)):
    """MuJoCo camera orientation for SAPIEN's ``look_at(eye, target)``.

    SAPIEN's camera frame is x forward, y left, z up; a MuJoCo camera looks along its -z with
    x right and y up. Both are built from forward = target - eye and the world up.
    """
    eye_v = np.asarray(eye, dtype=float)
    fwd = np.asarray(target, dtype=float) - eye_v
    fwd /= np.linalg.norm(fwd)
    left = np.cross(np.asarray(up, dtype=float), fwd)
    left /= np.linalg.norm(left)
    cam_up = np.cross(fwd, left)
    right = -left
    m = np.stack([right, cam_up, -fwd], axis=1)  # columns: camera x, y, z in world
    return mat_to_quat(m)
