"""The thin rclpy node around the simulation core: ``python -m blm_sim.node``.

It declares the parameters, maps ROS messages to the core's types (``world.Simulation``,
``trajectory.JointTrajectory``), steps the core in sim time and publishes what the core returns.
No physics, trajectory or success logic lives here (STYLE point 8).

Published (stamps in sim time; sim time is monotonic across resets):
  /clock                          rosgraph_msgs/Clock
  /joint_states                   sensor_msgs/JointState (arm, gripper, mimic joints; driver names)
  /camera/<front|wrist>/image_raw sensor_msgs/Image rgb8, sensor-data QoS (all zeros when the
                                  blank_cameras parameter is set: the eval's ablation)
  /camera/<front|wrist>/camera_info  sensor_msgs/CameraInfo, sensor-data QoS
  /sim/task_status                blm_msgs/TaskStatus
  /sim/success                    std_msgs/Bool (DESIGN decision 5)
  /sim/objects                    visualization_msgs/MarkerArray: ground-truth object poses
                                  (ns = object name), for the scripted expert and RViz
Subscribed / served (names from the embodiment definition):
  <trajectory_topic>              trajectory_msgs/JointTrajectory, reliable (JTC semantics)
  <controller>/follow_joint_trajectory  control_msgs/action/FollowJointTrajectory
  gripper, all three interfaces (DESIGN decision 1), under the namespace of ``gripper.command``:
    <ns>/joint_trajectory         trajectory_msgs/JointTrajectory (gripper joint)
    <ns>/gripper_action           control_msgs/action/GripperCommand
    <ns>/gripper_cmd              control_msgs/action/ParallelGripperCommand
    (the embodiment's own interface is always served at ``gripper.command`` itself)
  /sim/reset                      blm_msgs/srv/SimReset

Parameters are fixed at start-up except ``real_time_factor``, which may change while it runs
(a recovery-demonstration run paces the agent's part in real time and the expert's faster).

Rejected commands are logged with their code and do not move anything.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from .trajectory import JointTrajectory as CoreTrajectory
from .trajectory import TrajectoryPoint, Verdict, validate_trajectory

import rclpy  # noqa: E402
import rclpy.executors  # noqa: E402
import rclpy.task  # noqa: E402
from rclpy.utilities import remove_ros_args  # noqa: E402
from rclpy.action import ActionServer, CancelResponse, GoalResponse  # noqa: E402
from rclpy.node import Node  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rclpy.qos import (  # noqa: E402
    QoSProfile,
    ReliabilityPolicy,
    HistoryPolicy,
    qos_profile_sensor_data,
)
from rcl_interfaces.msg import (  # noqa: E402
    FloatingPointRange,
    IntegerRange,
    ParameterDescriptor,
    SetParametersResult,
)
from rosgraph_msgs.msg import Clock  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image, JointState  # noqa: E402
from std_msgs.msg import Bool  # noqa: E402
from trajectory_msgs.msg import JointTrajectory as JointTrajectoryMsg  # noqa: E402
from visualization_msgs.msg import Marker, MarkerArray  # noqa: E402
from builtin_interfaces.msg import Time as TimeMsg  # noqa: E402
from blm_msgs.msg import TaskStatus  # noqa: E402
from blm_msgs.srv import SimReset  # noqa: E402
from control_msgs.action import FollowJointTrajectory, GripperCommand, ParallelGripperCommand  # noqa: E402

__all__ = ["SimNode", "main", "to_core_trajectory", "stamp_to_sec", "sec_to_stamp", "gripper_names"]

RELIABLE = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST)

# name, type, default, description (units), range
PARAMETERS: tuple[tuple[str, Any, str, Optional[tuple]], ...] = (
    ("embodiment", "panda", "Arm: panda | xarm6 | xarm7 | widowx_ai (embodiments/<name>).", None),
    ("task", "PickCube", "Task: PickCube | PushCube | StackCube | PullCube | PlaceSphere | LiftPegUpright.", None),
    ("seed", 0, "Episode seed of the first reset.", (0, 2**31 - 1)),
    ("camera_width", 128, "Camera image width (px).", (16, 1024)),
    ("camera_height", 128, "Camera image height (px).", (16, 1024)),
    ("camera_rate_hz", 10.0, "Camera publish rate in sim time (Hz); 0 disables the cameras.", (0.0, 100.0)),
    ("joint_state_rate_hz", 100.0, "/joint_states rate in sim time (Hz).", (1.0, 100.0)),
    ("clock_rate_hz", 100.0, "/clock rate in sim time (Hz).", (1.0, 100.0)),
    ("status_rate_hz", 10.0, "/sim/task_status, /sim/success, /sim/objects rate in sim time (Hz).", (1.0, 100.0)),
    ("real_time_factor", 1.0, "Pacing: sim seconds per wall second; 0 = as fast as possible.", (0.0, 100.0)),
    ("goal_time_tolerance", 0.5, "FollowJointTrajectory: default time after the end to reach the goal (s).", (0.0, 10.0)),
    ("blank_cameras", False, "Ablation: publish every camera image all zeros (black, same size and encoding).", None),
)


def stamp_to_sec(stamp: Any) -> float:
    return float(stamp.sec) + float(stamp.nanosec) * 1e-9


def sec_to_stamp(t: float) -> TimeMsg:
    t = max(0.0, float(t))
    sec = int(math.floor(t))
    nsec = min(int(round((t - sec) * 1e9)), 999_999_999)
    return TimeMsg(sec=sec, nanosec=nsec)


def _duration_sec(d: Any) -> float:
    return float(d.sec) + float(d.nanosec) * 1e-9


def to_core_trajectory(msg: JointTrajectoryMsg) -> CoreTrajectory:
    """trajectory_msgs/JointTrajectory -> the core's JointTrajectory (no validation here)."""
    pts = tuple(
        TrajectoryPoint(
            positions=tuple(float(v) for v in p.positions),
            time_from_start=_duration_sec(p.time_from_start),
            velocities=tuple(float(v) for v in p.velocities),
            accelerations=tuple(float(v) for v in p.accelerations),
            effort=tuple(float(v) for v in p.effort),
        )
        for p in msg.points
    )
    return CoreTrajectory(tuple(msg.joint_names), pts, stamp_to_sec(msg.header.stamp))


def gripper_names(command: str, interface: str) -> dict[str, str]:
    """Topic/action names of the three gripper interfaces (DESIGN decision 1).

    The embodiment's own interface sits at ``command``; the other two under its namespace.
    """
    ns = command.rsplit("/", 1)[0] if "/" in command.strip("/") else ""
    names = {
        "trajectory": f"{ns}/joint_trajectory",
        "gripper_command": f"{ns}/gripper_action",
        "parallel_gripper": f"{ns}/gripper_cmd",
    }
    names[interface] = command
    return names


@dataclass
class _Goal:
    kind: str  # "arm" | "gripper_command" | "parallel_gripper"
    handle: Any
    future: Any
    end_time: float = 0.0
    goal_time_tol: float = 0.0
    target: Optional[np.ndarray] = None
    tolerance: Optional[np.ndarray] = None


class SimNode(Node):
    def __init__(self, argv_overrides: Optional[dict] = None) -> None:
        super().__init__("blm_sim", parameter_overrides=[
            Parameter(k, value=v) for k, v in (argv_overrides or {}).items()
        ])
        for name, default, desc, rng in PARAMETERS:
            d = ParameterDescriptor(description=desc)
            if rng is not None and isinstance(default, int):
                d.integer_range = [IntegerRange(from_value=int(rng[0]), to_value=int(rng[1]), step=1)]
            elif rng is not None and isinstance(default, float):
                d.floating_point_range = [FloatingPointRange(from_value=float(rng[0]), to_value=float(rng[1]), step=0.0)]
            self.declare_parameter(name, default, d)
        p = lambda n: self.get_parameter(n).value  # noqa: E731
        self.width, self.height = int(p("camera_width")), int(p("camera_height"))
        self.rtf = float(p("real_time_factor"))
        self.blank_cameras = bool(p("blank_cameras"))
        self.goal_time_tolerance = float(p("goal_time_tolerance"))
        self.rates = {
            "camera": float(p("camera_rate_hz")),
            "joint_states": float(p("joint_state_rate_hz")),
            "clock": float(p("clock_rate_hz")),
            "status": float(p("status_rate_hz")),
        }
        self.sim = None
        self._endpoints: list = []
        self._goals: list[_Goal] = []
        self._next: dict[str, float] = {}
        self.pub_clock = self.create_publisher(Clock, "/clock", QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE))
        self.pub_status = self.create_publisher(TaskStatus, "/sim/task_status", RELIABLE)
        self.pub_success = self.create_publisher(Bool, "/sim/success", RELIABLE)
        self.pub_objects = self.create_publisher(MarkerArray, "/sim/objects", RELIABLE)
        self.pub_images: dict[str, Any] = {}
        self.pub_info: dict[str, Any] = {}
        self.pub_js = None
        self.srv_reset = self.create_service(SimReset, "/sim/reset", self._on_reset)
        self._build(str(p("task")), str(p("embodiment")))
        info = self.sim.reset(int(p("seed")))
        self._after_reset()
        self.get_logger().info(
            f"sim ready: {info['embodiment']} / {info['task']} seed {info['seed']}: {info['instruction']!r}"
        )
        # stepping: a wall timer; each tick advances the sim steps that are due (bounded)
        self._wall0 = time.monotonic()
        self._sim0 = self.sim.time
        self.timer = self.create_timer(0.002 if self.rtf > 0 else 0.0005, self._tick)
        self.add_on_set_parameters_callback(self._on_set_parameters)

    def _on_set_parameters(self, params: list[Parameter]) -> SetParametersResult:
        fixed = [q.name for q in params if q.name != "real_time_factor"]
        if fixed:
            return SetParametersResult(successful=False,
                                       reason=f"fixed at start-up: {', '.join(fixed)} (only real_time_factor may change)")
        rtf = float(params[-1].value)
        if (rtf > 0) != (self.rtf > 0):
            # the stepping timer's period is chosen for paced or unpaced stepping at start-up
            return SetParametersResult(successful=False,
                                       reason="real_time_factor can change between positive values only "
                                              f"(started at {self.rtf})")
        self.rtf = rtf
        self._wall0 = time.monotonic()  # pace from here, without catching up or slipping
        self._sim0 = self.sim.time
        return SetParametersResult(successful=True)

    # -- building ------------------------------------------------------------------------------
    def _build(self, task: str, embodiment: str) -> None:
        from .world import SimConfig, Simulation

        if self.sim is not None:
            self.sim.close()
        prev_time = self.sim.time if self.sim is not None else 0.0
        self.sim = Simulation(SimConfig(task=task, embodiment=embodiment, width=self.width, height=self.height))
        self.sim.data.time = prev_time  # /clock stays monotonic across rebuilds
        for e in self._endpoints:
            if isinstance(e, ActionServer):
                e.destroy()
            else:
                self.destroy_subscription(e)
        self._endpoints = []
        emb = self.sim.embodiment
        assert emb is not None
        if self.pub_js is None:
            self.pub_js = self.create_publisher(JointState, emb.joint_states_topic, RELIABLE)
        for cam in self.sim.cameras:
            if cam not in self.pub_images:
                self.pub_images[cam] = self.create_publisher(Image, f"/camera/{cam}/image_raw", qos_profile_sensor_data)
                self.pub_info[cam] = self.create_publisher(CameraInfo, f"/camera/{cam}/camera_info", qos_profile_sensor_data)
        self._endpoints.append(self.create_subscription(JointTrajectoryMsg, emb.trajectory_topic, self._on_arm_traj, RELIABLE))
        controller = emb.trajectory_topic.rsplit("/", 1)[0]
        self._endpoints.append(ActionServer(
            self, FollowJointTrajectory, f"{controller}/follow_joint_trajectory",
            execute_callback=self._exec_arm, goal_callback=self._goal_arm, cancel_callback=lambda _: CancelResponse.ACCEPT,
        ))
        names = gripper_names(emb.gripper.command, emb.gripper.interface)
        self.gripper_names = names
        self._endpoints.append(self.create_subscription(JointTrajectoryMsg, names["trajectory"], self._on_gripper_traj, RELIABLE))
        self._endpoints.append(ActionServer(
            self, GripperCommand, names["gripper_command"], execute_callback=self._exec_gripper_cmd,
            goal_callback=self._goal_gripper_cmd, cancel_callback=lambda _: CancelResponse.ACCEPT,
        ))
        self._endpoints.append(ActionServer(
            self, ParallelGripperCommand, names["parallel_gripper"], execute_callback=self._exec_parallel,
            goal_callback=self._goal_parallel, cancel_callback=lambda _: CancelResponse.ACCEPT,
        ))
        self._markers_template = self._marker_shapes()

    def _after_reset(self) -> None:
        t = self.sim.time
        self._next = {k: t for k in self.rates}
        self._wall0 = time.monotonic()
        self._sim0 = t

    # -- stepping ------------------------------------------------------------------------------
    def _tick(self) -> None:
        sim = self.sim
        dt = sim.cfg.sim_dt
        if self.rtf > 0:
            due = int(((time.monotonic() - self._wall0) * self.rtf - (sim.time - self._sim0)) / dt)
            if due > 20:  # fell behind: slip rather than burst (bounded work per tick)
                self._wall0 = time.monotonic() - (sim.time - self._sim0) / self.rtf
                due = 20
        else:
            due = 2
        for _ in range(max(0, due)):
            sim.step()
            self._publish()
            self._check_goals()

    def _publish(self) -> None:
        sim = self.sim
        t = sim.time
        eps = 1e-9
        stamp = sec_to_stamp(t)
        if t + eps >= self._next["clock"]:
            self._next["clock"] = t + 1.0 / self.rates["clock"]
            self.pub_clock.publish(Clock(clock=stamp))
        if t + eps >= self._next["joint_states"]:
            self._next["joint_states"] = t + 1.0 / self.rates["joint_states"]
            js = sim.joint_state()
            m = JointState()
            m.header.stamp = stamp
            m.name = list(js.names)
            m.position = js.positions.tolist()
            m.velocity = js.velocities.tolist()
            m.effort = js.efforts.tolist()
            self.pub_js.publish(m)
        if self.rates["camera"] > 0 and t + eps >= self._next["camera"]:
            self._next["camera"] = t + 1.0 / self.rates["camera"]
            for cam in sim.cameras:
                self._publish_camera(cam, stamp)
        if t + eps >= self._next["status"]:
            self._next["status"] = t + 1.0 / self.rates["status"]
            self._publish_status(stamp)

    def _publish_camera(self, cam: str, stamp: TimeMsg) -> None:
        # The blank-camera ablation blanks at the source: the agent's pipeline runs unchanged, only
        # the pixels carry nothing (no render either, which frees a core for the agent).
        rgb = np.zeros((self.height, self.width, 3), np.uint8) if self.blank_cameras else self.sim.render(cam)
        img = Image()
        img.header.stamp = stamp
        img.header.frame_id = f"camera_{cam}_optical_frame"
        img.height, img.width = int(rgb.shape[0]), int(rgb.shape[1])
        img.encoding = "rgb8"
        img.is_bigendian = 0
        img.step = 3 * img.width
        img.data = rgb.tobytes()
        self.pub_images[cam].publish(img)
        ci = self.sim.camera_info(cam)
        info = CameraInfo()
        info.header = img.header
        info.width, info.height = img.width, img.height
        info.distortion_model = "plumb_bob"
        info.d = [0.0] * 5
        info.k = [ci["fx"], 0.0, ci["cx"], 0.0, ci["fy"], ci["cy"], 0.0, 0.0, 1.0]
        info.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
        info.p = [ci["fx"], 0.0, ci["cx"], 0.0, 0.0, ci["fy"], ci["cy"], 0.0, 0.0, 0.0, 1.0, 0.0]
        self.pub_info[cam].publish(info)

    def _publish_status(self, stamp: TimeMsg) -> None:
        st = self.sim.task_status()
        m = TaskStatus()
        m.header.stamp = stamp
        m.task = st["task"]
        m.embodiment = self.sim.embodiment.name
        m.seed = int(st["seed"] or 0)
        m.success = bool(st["success"])
        m.elapsed = float(st["elapsed"])
        m.criterion_names = list(st["values"].keys())
        m.criterion_values = [float(v) for v in st["values"].values()]
        self.pub_status.publish(m)
        self.pub_success.publish(Bool(data=m.success))
        arr = MarkerArray()
        for i, (name, pose) in enumerate(self.sim.object_poses().items()):
            mk = Marker()
            mk.header.stamp = stamp
            mk.header.frame_id = "world"
            mk.ns = name
            mk.id = i
            mk.type, scale = self._markers_template.get(name, (Marker.CUBE, (0.04, 0.04, 0.04)))
            mk.action = Marker.ADD
            mk.pose.position.x, mk.pose.position.y, mk.pose.position.z = pose.pos
            mk.pose.orientation.w, mk.pose.orientation.x, mk.pose.orientation.y, mk.pose.orientation.z = pose.quat
            mk.scale.x, mk.scale.y, mk.scale.z = scale
            mk.color.a = 1.0
            arr.markers.append(mk)
        self.pub_objects.publish(arr)

    def _marker_shapes(self) -> dict:
        import mujoco

        m = self.sim.model
        out = {}
        for name in (*self.sim.task.free_objects, *self.sim.task.kinematic_objects):
            bid = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, name)
            gs = [g for g in range(m.ngeom) if m.geom_bodyid[g] == bid]
            if not gs:
                continue
            g = gs[0]
            sz = m.geom_size[g]
            if m.geom_type[g] == mujoco.mjtGeom.mjGEOM_SPHERE:
                out[name] = (Marker.SPHERE, (2 * sz[0],) * 3)
            elif m.geom_type[g] == mujoco.mjtGeom.mjGEOM_CYLINDER:
                out[name] = (Marker.CYLINDER, (2 * sz[0], 2 * sz[0], 2 * sz[1]))
            else:
                out[name] = (Marker.CUBE, tuple(2 * float(v) for v in sz[:3]))
        return out

    # -- commands: arm -------------------------------------------------------------------------
    def _log_reject(self, what: str, v: Verdict) -> None:
        self.get_logger().warning(f"{what} rejected [{v.code}]: {v.message}")

    def _on_arm_traj(self, msg: JointTrajectoryMsg) -> None:
        v = self.sim.submit_arm_trajectory(to_core_trajectory(msg))
        if not v.ok:
            self._log_reject("arm trajectory", v)
            return
        self._finish_goals("arm", ok=False, reason="preempted by a trajectory on the topic")

    def _goal_arm(self, goal: FollowJointTrajectory.Goal) -> GoalResponse:
        e = self.sim.embodiment
        v = validate_trajectory(to_core_trajectory(goal.trajectory), e.joint_names, e.arm_limits(), self.sim.time)
        if not v.ok:
            self._log_reject("FollowJointTrajectory goal", v)
            return GoalResponse.REJECT
        return GoalResponse.ACCEPT

    async def _exec_arm(self, handle) -> FollowJointTrajectory.Result:
        goal = handle.request
        traj = to_core_trajectory(goal.trajectory)
        res = FollowJointTrajectory.Result()
        v = self.sim.submit_arm_trajectory(traj)
        if not v.ok:
            self._log_reject("FollowJointTrajectory goal", v)
            res.error_code = FollowJointTrajectory.Result.INVALID_GOAL
            res.error_string = f"{v.code}: {v.message}"
            handle.abort()
            return res
        self._finish_goals("arm", ok=False, reason="preempted by a new goal")
        e = self.sim.embodiment
        start = self.sim.time if traj.stamp == 0.0 else traj.stamp
        order = [list(traj.joint_names).index(n) for n in e.joint_names]
        target = np.array([traj.points[-1].positions[i] for i in order])
        tol = np.full(len(order), np.inf)
        for jt in goal.goal_tolerance:
            if jt.name in e.joint_names and jt.position > 0:
                tol[e.joint_names.index(jt.name)] = jt.position
        gtt = _duration_sec(goal.goal_time_tolerance) or self.goal_time_tolerance
        fut = rclpy.task.Future()
        self._goals.append(_Goal("arm", handle, fut, start + traj.points[-1].time_from_start, gtt, target, tol))
        return await fut

    # -- commands: gripper ---------------------------------------------------------------------
    def _on_gripper_traj(self, msg: JointTrajectoryMsg) -> None:
        v = self.sim.submit_gripper_trajectory(to_core_trajectory(msg))
        if not v.ok:
            self._log_reject("gripper trajectory", v)

    def _gripper_ok(self, position: float) -> bool:
        g = self.sim.embodiment.gripper
        return math.isfinite(position) and g.lower - 1e-9 <= position <= g.upper + 1e-9

    def _goal_gripper_cmd(self, goal: GripperCommand.Goal) -> GoalResponse:
        if not self._gripper_ok(goal.command.position) or not math.isfinite(goal.command.max_effort):
            self._log_reject("GripperCommand goal", Verdict.reject(
                "E_POSITION_LIMIT", f"gripper position {goal.command.position} is invalid or out of range"))
            return GoalResponse.REJECT
        return GoalResponse.ACCEPT

    def _parallel_target(self, goal: ParallelGripperCommand.Goal) -> Optional[tuple[float, float]]:
        js = goal.command
        g = self.sim.embodiment.gripper
        if len(js.position) != 1 or (js.name and js.name[0] != g.joint):
            return None
        effort = float(js.effort[0]) if len(js.effort) else 0.0
        return float(js.position[0]), effort

    def _goal_parallel(self, goal: ParallelGripperCommand.Goal) -> GoalResponse:
        t = self._parallel_target(goal)
        if t is None or not self._gripper_ok(t[0]) or not math.isfinite(t[1]):
            self._log_reject("ParallelGripperCommand goal", Verdict.reject(
                "E_GRIPPER_GOAL", "needs one finite position for the gripper joint, within its range"))
            return GoalResponse.REJECT
        return GoalResponse.ACCEPT

    async def _exec_gripper_cmd(self, handle) -> GripperCommand.Result:
        c = handle.request.command
        return await self._start_gripper("gripper_command", handle, float(c.position), float(c.max_effort))

    async def _exec_parallel(self, handle) -> ParallelGripperCommand.Result:
        pos, eff = self._parallel_target(handle.request)
        return await self._start_gripper("parallel_gripper", handle, pos, eff)

    async def _start_gripper(self, kind: str, handle, position: float, effort: float):
        v = self.sim.command_gripper(position, effort)
        if not v.ok:
            self._log_reject("gripper goal", v)
            handle.abort()
            return self._gripper_result(kind)
        self._finish_goals("gripper_command", ok=False, reason="preempted")
        self._finish_goals("parallel_gripper", ok=False, reason="preempted")
        fut = rclpy.task.Future()
        self._goals.append(_Goal(kind, handle, fut))
        return await fut

    def _gripper_result(self, kind: str, st=None):
        if st is None:
            st = self.sim.gripper_goal_status()
        if kind == "gripper_command":
            r = GripperCommand.Result()
            r.position, r.effort, r.stalled, r.reached_goal = st.position, st.effort, st.stalled, st.reached_goal
            return r
        r = ParallelGripperCommand.Result()
        r.state.header.stamp = sec_to_stamp(self.sim.time)
        r.state.name = [self.sim.embodiment.gripper.joint]
        r.state.position, r.state.effort = [st.position], [st.effort]
        r.stalled, r.reached_goal = st.stalled, st.reached_goal
        return r

    # -- goal bookkeeping ----------------------------------------------------------------------
    def _finish_goals(self, kind: str, ok: bool, reason: str = "") -> None:
        for g in [g for g in self._goals if g.kind == kind]:
            self._goals.remove(g)
            self._complete(g, ok, reason)

    def _complete(self, g: _Goal, ok: bool, reason: str, error_code: Optional[int] = None) -> None:
        if g.kind == "arm":
            r = FollowJointTrajectory.Result()
            r.error_code = 0 if ok else (error_code if error_code is not None else FollowJointTrajectory.Result.INVALID_GOAL)
            r.error_string = reason
        else:
            r = self._gripper_result(g.kind)
        if not g.handle.is_active:
            pass
        elif g.handle.is_cancel_requested:
            g.handle.canceled()
        elif ok:
            g.handle.succeed()
        else:
            g.handle.abort()
        if not g.future.done():
            g.future.set_result(r)

    def _check_goals(self) -> None:
        if not self._goals:
            return
        now = self.sim.time
        for g in list(self._goals):
            if g.handle.is_cancel_requested:
                if g.kind == "arm":
                    self.sim.arm.hold(self.sim.robot.arm_positions(self.sim.data))
                self._goals.remove(g)
                self._complete(g, False, "canceled")
                continue
            if g.kind == "arm":
                if now < g.end_time:
                    continue
                q = self.sim.robot.arm_positions(self.sim.data)
                err = np.abs(q - g.target)
                within = bool(np.all(err <= g.tolerance)) if np.any(np.isfinite(g.tolerance)) else True
                settled = float(np.max(np.abs(self.sim.robot.arm_velocities(self.sim.data)))) < 0.05
                if within and (settled or now >= g.end_time + g.goal_time_tol):
                    self._goals.remove(g)
                    self._complete(g, True, "")
                elif now >= g.end_time + g.goal_time_tol:
                    self._goals.remove(g)
                    self._complete(g, False, f"goal tolerance violated: max error {float(np.max(err)):.4f}",
                                   FollowJointTrajectory.Result.GOAL_TOLERANCE_VIOLATED)
            else:
                st = self.sim.gripper_goal_status()
                if st is not None and st.finished:
                    self._goals.remove(g)
                    self._complete(g, True, "")

    # -- reset ---------------------------------------------------------------------------------
    def _on_reset(self, req: SimReset.Request, resp: SimReset.Response) -> SimReset.Response:
        from .tasks import TASKS

        task = req.task or self.sim.task.name
        emb = req.embodiment or self.sim.embodiment.name
        if task not in TASKS:
            resp.success, resp.message = False, f"E_UNKNOWN_TASK: unknown task {task!r}; known: {', '.join(TASKS)}"
            return resp
        for kind in ("arm", "gripper_command", "parallel_gripper"):
            self._finish_goals(kind, ok=False, reason="simulation reset")
        try:
            if task != self.sim.task.name or emb != self.sim.embodiment.name:
                self._build(task, emb)
            info = self.sim.reset(int(req.seed))
        except Exception as exc:  # a bad embodiment name or model: report, keep running
            resp.success, resp.message = False, f"E_RESET: {exc}"
            self.get_logger().error(resp.message)
            return resp
        self._after_reset()
        resp.success = True
        resp.message = f"{info['embodiment']} / {info['task']} seed {info['seed']}"
        resp.instruction = info["instruction"]
        self.get_logger().info(f"reset: {resp.message}: {info['instruction']!r}")
        return resp


def _flag(text: str) -> bool:
    if text.lower() in ("true", "1", "yes"):
        return True
    if text.lower() in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def _parse_cli(argv: list[str]) -> dict:
    """Plain flags (``--embodiment xarm6 --task PushCube``) as parameter overrides; ROS args too."""
    ap = argparse.ArgumentParser(prog="python -m blm_sim.node", add_help=True)
    for name, default, desc, _ in PARAMETERS:
        typ = _flag if isinstance(default, bool) else type(default)  # bool("false") would be True
        ap.add_argument(f"--{name.replace('_', '-')}", dest=name, type=typ, default=None, help=desc)
    ns, _ = ap.parse_known_args(argv)
    return {k: v for k, v in vars(ns).items() if v is not None}


def main(argv: Optional[list[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    rclpy.init(args=["blm_sim", *argv])
    overrides = _parse_cli(remove_ros_args(["blm_sim", *argv])[1:])
    node = None
    try:
        node = SimNode(overrides)
        rclpy.spin(node)
    except KeyboardInterrupt:
        pass
    except rclpy.executors.ExternalShutdownException:
        pass
    except Exception:  # a signal shut the context down mid-publish: exit quietly
        if rclpy.ok():
            raise
    finally:
        if node is not None:
            if node.sim is not None:
                node.sim.close()
            node.destroy_node()
        if rclpy.ok():
            rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
