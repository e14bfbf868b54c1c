"""The shared tabletop scene of ManiSkill's ``TableSceneBuilder``, built with MuJoCo's MjSpec.

- Table: ManiSkill's table collision box, 2.418 x 1.209 m rotated by pi/2 about z (so 1.209 m
  along world x, 2.418 m along y), centred at x = -0.12, top at z = 0, height 0.9196429 m; the
  ground plane at z = -0.9196429 (``mani_skill/utils/scene_builder/table/scene_builder.py``).
- Robot base at (-0.615, 0, 0) on the table (every tabletop task's ``_load_agent``).
- The fixed ``front`` camera at the task's ``base_camera`` pose (``sapien_utils.look_at``),
  fovy pi/2, 128 x 128 by default; near 0.01 as ManiSkill's CameraConfig.
- Lighting as ManiSkill's default (ambient 0.3, directional lights, no shadows), no MSAA.
- Physics: MuJoCo steps at ``physics_dt`` (0.002 s: five substeps per 100 Hz sim step).
- Objects' friction 0.3, ManiSkill's default physical material (static = dynamic = 0.3);
  MuJoCo combines two geoms' friction by taking the larger, so the robot's finger pads set the
  friction of a grasp. Density 1000 kg/m^3 as SAPIEN's actor builder default.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import mujoco
import numpy as np

from .geometry import look_at_camera_quat

__all__ = [
    "TABLE_HEIGHT",
    "ROBOT_BASE",
    "OBJECT_FRICTION",
    "DENSITY",
    "LookAt",
    "DEFAULT_CAMERA",
    "SpawnFrame",
    "SPAWN_FRAMES",
    "spawn_frame_for",
    "SceneOptions",
    "new_scene_spec",
    "add_free_box",
    "add_free_sphere",
    "add_mocap_body",
    "rgba255",
]

TABLE_HEIGHT = 0.9196429
ROBOT_BASE = (-0.615, 0.0, 0.0)
OBJECT_FRICTION = 0.3
DENSITY = 1000.0
TABLE_RGBA = (0.55, 0.42, 0.30, 1.0)
GROUND_RGBA = (0.35, 0.35, 0.38, 1.0)

# Collision classes: objects, table and robot collide with each other; markers collide with nothing.
VISUAL_GROUP = 2  # geom group of visual-only geoms (markers), shown by the renderer


def rgba255(r: int, g: int, b: int, a: int = 255) -> tuple[float, float, float, float]:
    return (r / 255.0, g / 255.0, b / 255.0, a / 255.0)


@dataclass(frozen=True)
class LookAt:
    """A camera pose as ``sapien_utils.look_at(eye, target)``."""

    eye: tuple[float, float, float]
    target: tuple[float, float, float]


# base_camera of PickCube, PushCube, StackCube, LiftPegUpright (TASKS.md)
DEFAULT_CAMERA = LookAt((0.3, 0.0, 0.6), (-0.1, 0.0, 0.1))


@dataclass(frozen=True)
class SpawnFrame:
    """Where ManiSkill's spawn regions land for one arm.

    ManiSkill's regions are laid out for a Panda whose base is at (-0.615, 0, 0), centred on the
    table origin. A region point (x, y) becomes ``(center_x + scale * x, scale * y)``: the region
    moves to ``center_x`` and shrinks by ``scale``. Object sizes, goal offsets defined relative to
    an object (PushCube's +0.2 m), and every success threshold are unchanged.
    ``max_goal_height`` is PickCube's goal-height range. The default is ManiSkill's layout.
    """

    center_x: float = 0.0
    scale: float = 1.0
    max_goal_height: float = 0.3

    def xy(self, x: float, y: float) -> tuple[float, float]:
        return (self.center_x + self.scale * x, self.scale * y)


# Panda (reach 0.855 m) and xArm6/xArm7 (0.7 m) use ManiSkill's layout (ManiSkill runs PickCube
# with xarm6_robotiq on the same regions: PICK_CUBE_CONFIGS["xarm6_robotiq"]).
# WidowX AI is smaller: ManiSkill's own PickCube config for it (PICK_CUBE_CONFIGS["widowxai"] in
# mani_skill/envs/tasks/tabletop/pick_cube_cfgs.py) centres the cube region at x = -0.25 (0.365 m
# in front of the base, which stays at -0.615) with half-size 0.05 instead of 0.1, and lowers
# the goal-height range to 0.2 m. We apply that centre and scale (0.5) to every task's regions.
# It agrees with the DH table in ROBOTS.md: shoulder-to-wrist 0.264 + 0.252 = 0.516 m and
# wrist-to-TCP ~0.25 m put objects beyond ~0.45 m from the base at the edge of a top-down grasp;
# the scaled regions end at 0.415 m. (ManiSkill also shrinks the cube to 0.018 for WidowX AI; we
# keep TASKS.md's object sizes, which its 0.08 m jaw opening holds.)
SPAWN_FRAMES: dict[str, SpawnFrame] = {
    "panda": SpawnFrame(),
    "xarm6": SpawnFrame(),
    "xarm7": SpawnFrame(),
    "widowx_ai": SpawnFrame(center_x=-0.25, scale=0.5, max_goal_height=0.2),
}


def spawn_frame_for(embodiment: str | None) -> SpawnFrame:
    """The spawn frame of an embodiment (ManiSkill's layout without a robot or for unknown arms)."""
    if embodiment is None:
        return SpawnFrame()
    return SPAWN_FRAMES.get(embodiment, SpawnFrame())


@dataclass(frozen=True)
class SceneOptions:
    camera: LookAt = DEFAULT_CAMERA
    width: int = 128
    height: int = 128
    fovy_deg: float = 90.0  # pi/2
    physics_dt: float = 0.002
    # ManiSkill renders sensor cameras without shadows (BaseEnv enable_shadow=False) and without
    # multisampling; on llvmpipe a shadow map also costs more than the rest of the frame.
    shadows: bool = False
    shadow_size: int = 1024
    multisamples: int = 0


def new_scene_spec(opts: SceneOptions) -> mujoco.MjSpec:
    """Table, ground, lights and the front camera; tasks add their objects, the robot attaches."""
    spec = mujoco.MjSpec()
    spec.modelname = "blm_tabletop"
    spec.option.timestep = opts.physics_dt
    spec.option.integrator = mujoco.mjtIntegrator.mjINT_IMPLICITFAST
    spec.option.cone = mujoco.mjtCone.mjCONE_ELLIPTIC
    spec.option.impratio = 10.0
    spec.option.noslip_iterations = 0
    spec.compiler.autolimits = True
    vis = spec.visual
    vis.global_.offwidth = max(int(opts.width), 640)
    vis.global_.offheight = max(int(opts.height), 480)
    vis.quality.shadowsize = int(opts.shadow_size)
    vis.quality.offsamples = int(opts.multisamples)
    vis.map.znear = 0.01  # fraction of the model extent
    vis.headlight.ambient = [0.3, 0.3, 0.3]
    vis.headlight.diffuse = [0.4, 0.4, 0.4]
    vis.headlight.specular = [0.0, 0.0, 0.0]

    spec.add_texture(name="sky", type=mujoco.mjtTexture.mjTEXTURE_SKYBOX,
                     builtin=mujoco.mjtBuiltin.mjBUILTIN_GRADIENT,
                     rgb1=[0.62, 0.66, 0.72], rgb2=[0.25, 0.27, 0.3], width=64, height=64)
    wb = spec.worldbody
    # Table: a kinematic box, top face at z = 0.
    wb.add_geom(
        name="table",
        type=mujoco.mjtGeom.mjGEOM_BOX,
        size=[1.209 / 2, 2.418 / 2, TABLE_HEIGHT / 2],
        pos=[-0.12, 0.0, -TABLE_HEIGHT / 2],
        rgba=TABLE_RGBA,
        friction=[OBJECT_FRICTION, 0.005, 0.0001],
    )
    wb.add_geom(
        name="ground",
        type=mujoco.mjtGeom.mjGEOM_PLANE,
        size=[0.0, 0.0, 0.05],
        pos=[0.0, 0.0, -TABLE_HEIGHT],
        rgba=GROUND_RGBA,
    )
    wb.add_light(name="sun", pos=[0.0, 0.0, 2.5], dir=[0.3, 0.2, -1.0], type=mujoco.mjtLightType.mjLIGHT_DIRECTIONAL,
                 castshadow=int(opts.shadows), diffuse=[0.6, 0.6, 0.6], specular=[0.1, 0.1, 0.1])
    wb.add_light(name="fill", pos=[1.0, 1.0, 2.0], dir=[-1.0, -1.0, -1.0], type=mujoco.mjtLightType.mjLIGHT_DIRECTIONAL,
                 castshadow=0, diffuse=[0.25, 0.25, 0.25], specular=[0.0, 0.0, 0.0])
    wb.add_camera(
        name="front",
        pos=list(opts.camera.eye),
        quat=list(look_at_camera_quat(opts.camera.eye, opts.camera.target)),
        fovy=opts.fovy_deg,
    )
    return spec


def _inertia_box(mass: float, half: Sequence[float]) -> list[float]:
    x, y, z = (2 * h for h in half)
    return [mass * (y * y + z * z) / 12, mass * (x * x + z * z) / 12, mass * (x * x + y * y) / 12]


def add_free_box(
    spec: mujoco.MjSpec,
    name: str,
    half_size: Sequence[float],
    rgba: Sequence[float] | None = None,
    visuals: Sequence[tuple[Sequence[float], Sequence[float], Sequence[float]]] = (),
) -> mujoco.MjsBody:
    """A dynamic box on a free joint. ``visuals``: extra (pos, half_size, rgba) visual boxes; when
    given, the collision box is invisible and the visuals colour it (the two-colour peg)."""
    body = spec.worldbody.add_body(name=name)
    body.add_freejoint(name=f"{name}_joint")
    vol = 8 * half_size[0] * half_size[1] * half_size[2]
    body.explicitinertial = True
    body.mass = DENSITY * vol
    body.inertia = _inertia_box(body.mass, half_size)
    body.ipos = [0.0, 0.0, 0.0]
    geom = body.add_geom(
        name=f"{name}_geom",
        type=mujoco.mjtGeom.mjGEOM_BOX,
        size=list(half_size),
        friction=[OBJECT_FRICTION, 0.005, 0.0001],
        condim=4,
        rgba=list(rgba) if rgba is not None else [1, 1, 1, 0],
    )
    if visuals:
        geom.group = 3  # collision geometry, hidden by the renderer's default geom groups
        for i, (pos, half, col) in enumerate(visuals):
            body.add_geom(
                name=f"{name}_visual{i}",
                type=mujoco.mjtGeom.mjGEOM_BOX,
                size=list(half),
                pos=list(pos),
                rgba=list(col),
                contype=0,
                conaffinity=0,
                group=VISUAL_GROUP,
                mass=0.0,
            )
    return body


def add_free_sphere(spec: mujoco.MjSpec, name: str, radius: float, rgba: Sequence[float]) -> mujoco.MjsBody:
    body = spec.worldbody.add_body(name=name)
    body.add_freejoint(name=f"{name}_joint")
    mass = DENSITY * 4.0 / 3.0 * np.pi * radius**3
    body.explicitinertial = True
    body.mass = mass
    body.inertia = [0.4 * mass * radius * radius] * 3
    body.ipos = [0.0, 0.0, 0.0]
    body.add_geom(
        name=f"{name}_geom",
        type=mujoco.mjtGeom.mjGEOM_SPHERE,
        size=[radius, 0.0, 0.0],
        friction=[OBJECT_FRICTION, 0.005, 0.0001],
        condim=6,  # rolling friction too, so a resting sphere stops
        rgba=list(rgba),
    )
    return body


def add_mocap_body(spec: mujoco.MjSpec, name: str) -> mujoco.MjsBody:
    """A kinematic body (ManiSkill ``build_kinematic``): placed at reset, never moved by physics."""
    body = spec.worldbody.add_body(name=name)
    body.mocap = True
    return body
