"""LiftPegUpright-v1 (ManiSkill ``mani_skill/envs/tasks/tabletop/lift_peg_upright.py``).

- Objects: a box peg of half-size (0.12, 0.025, 0.025) — 0.24 x 0.05 x 0.05 m, its length along
  the body x axis — coloured (176, 14, 14) on its -x half and (12, 42, 160) on its +x half
  (``build_twocolor_peg``).
- Randomization: xy uniform in [-0.1, 0.1]^2, z = 0.025 (lying on the table),
  orientation ``euler2quat(pi/2, 0, 0)`` (a quarter turn about its own length; no yaw noise).
- Success (``evaluate``): with ``euler = matrix_to_euler_angles(R, "XYZ")``,
  | |euler_z| - pi/2 | < 0.08 and |z - 0.12| < 0.005. ManiSkill's angle test is what counts; we
  also report the peg axis' tilt from vertical, which the angle test bounds in the x-z plane only.
"""

from __future__ import annotations

import math

import mujoco
import numpy as np

from ..geometry import Pose, euler_xyz_last_angle, quat_from_axis_angle, quat_to_mat
from ..scene import add_free_box, rgba255
from .base import Task, uniform, values


class LiftPegUpright(Task):
    name = "LiftPegUpright"
    maniskill_env = "LiftPegUpright-v1"
    maniskill_source = "mani_skill/envs/tasks/tabletop/lift_peg_upright.py"
    instructions = (
        "lift the peg and stand it upright",
        "stand the red and blue peg up on its end",
        "pick up the peg and place it upright on the table",
        "turn the lying peg so that it stands vertically",
    )
    free_objects = ("peg",)

    peg_half_width = 0.025
    peg_half_length = 0.12
    spawn_half_size = 0.1

    def build(self, spec: mujoco.MjSpec) -> None:
        L, W = self.peg_half_length, self.peg_half_width
        add_free_box(
            spec,
            "peg",
            [L, W, W],
            visuals=[
                ((-L / 2, 0.0, 0.0), (L / 2, W, W), rgba255(176, 14, 14)),
                ((L / 2, 0.0, 0.0), (L / 2, W, W), rgba255(12, 42, 160)),
            ],
        )

    def sample(self, rng: np.random.Generator) -> dict[str, Pose]:
        h = self.spawn_half_size
        x, y = self.spawn.xy(uniform(rng, -h, h), uniform(rng, -h, h))
        return {"peg": Pose.of((x, y, self.peg_half_width), quat_from_axis_angle((1, 0, 0), math.pi / 2))}

    def evaluate(self, model: mujoco.MjModel, data: mujoco.MjData) -> dict:
        R = quat_to_mat(self._free_quat(data, "peg"))
        ez = euler_xyz_last_angle(R)
        upright_err = abs(abs(ez) - math.pi / 2)
        upright = upright_err < 0.08
        z = float(self._free_pos(data, "peg")[2])
        close = abs(z - self.peg_half_length) < 0.005
        tilt = math.acos(min(1.0, abs(float(R[2, 0]))))  # body x axis vs world z
        return {
            "success": bool(upright and close),
            "values": values(
                euler_z=ez,
                upright_error=upright_err,
                is_peg_upright=upright,
                peg_z=z,
                is_close_to_table=close,
                axis_tilt=tilt,
            ),
        }
