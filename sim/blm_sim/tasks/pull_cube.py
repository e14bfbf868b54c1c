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

from ..scene import LookAt
from .base import values
from .push_cube import PushCube


class PullCube(PushCube):
    """PushCube's scene and randomization with the target on the robot's side; success
    needs only the cube on the target (no on-table condition, as ManiSkill's PullCube)."""

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
    goal_offset_x = -(0.1 + 0.1)

    def evaluate(self, model: mujoco.MjModel, data: mujoco.MjData) -> dict:
        cube = self._free_pos(data, "cube")
        goal = self._mocap_pos(data, "goal")
        d = float(np.linalg.norm(cube[:2] - goal[:2]))
        ok = d < self.goal_radius
        return {"success": bool(ok), "values": values(obj_to_goal_xy_dist=d, is_in_region=ok)}
