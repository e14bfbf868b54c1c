"""PullCube-v1 (ManiSkill ``mani_skill/envs/tasks/tabletop/pull_cube.py``).

- Objects: a blue cube (12, 42, 160), half-size 0.02; a red/white target disc of radius 0.1,
  kinematic, without collision.
- Randomization: cube xy uniform in [-0.1, 0.1]^2, z = 0.02, no rotation; target =
  cube xy - (0.1 + goal_radius, 0) = cube - (0.2, 0), toward the robot.
- Success: ||cube_xy - goal_xy|| < 0.1.
- Camera (TASKS.md): base_camera from (-0.5, 0, 0.25) looking at (0.2, 0, -0.5).
"""

from __future__ import annotations

import mujoco
import numpy as np

from ..geometry import Pose
from ..scene import LookAt, add_free_box
from .base import Task, uniform, values
from .push_cube import CUBE_BLUE, add_red_white_target


class PullCube(Task):
    name = "PullCube"
    maniskill_env = "PullCube-v1"
    maniskill_source = "mani_skill/envs/tasks/tabletop/pull_cube.py"
    camera = LookAt((-0.5, 0.0, 0.25), (0.2, 0.0, -0.5))
    instructions = (
        "pull the blue cube to the red and white target",
        "pull the cube toward you onto the target",
        "drag the blue cube back into the target region",
        "pull the blue cube to the goal",
    )
    free_objects = ("cube",)
    kinematic_objects = ("goal",)

    cube_half_size = 0.02
    goal_radius = 0.1
    goal_offset_x = -(0.1 + 0.1)
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
        ok = d < self.goal_radius
        return {"success": bool(ok), "values": values(obj_to_goal_xy_dist=d, is_in_region=ok)}
