"""PushCube-v1 (ManiSkill ``mani_skill/envs/tasks/tabletop/push_cube.py``).

- Objects: a blue cube (12, 42, 160), half-size 0.02; a red/white target disc of radius
  ``goal_radius`` = 0.1 (``build_red_white_target``: rings of radius r, 4/5 r, ... 1/5 r,
  alternating red (194, 19, 22) and white), kinematic, without collision, at z = 1e-3.
- Randomization: cube xy uniform in [-0.1, 0.1]^2, z = 0.02, no rotation; target =
  cube xy + (0.1 + goal_radius, 0) = cube + (0.2, 0).
- Success: ||cube_xy - goal_xy|| < 0.1 and cube z < 0.02 + 0.005 (still on the table).
"""

from __future__ import annotations

import mujoco
import numpy as np

from ..geometry import Pose
from ..scene import VISUAL_GROUP, add_free_box, add_mocap_body, rgba255
from .base import Task, uniform, values

TARGET_RED = rgba255(194, 19, 22)
CUBE_BLUE = rgba255(12, 42, 160)


def add_red_white_target(spec: mujoco.MjSpec, name: str, radius: float) -> None:
    """``build_red_white_target`` as a visual-only kinematic body (cylinders along world z)."""
    body = add_mocap_body(spec, name)
    thickness = 1e-3  # ManiSkill's is 1e-5 thick; 1 mm keeps the rings apart in a 24-bit depth buffer
    for i in range(5):
        r = radius * (5 - i) / 5
        body.add_geom(
            name=f"{name}_ring{i}",
            type=mujoco.mjtGeom.mjGEOM_CYLINDER,
            size=[r, thickness / 2 + i * 1e-4, 0.0],
            rgba=list(TARGET_RED if i % 2 == 0 else (1.0, 1.0, 1.0, 1.0)),
            contype=0,
            conaffinity=0,
            group=VISUAL_GROUP,
        )


class PushCube(Task):
    name = "PushCube"
    maniskill_env = "PushCube-v1"
    maniskill_source = "mani_skill/envs/tasks/tabletop/push_cube.py"
    instructions = (
        "push the blue cube to the red and white target",
        "push the cube forward onto the target",
        "slide the blue cube into the target region",
        "push the blue cube away from you to the goal",
    )
    free_objects = ("cube",)
    kinematic_objects = ("goal",)

    cube_half_size = 0.02
    goal_radius = 0.1
    goal_offset_x = 0.1 + 0.1  # 0.1 + goal_radius
    spawn_half_size = 0.1

    def build(self, spec: mujoco.MjSpec) -> None:
        add_free_box(spec, "cube", [self.cube_half_size] * 3, rgba=CUBE_BLUE)
        add_red_white_target(spec, "goal", self.goal_radius)

    def sample(self, rng: np.random.Generator) -> dict[str, Pose]:
        h = self.spawn_half_size
        x, y = self.spawn.xy(uniform(rng, -h, h), uniform(rng, -h, h))
        return {
            "cube": Pose.of((x, y, self.cube_half_size)),
            "goal": Pose.of((x + self.goal_offset_x, y, 1e-3)),
        }

    def evaluate(self, model: mujoco.MjModel, data: mujoco.MjData) -> dict:
        cube = self._free_pos(data, "cube")
        goal = self._mocap_pos(data, "goal")
        d = float(np.linalg.norm(cube[:2] - goal[:2]))
        in_region = d < self.goal_radius
        on_table = float(cube[2]) < self.cube_half_size + 5e-3
        return {
            "success": bool(in_region and on_table),
            "values": values(obj_to_goal_xy_dist=d, cube_z=float(cube[2]), is_in_region=in_region,
                             is_on_table=on_table),
        }
