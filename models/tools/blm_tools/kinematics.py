"""TCP forward kinematics of the four arms in numpy, batched, from the embodiment definitions'
DH rows (embodiments/<name>/embodiment.yaml): the same decomposition as the runtime's
embodiments/kinematics/chain.ts, world <- base . prod_i(before_i . Rz(q_i) . after_i) . flange . tcp,
so a TCP pose computed here for training is the pose the runtime's IK is asked to reach.

A pose enters the model as nine numbers: the position (m, world frame) and the rotation's first
two columns (the continuous 6-D representation; the third column is their cross product).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import yaml

from .embodiments import EMBODIMENTS_DIR

POSE_DIMS = 9


def _rot_x(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[1, 0, 0, 0], [0, c, -s, 0], [0, s, c, 0], [0, 0, 0, 1]], dtype=np.float64)


def _rot_z(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, -s, 0, 0], [s, c, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]], dtype=np.float64)


def _trans(x: float, y: float, z: float) -> np.ndarray:
    t = np.eye(4)
    t[:3, 3] = (x, y, z)
    return t


def _xyz_rpy(d: dict | None) -> np.ndarray:
    """URDF origin: R = Rz(yaw) Ry(pitch) Rx(roll), then the translation."""
    d = d or {}
    r, p, y = d.get("rpy", (0.0, 0.0, 0.0))
    cr, sr, cp, sp, cy, sy = np.cos(r), np.sin(r), np.cos(p), np.sin(p), np.cos(y), np.sin(y)
    t = np.eye(4)
    t[:3, :3] = [[cy * cp, cy * sp * sr - sy * cr, cy * sp * cr + sy * sr],
                 [sy * cp, sy * sp * sr + cy * cr, sy * sp * cr - cy * sr],
                 [-sp, cp * sr, cp * cr]]
    t[:3, 3] = d.get("xyz", (0.0, 0.0, 0.0))
    return t


@lru_cache(maxsize=None)
def _chain(name: str, root: Path = EMBODIMENTS_DIR) -> tuple[np.ndarray, tuple[np.ndarray, ...], tuple[np.ndarray, ...], np.ndarray]:
    k = yaml.safe_load((root / name / "embodiment.yaml").read_text())["kinematics"]
    before, after = [], []
    for row in k["dh"]:
        a, d, alpha, th = float(row["a"]), float(row["d"]), float(row["alpha"]), float(row.get("theta_offset", 0.0))
        if k["convention"] == "modified_dh":
            before.append(_rot_x(alpha) @ _trans(a, 0, 0) @ _rot_z(th))
            after.append(_trans(0, 0, d))
        else:
            before.append(_rot_z(th))
            after.append(_trans(0, 0, d) @ _trans(a, 0, 0) @ _rot_x(alpha))
    end = _xyz_rpy(k.get("flange")) @ _xyz_rpy(k.get("tcp"))
    return _xyz_rpy(k.get("base")), tuple(before), tuple(after), end


def tcp_transforms(name: str, q: np.ndarray) -> np.ndarray:
    """[..., n] arm joint positions -> [..., 4, 4] TCP transforms in the world frame."""
    q = np.asarray(q, dtype=np.float64)
    base, before, after, end = _chain(name)
    if q.shape[-1] < len(before):
        raise ValueError(f"{name}: expected {len(before)} joint positions, got {q.shape[-1]}")
    t = np.broadcast_to(base, q.shape[:-1] + (4, 4))
    for i, (b, a) in enumerate(zip(before, after)):
        c, s = np.cos(q[..., i]), np.sin(q[..., i])
        rz = np.zeros(q.shape[:-1] + (4, 4))
        rz[..., 0, 0], rz[..., 0, 1], rz[..., 1, 0], rz[..., 1, 1] = c, -s, s, c
        rz[..., 2, 2] = rz[..., 3, 3] = 1.0
        t = t @ b @ rz @ a
    return t @ end


def tcp_pose9(name: str, q: np.ndarray) -> np.ndarray:
    """[..., n] arm joints -> [..., 9]: TCP position, then the rotation's first and second columns."""
    t = tcp_transforms(name, q)
    return np.concatenate([t[..., :3, 3], t[..., :3, 0], t[..., :3, 1]], axis=-1)


def rotation_from6(r6: np.ndarray) -> np.ndarray:
    """[..., 6] (two columns, not necessarily orthonormal) -> [..., 3, 3] by Gram-Schmidt, as the runtime does."""
    a, b = r6[..., :3], r6[..., 3:6]
    x = a / np.linalg.norm(a, axis=-1, keepdims=True)
    b = b - (x * b).sum(-1, keepdims=True) * x
    y = b / np.linalg.norm(b, axis=-1, keepdims=True)
    return np.stack([x, y, np.cross(x, y)], axis=-1)
