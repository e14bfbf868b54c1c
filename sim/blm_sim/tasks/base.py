"""The task interface shared by the six ManiSkill tabletop tasks.

A task

- adds its objects to the scene spec (``build``) — dynamic objects on free joints, kinematic
  ones (ManiSkill ``build_kinematic``: PlaceSphere's bin, goal markers) as mocap bodies;
- resolves their ids in the compiled model (``bind``);
- samples object poses from a seeded ``numpy.random.Generator`` exactly as its ManiSkill
  ``_initialize_episode`` does (``sample``), scaled into the arm's reach by its ``SpawnFrame``;
- writes those poses at reset, and only at reset (``reset``: free-joint qpos/qvel and mocap
  poses; DESIGN decision 15 — objects move only through contact afterwards);
- measures its success criteria (``evaluate``) and returns ``{"success": bool, "values": {...}}``;
- carries its instruction templates (``instructions``, DESIGN decision 8) and its front-camera
  pose (``camera``).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Mapping, Optional

import mujoco
import numpy as np

from ..geometry import Pose
from ..scene import DEFAULT_CAMERA, LookAt, SpawnFrame

if TYPE_CHECKING:  # pragma: no cover
    from ..robot import RobotBinding

__all__ = ["Task", "EvalResult", "object_rng", "instruction_rng"]

EvalResult = dict  # {"success": bool, "values": {name: float | bool}}


def object_rng(seed: int) -> np.random.Generator:
    """The stream that places objects: the same for a seed whatever the arm, so a seed names one
    layout (up to the arm's spawn frame)."""
    return np.random.default_rng([int(seed), 0])


def robot_rng(seed: int) -> np.random.Generator:
    """The stream for the robot's initial joint noise (ManiSkill robot_init_qpos_noise)."""
    return np.random.default_rng([int(seed), 1])


def instruction_rng(seed: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), 2])


@dataclass
class _Bound:
    model: mujoco.MjModel
    data: mujoco.MjData
    free: dict  # name -> (body id, qpos adr, dof adr)
    mocap: dict  # name -> mocap id


class Task(ABC):
    """One tabletop task. Subclasses set the class attributes and implement the four methods."""

    name: ClassVar[str]
    maniskill_env: ClassVar[str]  # e.g. "PickCube-v1"
    maniskill_source: ClassVar[str]  # mani_skill/envs/tasks/tabletop/<file>.py
    camera: ClassVar[LookAt] = DEFAULT_CAMERA
    instructions: ClassVar[tuple[str, ...]]
    free_objects: ClassVar[tuple[str, ...]] = ()
    kinematic_objects: ClassVar[tuple[str, ...]] = ()

    def __init__(self, spawn: SpawnFrame = SpawnFrame()) -> None:
        self.spawn = spawn
        self._b: Optional[_Bound] = None
        self.robot: Optional["RobotBinding"] = None
        self.poses: dict[str, Pose] = {}

    # -- scene -------------------------------------------------------------------------------
    @abstractmethod
    def build(self, spec: mujoco.MjSpec) -> None:
        """Add this task's objects to the scene spec."""

    def bind(self, model: mujoco.MjModel, data: mujoco.MjData, robot: Optional["RobotBinding"] = None) -> None:
        free = {}
        for n in self.free_objects:
            bid = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, n)
            jid = int(model.body_jntadr[bid])
            free[n] = (bid, int(model.jnt_qposadr[jid]), int(model.jnt_dofadr[jid]))
        mocap = {}
        for n in self.kinematic_objects:
            bid = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, n)
            mocap[n] = int(model.body_mocapid[bid])
        self._b = _Bound(model, data, free, mocap)
        self.robot = robot

    def body_id(self, name: str) -> int:
        assert self._b is not None, "bind() first"
        return self._b.free[name][0]

    # -- episode -----------------------------------------------------------------------------
    @abstractmethod
    def sample(self, rng: np.random.Generator) -> dict[str, Pose]:
        """Poses of all objects (free and kinematic) for one episode."""

    def reset(self, rng_seed: int, overrides: Optional[Mapping[str, Pose]] = None) -> dict[str, Pose]:
        """Place the objects for the episode ``rng_seed`` and return their poses.

        ``overrides`` replaces sampled poses by name before they are written — it goes through
        the same reset path (tests use it to stage success configurations; nothing moves objects
        while the simulation steps).
        """
        assert self._b is not None, "bind() first"
        poses = self.sample(object_rng(rng_seed))
        if overrides:
            unknown = set(overrides) - set(poses)
            if unknown:
                raise KeyError(f"unknown objects {sorted(unknown)} for {self.name}")
            poses.update(overrides)
        self._write(poses)
        self.poses = poses
        self.on_reset(poses)
        return dict(poses)

    def on_reset(self, poses: dict[str, Pose]) -> None:
        """Hook: remember goals etc. from the episode's poses."""

    def _write(self, poses: Mapping[str, Pose]) -> None:
        b = self._b
        assert b is not None
        for n, (bid, qadr, dadr) in b.free.items():
            p = poses[n]
            b.data.qpos[qadr : qadr + 3] = p.pos
            b.data.qpos[qadr + 3 : qadr + 7] = p.quat
            b.data.qvel[dadr : dadr + 6] = 0.0
        for n, mid in b.mocap.items():
            p = poses[n]
            b.data.mocap_pos[mid] = p.pos
            b.data.mocap_quat[mid] = p.quat

    def instruction(self, rng_seed: int) -> str:
        """One instruction for the episode, drawn from the templates with its own stream."""
        i = int(instruction_rng(rng_seed).integers(len(self.instructions)))
        return self.instructions[i]

    # -- success -----------------------------------------------------------------------------
    @abstractmethod
    def evaluate(self, model: mujoco.MjModel, data: mujoco.MjData) -> EvalResult:
        """ManiSkill's ``evaluate()``: success plus the measured values of each criterion."""

    # -- helpers for subclasses -------------------------------------------------------------
    def _free_pos(self, data: mujoco.MjData, name: str) -> np.ndarray:
        assert self._b is not None
        qadr = self._b.free[name][1]
        return np.array(data.qpos[qadr : qadr + 3])

    def _free_quat(self, data: mujoco.MjData, name: str) -> np.ndarray:
        assert self._b is not None
        qadr = self._b.free[name][1]
        return np.array(data.qpos[qadr + 3 : qadr + 7])

    def _mocap_pos(self, data: mujoco.MjData, name: str) -> np.ndarray:
        assert self._b is not None
        return np.array(data.mocap_pos[self._b.mocap[name]])

    def _grasped(self, model: mujoco.MjModel, data: mujoco.MjData, name: str) -> bool:
        if self.robot is None:
            return False
        return self.robot.is_grasping(model, data, self.body_id(name)).grasped

    def _robot_static(self, data: mujoco.MjData) -> tuple[bool, float]:
        from ..checks import ROBOT_STATIC_THRESHOLD, max_joint_speed

        if self.robot is None:
            return True, 0.0
        s = max_joint_speed(data, self.robot.arm_dof_adr)
        return s <= ROBOT_STATIC_THRESHOLD, s


def uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    """ManiSkill's ``torch.rand() * (hi - lo) + lo``."""
    return float(lo + (hi - lo) * rng.random())


def random_yaw(rng: np.random.Generator) -> float:
    """``random_quaternions(lock_x=True, lock_y=True)``: a yaw uniform in [0, 2 pi)."""
    return float(2.0 * math.pi * rng.random())


def values(**kw: Any) -> dict:
    """JSON-friendly criterion values (floats and bools)."""
    out = {}
    for k, v in kw.items():
        if isinstance(v, (bool, np.bool_)):
            out[k] = bool(v)
        else:
            out[k] = float(v)
    return out
