"""The simulation core: one task scene, optionally one arm, stepped in sim time. No ROS.

Time structure (ManiSkill: sim 100 Hz, control 20 Hz):

- ``physics_dt`` (0.002 s): one ``mj_step``. Before each, the trajectory follower is sampled at
  the current sim time and its positions are written to the arm's position actuators, like a
  ros2_control update loop; the gripper actuator gets the gripper command's target.
- ``sim_dt`` (0.01 s, 100 Hz): one :meth:`Simulation.step` — the unit in which a node publishes
  ``/clock`` and ``/joint_states``.
- ``control_dt`` (0.05 s, 20 Hz): :meth:`Simulation.step_control`, ManiSkill's control step and
  the agent's chunk step (DESIGN decision 3).

The arm moves only through its actuators and objects only through contact: qpos is written only
in :meth:`Simulation.reset` (DESIGN decision 15).

The rclpy node (node.py) drives it like this::

    sim = Simulation(SimConfig(task="PickCube", embodiment="panda"))
    info = sim.reset(seed)                                   # /sim/reset service
    on JointTrajectory msg: v = sim.submit_arm_trajectory(to_core(msg)); log v.code/v.message if not v.ok
    on gripper goal:        v = sim.command_gripper(position, max_effort)
    timer (wall or as fast as possible):
        sim.step()                                           # 10 ms of sim time
        publish /clock = sim.time, /joint_states = sim.joint_state()
        every 0.1 s of sim time: publish sim.render("front"), sim.render("wrist")
        publish /sim/task_status = sim.task_status()
"""

from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "egl")

from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Mapping, Optional  # noqa: E402

import mujoco  # noqa: E402
import numpy as np  # noqa: E402

from .embodiment import Embodiment, load_embodiment  # noqa: E402
from .geometry import Pose  # noqa: E402
from .gripper import GripperServo  # noqa: E402
from .robot import ROBOT_PREFIX, RobotBinding, attach_robot, generate_robot_mjcf  # noqa: E402
from .scene import SceneOptions, new_scene_spec, spawn_frame_for  # noqa: E402
from .tasks import make_task  # noqa: E402
from .tasks.base import robot_rng  # noqa: E402
from .trajectory import JointTrajectory, JointLimits, TrajectoryFollower, Verdict  # noqa: E402

__all__ = ["SimConfig", "JointStateSample", "Simulation"]


@dataclass(frozen=True)
class SimConfig:
    task: str = "PickCube"
    embodiment: Optional[str] = None  # None: the scene without a robot
    robot_mjcf: Optional[Path] = None  # default: generated from embodiments/<name>/
    width: int = 128
    height: int = 128
    physics_dt: float = 0.002
    sim_dt: float = 0.01
    control_dt: float = 0.05
    qpos_noise: float = 0.02  # ManiSkill robot_init_qpos_noise (rad, normal std, arm joints)
    open_loop_control: bool = False  # JTC's open_loop_control parameter


@dataclass(frozen=True)
class JointStateSample:
    """What ``sensor_msgs/JointState`` carries: names, positions, velocities, efforts."""

    stamp: float
    names: tuple[str, ...]
    positions: np.ndarray
    velocities: np.ndarray
    efforts: np.ndarray


@dataclass
class _Renderers:
    by_size: dict = field(default_factory=dict)

    def get(self, model: mujoco.MjModel, w: int, h: int) -> mujoco.Renderer:
        r = self.by_size.get((w, h))
        if r is None:
            r = mujoco.Renderer(model, height=h, width=w)
            self.by_size[(w, h)] = r
        return r

    def close(self) -> None:
        for r in self.by_size.values():
            r.close()
        self.by_size.clear()


class Simulation:
    def __init__(self, cfg: SimConfig, embodiment: Optional[Embodiment] = None) -> None:
        if round(cfg.sim_dt / cfg.physics_dt) * cfg.physics_dt - cfg.sim_dt > 1e-12:
            raise ValueError("sim_dt must be a multiple of physics_dt")
        self.cfg = cfg
        self.substeps = int(round(cfg.sim_dt / cfg.physics_dt))
        self.steps_per_control = int(round(cfg.control_dt / cfg.sim_dt))
        self.embodiment = embodiment or (load_embodiment(cfg.embodiment) if cfg.embodiment else None)
        self.task = make_task(cfg.task, spawn=spawn_frame_for(self.embodiment.name if self.embodiment else None))
        spec = new_scene_spec(
            SceneOptions(camera=self.task.camera, width=cfg.width, height=cfg.height, physics_dt=cfg.physics_dt)
        )
        self.task.build(spec)
        if self.embodiment is not None:
            mjcf = cfg.robot_mjcf or generate_robot_mjcf(self.embodiment.name)
            attach_robot(spec, self.embodiment, Path(mjcf))
        self.spec = spec
        self.model = spec.compile()
        self.data = mujoco.MjData(self.model)
        self.robot: Optional[RobotBinding] = (
            RobotBinding.bind(self.model, self.embodiment) if self.embodiment is not None else None
        )
        self.task.bind(self.model, self.data, self.robot)
        self.arm: Optional[TrajectoryFollower] = None
        self.gripper_follower: Optional[TrajectoryFollower] = None
        self.gripper: Optional[GripperServo] = None
        if self.embodiment is not None:
            e = self.embodiment
            self.arm = TrajectoryFollower(e.joint_names, e.arm_limits(), open_loop_control=cfg.open_loop_control)
            g = e.gripper
            self.gripper = GripperServo(g.lower, g.upper, g.max_effort)
            # The sim serves all three gripper interfaces (DESIGN decision 1), so the gripper's
            # trajectory follower exists whatever the embodiment's own choice is.
            self.gripper_follower = TrajectoryFollower(
                (g.joint,), (JointLimits(g.lower, g.upper, g.velocity),),
                open_loop_control=cfg.open_loop_control,
            )
        self._renderers = _Renderers()
        # what cameras show: geoms of groups 0-2 (collision boxes hidden in group 3), no sites
        self._vopt = mujoco.MjvOption()
        self._vopt.sitegroup[:] = 0
        self._reset_time = 0.0
        self.seed: Optional[int] = None
        self.instruction: str = ""
        self.poses: dict[str, Pose] = {}

    # -- episode -----------------------------------------------------------------------------
    def reset(
        self,
        seed: int,
        overrides: Optional[Mapping[str, Pose]] = None,
        arm_q: Optional[np.ndarray] = None,
        gripper_q: Optional[float] = None,
    ) -> dict:
        """Start the episode ``seed``: robot at home + noise (ManiSkill TableSceneBuilder), objects
        from the task's randomization; ``overrides`` (tests, replays) replace object poses and
        ``arm_q``/``gripper_q`` the robot's initial joints, through this same reset path."""
        m, d = self.model, self.data
        before = float(d.time)
        mujoco.mj_resetData(m, d)
        # Sim time is monotonic across resets (it is the node's /clock): keep counting.
        d.time = before
        if self.robot is not None and self.embodiment is not None:
            e = self.embodiment
            if arm_q is None:
                rng = robot_rng(seed)
                q = np.asarray(e.home, dtype=float) + rng.normal(0.0, self.cfg.qpos_noise, len(e.home))
                lo = np.array([j.lower for j in e.joints])
                hi = np.array([j.upper for j in e.joints])
                arm_q = np.clip(q, lo, hi)
            g = e.gripper
            if gripper_q is None:  # open: the end of the range with the wider jaw
                gripper_q = g.upper if g.width_at_upper >= g.width_at_lower else g.lower
            arm_q = np.asarray(arm_q, dtype=float)
            self.robot.set_initial_state(m, d, arm_q, float(gripper_q))
            assert self.arm is not None and self.gripper is not None
            self.arm.hold(arm_q)
            self.gripper.hold(float(gripper_q))
            if self.gripper_follower is not None:
                self.gripper_follower.hold([float(gripper_q)])
        self.poses = self.task.reset(seed, overrides)
        mujoco.mj_forward(m, d)
        self._reset_time = float(d.time)
        self.seed = int(seed)
        self.instruction = self.task.instruction(seed)
        return {
            "task": self.task.name,
            "seed": int(seed),
            "embodiment": self.embodiment.name if self.embodiment else None,
            "instruction": self.instruction,
            "poses": {k: v.to_dict() for k, v in self.poses.items()},
        }

    @property
    def time(self) -> float:
        return float(self.data.time)

    @property
    def elapsed(self) -> float:
        return self.time - self._reset_time

    # -- commands ----------------------------------------------------------------------------
    def submit_arm_trajectory(self, traj: JointTrajectory) -> Verdict:
        if self.arm is None:
            return Verdict.reject("E_NO_ROBOT", "This simulation has no robot.")
        return self.arm.submit(traj, self.time)

    def submit_gripper_trajectory(self, traj: JointTrajectory) -> Verdict:
        if self.gripper_follower is None:
            return Verdict.reject("E_GRIPPER_INTERFACE", "This gripper is not driven by a trajectory topic.")
        return self.gripper_follower.submit(traj, self.time)

    def command_gripper(self, position: float, max_effort: float = 0.0) -> Verdict:
        """GripperCommand / ParallelGripperCommand goal (joint units)."""
        if self.gripper is None:
            return Verdict.reject("E_NO_ROBOT", "This simulation has no robot.")
        v = self.gripper.command(position, max_effort, self.time)
        if v.ok and self.gripper_follower is not None:
            self.gripper_follower.hold([position])
        return v

    # -- stepping ----------------------------------------------------------------------------
    def _apply_controls(self) -> None:
        r = self.robot
        if r is None:
            return
        d = self.data
        t = float(d.time)
        assert self.arm is not None and self.gripper is not None
        sp = self.arm.update(t, d.qpos[r.arm_qpos_adr], d.qvel[r.arm_dof_adr])
        d.ctrl[r.arm_actuators] = sp.positions
        if self.gripper_follower is not None and self.gripper_follower.has_trajectory:
            gsp = self.gripper_follower.update(t, [d.qpos[r.gripper_qpos_adr]], [d.qvel[r.gripper_dof_adr]])
            d.ctrl[r.gripper_actuator] = gsp.positions[0]
        elif self.gripper.target is not None:
            d.ctrl[r.gripper_actuator] = self.gripper.target

    def step(self, n: int = 1) -> None:
        """Advance ``n`` sim steps of ``sim_dt`` (each ``substeps`` physics steps)."""
        m, d = self.model, self.data
        for _ in range(n):
            for _ in range(self.substeps):
                self._apply_controls()
                mujoco.mj_step(m, d)

    def step_control(self, n: int = 1) -> None:
        """Advance ``n`` control steps of ``control_dt`` (ManiSkill's 20 Hz)."""
        self.step(n * self.steps_per_control)

    # -- observation -------------------------------------------------------------------------
    def joint_state(self) -> JointStateSample:
        """Arm joints, then the gripper joint and its mimic joints, as a driver publishes them."""
        if self.robot is None or self.embodiment is None:
            return JointStateSample(self.time, (), np.zeros(0), np.zeros(0), np.zeros(0))
        r, d, e = self.robot, self.data, self.embodiment
        names = (*e.joint_names, e.gripper.joint, *[
            n for n in e.gripper.mimic_joints
            if mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_JOINT, ROBOT_PREFIX + n) >= 0
        ])
        qadr = np.concatenate([r.arm_qpos_adr, [r.gripper_qpos_adr], r.mimic_qpos_adr]).astype(int)
        dadr = np.concatenate([r.arm_dof_adr, [r.gripper_dof_adr], r.mimic_dof_adr]).astype(int)
        return JointStateSample(
            self.time, names, np.array(d.qpos[qadr]), np.array(d.qvel[dadr]), np.array(d.qfrc_actuator[dadr])
        )

    @property
    def cameras(self) -> tuple[str, ...]:
        cams = ["front"]
        if self.robot is not None and self.robot.wrist_camera >= 0:
            cams.append("wrist")
        return tuple(cams)

    def render(self, camera: str = "front", width: Optional[int] = None, height: Optional[int] = None) -> np.ndarray:
        """An RGB image (height x width x 3, uint8) from ``front`` or ``wrist``."""
        w, h = width or self.cfg.width, height or self.cfg.height
        if camera == "front":
            cam = "front"
        elif camera == "wrist" and self.robot is not None and self.robot.wrist_camera >= 0:
            cam = ROBOT_PREFIX + "wrist"
        else:
            raise KeyError(f"no camera {camera!r}; have {', '.join(self.cameras)}")
        # positions of the current qpos (mj_step leaves xpos at the pre-integration state);
        # kinematics only, so rendering never changes the dynamics.
        mujoco.mj_kinematics(self.model, self.data)
        mujoco.mj_camlight(self.model, self.data)
        r = self._renderers.get(self.model, w, h)
        r.update_scene(self.data, camera=cam, scene_option=self._vopt)
        return r.render()

    def camera_info(self, camera: str = "front") -> dict:
        """Pinhole intrinsics for ``sensor_msgs/CameraInfo`` (fovy from the model, square pixels)."""
        name = "front" if camera == "front" else ROBOT_PREFIX + camera
        cid = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_CAMERA, name)
        if cid < 0:
            raise KeyError(f"no camera {camera!r}")
        w, h = self.cfg.width, self.cfg.height
        fy = 0.5 * h / np.tan(np.deg2rad(float(self.model.cam_fovy[cid])) / 2)
        return {"width": w, "height": h, "fx": fy, "fy": fy, "cx": (w - 1) / 2, "cy": (h - 1) / 2}

    def object_poses(self) -> dict[str, Pose]:
        """Current poses of the task's objects (free bodies from qpos, kinematic ones from mocap)."""
        d = self.data
        out: dict[str, Pose] = {}
        for n in self.task.free_objects:
            out[n] = Pose.of(self.task._free_pos(d, n), self.task._free_quat(d, n))
        for n in self.task.kinematic_objects:
            mid = self.task._b.mocap[n]  # type: ignore[union-attr]
            out[n] = Pose.of(np.array(d.mocap_pos[mid]), np.array(d.mocap_quat[mid]))
        return out

    def gripper_goal_status(self):
        """Progress of the active GripperCommand / ParallelGripperCommand goal (None: no robot)."""
        if self.robot is None or self.gripper is None:
            return None
        r, d = self.robot, self.data
        return self.gripper.status(self.time, r.gripper_position(d), r.gripper_velocity(d),
                                   float(d.qfrc_actuator[r.gripper_dof_adr]))

    # -- success -----------------------------------------------------------------------------
    def evaluate(self) -> dict:
        return self.task.evaluate(self.model, self.data)

    def task_status(self) -> dict:
        """What ``/sim/task_status`` carries: success, elapsed sim time, the criterion values."""
        ev = self.evaluate()
        return {"task": self.task.name, "seed": self.seed, "success": ev["success"],
                "elapsed": self.elapsed, "values": ev["values"]}

    def close(self) -> None:
        self._renderers.close()
