"""PlaceSphere-v1 (ManiSkill ``mani_skill/envs/tasks/tabletop/place_sphere.py``).

- Objects: a blue sphere (12, 42, 160) of radius 0.02; a kinematic shallow bin (``_build_bin``):
  a bottom plate of half-size (0.025, 0.025, 0.0025) and four walls of half-size
  (0.0025, 0.025, 0.005) at +-0.0225 m, their centres 0.0075 m above the plate's; 5 x 5 cm
  outside, 4 x 4 cm inside, walls 1 cm above the 5 mm floor. The bin's origin is the plate's centre, at z = 0.0025.
- Randomization: sphere x uniform in [-0.1, -0.05], y in [-0.1, 0.1], z = 0.02; bin x uniform in
  [0, 0.1], y in [-0.1, 0.1], z = 0.0025.
- Success: ||sphere_xy - bin_xy|| <= 0.005, |(sphere_z - bin_z) - 0.02 - 0.0025| <= 0.005,
  sphere static (lin <= 0.01 m/s, ang <= 0.5 rad/s), sphere not grasped.
- Camera (TASKS.md): base_camera from (0.3, 0, 0.2) looking at (-0.1, 0, 0).
"""

from __future__ import annotations

import mujoco
import numpy as np

from ..checks import free_body_velocity
from ..geometry import Pose
from ..scene import OBJECT_FRICTION, LookAt, add_free_sphere, add_mocap_body, rgba255
from .base import Task, uniform, values

SPHERE_BLUE = rgba255(12, 42, 160)
BIN_RGBA = (0.75, 0.75, 0.72, 1.0)


class PlaceSphere(Task):
    name = "PlaceSphere"
    maniskill_env = "PlaceSphere-v1"
    maniskill_source = "mani_skill/envs/tasks/tabletop/place_sphere.py"
    camera = LookAt((0.3, 0.0, 0.2), (-0.1, 0.0, 0.0))
    instructions = (
        "place the blue ball into the bin",
        "put the sphere in the shallow bin",
        "pick up the blue sphere and drop it in the bin",
        "move the blue ball into the box",
    )
    free_objects = ("sphere",)
    kinematic_objects = ("bin",)

    radius = 0.02
    inner_side_half_len = 0.02
    short_side_half_size = 0.0025
    block_half_size = (0.0025, 2 * 0.0025 + 0.02, 2 * 0.0025 + 0.02)
    edge_block_half_size = (0.0025, 2 * 0.0025 + 0.02, 2 * 0.0025)

    def build(self, spec: mujoco.MjSpec) -> None:
        add_free_sphere(spec, "sphere", self.radius, SPHERE_BLUE)
        body = add_mocap_body(spec, "bin")
        bh, eh = self.block_half_size, self.edge_block_half_size
        dx = bh[1] - bh[0]
        dy = bh[1] - bh[0]
        dz = eh[2] + bh[0]
        parts = [
            ((0.0, 0.0, 0.0), (bh[1], bh[2], bh[0])),
            ((-dx, 0.0, dz), eh),
            ((dx, 0.0, dz), eh),
            ((0.0, -dy, dz), (eh[1], eh[0], eh[2])),
            ((0.0, dy, dz), (eh[1], eh[0], eh[2])),
        ]
        for i, (pos, half) in enumerate(parts):
            body.add_geom(
                name=f"bin_part{i}",
                type=mujoco.mjtGeom.mjGEOM_BOX,
                size=list(half),
                pos=list(pos),
                rgba=list(BIN_RGBA),
                friction=[OBJECT_FRICTION, 0.005, 0.0001],
            )

    def sample(self, rng: np.random.Generator) -> dict[str, Pose]:
        sx, sy = self.spawn.xy(uniform(rng, -0.1, -0.05), uniform(rng, -0.1, 0.1))
        bx, by = self.spawn.xy(uniform(rng, 0.0, 0.1), uniform(rng, -0.1, 0.1))
        return {
            "sphere": Pose.of((sx, sy, self.radius)),
            "bin": Pose.of((bx, by, self.block_half_size[0])),
        }

    def evaluate(self, model: mujoco.MjModel, data: mujoco.MjData) -> dict:
        off = self._free_pos(data, "sphere") - self._mocap_pos(data, "bin")
        xy = float(np.linalg.norm(off[:2]))
        z_err = abs(float(off[2]) - self.radius - self.block_half_size[0])
        on_bin = xy <= 0.005 and z_err <= 0.005
        lin, ang = free_body_velocity(model, data, self.body_id("sphere"))
        static = lin <= 1e-2 and ang <= 0.5
        grasped = self._grasped(model, data, "sphere")
        return {
            "success": bool(on_bin and static and not grasped),
            "values": values(
                xy_offset=xy,
                z_offset_error=z_err,
                is_obj_on_bin=on_bin,
                obj_lin_speed=lin,
                obj_ang_speed=ang,
                is_obj_static=static,
                is_obj_grasped=grasped,
            ),
        }
