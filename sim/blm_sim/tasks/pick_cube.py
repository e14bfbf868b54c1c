"""PickCube-v1 (ManiSkill ``mani_skill/envs/tasks/tabletop/pick_cube.py``, configs in
``pick_cube_cfgs.py``).

- Objects: a red cube, half-size 0.02 (``build_cube(color=[1, 0, 0, 1])``); a goal point shown
  as a green sphere of radius ``goal_thresh`` = 0.025, kinematic and without collision. ManiSkill
  hides it from sensor cameras; we show it (DESIGN decision 8: our policy sees only images).
- Randomization (``_initialize_episode``): cube xy uniform in [-0.1, 0.1]^2, z = 0.02, yaw
  uniform in [0, 2 pi); goal xy uniform in [-0.1, 0.1]^2, goal z = 0.02 + uniform [0, 0.3].
- Success (``evaluate``): ||goal - cube|| <= 0.025 and the robot is static (max arm joint
  speed <= 0.2 rad/s).
"""

from __future__ import annotations

import mujoco
import numpy as np

from ..geometry import Pose, quat_from_yaw
from ..scene import VISUAL_GROUP, add_free_box, add_mocap_body
from .base import Task, random_yaw, uniform, values


class PickCube(Task):
    name = "PickCube"
    maniskill_env = "PickCube-v1"
    maniskill_source = "mani_skill/envs/tasks/tabletop/pick_cube.py"
    instructions = (
        "pick up the red cube and move it to the green target",
        "pick up the red cube",
        "grasp the red cube and bring it to the green ball",
        "lift the red cube to the green marker",
        "move the red cube to the goal position",
    )
    free_objects = ("cube",)
    kinematic_objects = ("goal",)

    cube_half_size = 0.02
    goal_thresh = 0.025
    spawn_half_size = 0.1

    def build(self, spec: mujoco.MjSpec) -> None:
        add_free_box(spec, "cube", [self.cube_half_size] * 3, rgba=[1.0, 0.0, 0.0, 1.0])
        goal = add_mocap_body(spec, "goal")
        goal.add_geom(
            name="goal_marker",
            type=mujoco.mjtGeom.mjGEOM_SPHERE,
            size=[self.goal_thresh, 0.0, 0.0],
            rgba=[0.0, 1.0, 0.0, 1.0],
            contype=0,
            conaffinity=0,
            group=VISUAL_GROUP,
        )

    def sample(self, rng: np.random.Generator) -> dict[str, Pose]:
        h = self.spawn_half_size
        cx, cy = self.spawn.xy(uniform(rng, -h, h), uniform(rng, -h, h))
        yaw = random_yaw(rng)
        gx, gy = self.spawn.xy(uniform(rng, -h, h), uniform(rng, -h, h))
        gz = self.cube_half_size + uniform(rng, 0.0, self.spawn.max_goal_height)
        return {
            "cube": Pose.of((cx, cy, self.cube_half_size), quat_from_yaw(yaw)),
            "goal": Pose.of((gx, gy, gz)),
        }

    def evaluate(self, model: mujoco.MjModel, data: mujoco.MjData) -> dict:
        dist = float(np.linalg.norm(self._mocap_pos(data, "goal") - self._free_pos(data, "cube")))
        placed = dist <= self.goal_thresh
        static, speed = self._robot_static(data)
        grasped = self._grasped(model, data, "cube")
        return {
            "success": bool(placed and static),
            "values": values(
                obj_to_goal_dist=dist,
                is_obj_placed=placed,
                robot_max_joint_speed=speed,
                is_robot_static=static,
                is_grasped=grasped,
            ),
        }
