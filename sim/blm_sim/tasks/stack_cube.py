"""StackCube-v1 (ManiSkill ``mani_skill/envs/tasks/tabletop/stack_cube.py``).

- Objects: red cube A and green cube B, half-size 0.02 (colours [1, 0, 0] and [0, 1, 0]).
- Randomization (``_initialize_episode``): a shared offset xy uniform in [-0.1, 0.1]^2; each cube
  at offset + a point of ``UniformPlacementSampler(bounds=[[-0.1, -0.2], [0.1, 0.2]])`` with
  radius ||(0.02, 0.02)|| + 0.001, so B is resampled (up to 100 trials) until its centre is more
  than 2 x 0.02928 = 0.0586 m from A's; each cube gets a random yaw.
- Success (``evaluate``): ||A_xy - B_xy|| <= ||(0.02, 0.02)|| + 0.005 (= 0.0333),
  |(A_z - B_z) - 0.04| <= 0.005, A static (lin <= 0.01 m/s, ang <= 0.5 rad/s), A not grasped.
- The default ManiSkill robot here is ``panda_wristcam``; every arm of ours has a wrist camera.
"""

from __future__ import annotations

import math

import mujoco
import numpy as np

from ..checks import free_body_velocity
from ..geometry import Pose, quat_from_yaw
from ..scene import add_free_box
from .base import Task, random_yaw, uniform, values


class StackCube(Task):
    name = "StackCube"
    maniskill_env = "StackCube-v1"
    maniskill_source = "mani_skill/envs/tasks/tabletop/stack_cube.py"
    instructions = (
        "stack the red cube on top of the green cube",
        "put the red cube on the green cube",
        "place the red block on top of the green block",
        "pick up the red cube and stack it on the green one",
    )
    free_objects = ("cubeA", "cubeB")

    half = 0.02
    region = ((-0.1, -0.2), (0.1, 0.2))
    offset_half = 0.1
    radius = math.hypot(0.02, 0.02) + 0.001
    max_trials = 100

    def build(self, spec: mujoco.MjSpec) -> None:
        add_free_box(spec, "cubeA", [self.half] * 3, rgba=[1.0, 0.0, 0.0, 1.0])
        add_free_box(spec, "cubeB", [self.half] * 3, rgba=[0.0, 1.0, 0.0, 1.0])

    def _region_point(self, rng: np.random.Generator) -> np.ndarray:
        (x0, y0), (x1, y1) = self.region
        return np.array([uniform(rng, x0, x1), uniform(rng, y0, y1)])

    def sample(self, rng: np.random.Generator) -> dict[str, Pose]:
        off = np.array([uniform(rng, -self.offset_half, self.offset_half),
                        uniform(rng, -self.offset_half, self.offset_half)])
        a = self._region_point(rng)
        b = np.zeros(2)  # ManiSkill leaves a failed sample at the region origin
        for _ in range(self.max_trials):
            cand = self._region_point(rng)
            if np.linalg.norm(cand - a) > 2 * self.radius:
                b = cand
                break
        ya, yb = random_yaw(rng), random_yaw(rng)
        ax, ay = self.spawn.xy(*(off + a))
        bx, by = self.spawn.xy(*(off + b))
        return {
            "cubeA": Pose.of((ax, ay, self.half), quat_from_yaw(ya)),
            "cubeB": Pose.of((bx, by, self.half), quat_from_yaw(yb)),
        }

    def evaluate(self, model: mujoco.MjModel, data: mujoco.MjData) -> dict:
        off = self._free_pos(data, "cubeA") - self._free_pos(data, "cubeB")
        xy = float(np.linalg.norm(off[:2]))
        xy_ok = xy <= math.hypot(self.half, self.half) + 0.005
        z_err = abs(float(off[2]) - 2 * self.half)
        z_ok = z_err <= 0.005
        lin, ang = free_body_velocity(model, data, self.body_id("cubeA"))
        static = lin <= 1e-2 and ang <= 0.5
        grasped = self._grasped(model, data, "cubeA")
        on = xy_ok and z_ok
        return {
            "success": bool(on and static and not grasped),
            "values": values(
                xy_offset=xy,
                z_offset_error=z_err,
                is_cubeA_on_cubeB=on,
                cubeA_lin_speed=lin,
                cubeA_ang_speed=ang,
                is_cubeA_static=static,
                is_cubeA_grasped=grasped,
            ),
        }
