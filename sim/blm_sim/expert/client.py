"""The expert's ROS side: a client like any other (no access to the simulator's process).

It resets the sim through ``/sim/reset``, reads ``/joint_states`` (whose stamps are its sim clock), ``/sim/task_status``
and ``/sim/objects``, publishes ``trajectory_msgs/JointTrajectory`` on the embodiment's
trajectory topic and commands the gripper through the embodiment's own interface
(GripperCommand / ParallelGripperCommand action, or the gripper trajectory topic). Every wait is
bounded in wall time and in sim time.

    python -m blm_sim.expert.client --embodiment panda --task PickCube --seed 3 [--record out/x.mcap]
(with the sim node running: ``python -m blm_sim.node``).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from typing import Callable, Optional

import numpy as np

import rclpy
from rclpy.action import ActionClient
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from builtin_interfaces.msg import Duration
from sensor_msgs.msg import JointState
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint
from visualization_msgs.msg import MarkerArray
from blm_msgs.msg import TaskStatus
from blm_msgs.srv import SimReset
from control_msgs.action import GripperCommand, ParallelGripperCommand

from ..embodiment import Embodiment, load_embodiment
from ..node import gripper_names
from .perturb import Perturbation
from .planning import PlanningWorld, TimedPath
from .recorder import REFERENCE_TOPIC
from .scripts import Expert, ExpertResult

__all__ = ["RosRobot", "run_episode", "main"]

RELIABLE = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST)
RESET_ATTEMPTS = 3
RESET_WALL_S = 15.0  # per attempt; a reset itself takes well under a second (the sim logs it)


def _dur(t: float) -> Duration:
    sec = int(math.floor(t))
    return Duration(sec=sec, nanosec=min(int(round((t - sec) * 1e9)), 999_999_999))


class RosRobot:
    """The :class:`~blm_sim.expert.scripts.Robot` interface over ROS topics, services and actions."""

    def __init__(self, node: Node, emb: Embodiment, wall_timeout: float = 30.0, recorder=None,
                 perturb_std: float = 0.0) -> None:
        self.node = node
        self.emb = emb
        self.wall_timeout = wall_timeout
        self.recorder = recorder
        self.perturb_std = perturb_std
        self.perturbation: Optional[Perturbation] = None  # set per episode (run_episode), seeded
        self._js: Optional[JointState] = None
        self._status: Optional[TaskStatus] = None
        self._objects: dict = {}
        self._clock = 0.0
        self._events = 0
        node.create_subscription(JointState, emb.joint_states_topic, self._on_js, RELIABLE)
        node.create_subscription(TaskStatus, "/sim/task_status", self._on_status, RELIABLE)
        node.create_subscription(MarkerArray, "/sim/objects", self._on_objects, RELIABLE)
        # sim time: the joint states' stamps (the sim stamps everything with it; one topic less)
        self.pub_arm = node.create_publisher(JointTrajectory, emb.trajectory_topic, RELIABLE)
        self.pub_reference = node.create_publisher(JointTrajectory, REFERENCE_TOPIC, RELIABLE)
        names = gripper_names(emb.gripper.command, emb.gripper.interface)
        self.interface = emb.gripper.interface
        if self.interface == "gripper_command":
            self.gripper_client = ActionClient(node, GripperCommand, names["gripper_command"])
        elif self.interface == "parallel_gripper":
            self.gripper_client = ActionClient(node, ParallelGripperCommand, names["parallel_gripper"])
        else:
            self.gripper_client = None
            self.pub_gripper = node.create_publisher(JointTrajectory, names["trajectory"], RELIABLE)
        self.reset_client = node.create_client(SimReset, "/sim/reset")
        self.idx = None

    # -- callbacks -----------------------------------------------------------------------------
    def _on_js(self, m: JointState) -> None:
        self._events += 1
        self._js = m
        self._clock = m.header.stamp.sec + m.header.stamp.nanosec * 1e-9
        if self.idx is None or len(self.idx[0]) == 0:
            names = list(m.name)
            self.idx = ([names.index(n) for n in self.emb.joint_names], names.index(self.emb.gripper.joint))

    def _on_status(self, m: TaskStatus) -> None:
        self._events += 1
        self._status = m

    def _on_objects(self, m: MarkerArray) -> None:
        self._events += 1
        self._objects = {
            mk.ns: (
                np.array([mk.pose.position.x, mk.pose.position.y, mk.pose.position.z]),
                np.array([mk.pose.orientation.w, mk.pose.orientation.x, mk.pose.orientation.y, mk.pose.orientation.z]),
            )
            for mk in m.markers
        }

    # -- waiting -------------------------------------------------------------------------------
    def spin_until(self, pred: Callable[[], bool], wall: float, sim: Optional[float] = None) -> bool:
        self.drain()
        t0 = time.monotonic()
        s0 = self._clock
        while time.monotonic() - t0 < wall:
            rclpy.spin_once(self.node, timeout_sec=0.005)
            if pred():
                return True
            if sim is not None and self._clock - s0 > sim:
                return False
        return False

    def drain(self, max_events: int = 200) -> None:
        """Take in what arrived while the expert was computing, so its state is the latest."""
        for _ in range(max_events):
            before = self._events
            rclpy.spin_once(self.node, timeout_sec=0.0)
            if self._events == before:
                break

    def ready(self, wall: float = 20.0) -> bool:
        return self.spin_until(lambda: self._js is not None and bool(self._objects) and self._status is not None, wall)

    # -- Robot interface -----------------------------------------------------------------------
    def sim_time(self) -> float:
        return self._clock

    def arm_q(self) -> np.ndarray:
        self.drain()
        return np.array([self._js.position[i] for i in self.idx[0]])

    def arm_qd(self) -> np.ndarray:
        return np.array([self._js.velocity[i] for i in self.idx[0]])

    def gripper_q(self) -> float:
        return float(self._js.position[self.idx[1]])

    def objects(self) -> dict:
        self.drain()
        return dict(self._objects)

    def success(self) -> bool:
        return bool(self._status is not None and self._status.success)

    def status(self) -> Optional[TaskStatus]:
        return self._status

    def wait(self, seconds: float, until: Optional[Callable[[], bool]] = None) -> bool:
        self.drain()
        s0 = self._clock
        done = self.spin_until(lambda: (until is not None and until()) or self._clock - s0 >= seconds,
                               wall=self.wall_timeout)
        return bool(until()) if until is not None else done

    def _trajectory(self, path: TimedPath) -> JointTrajectory:
        msg = JointTrajectory()
        msg.joint_names = list(self.emb.joint_names)  # header.stamp = 0: start now
        for t, q, v in zip(path.times, path.positions, path.velocities):
            p = JointTrajectoryPoint()
            p.positions = [float(x) for x in q]
            p.velocities = [float(x) for x in v]
            p.time_from_start = _dur(float(t))
            msg.points.append(p)
        return msg

    def execute(self, path: TimedPath) -> bool:
        msg = self._trajectory(path)
        bent = self.perturbation.apply(path) if self.perturbation is not None else None
        self.drain()
        s0 = self._clock
        self._w0 = time.monotonic()
        if self.perturbation is not None:
            # every path of a perturbed episode has its reference, bent or not: the recording then
            # reads its commands from one topic
            self.pub_reference.publish(msg)
        self.pub_arm.publish(self._trajectory(bent) if bent is not None else msg)
        if self.recorder is not None:
            self.recorder.note_command(self.emb.trajectory_topic, msg, s0)
        end = s0 + path.duration
        target = path.positions[-1]
        ok = self.spin_until(
            lambda: self._clock >= end and float(np.max(np.abs(self.arm_q() - target))) < 0.03
            and float(np.max(np.abs(self.arm_qd()))) < 0.3,
            wall=self.wall_timeout + 3 * path.duration, sim=path.duration + 2.0,
        )
        err = np.abs(self.arm_q() - target)
        if os.environ.get("BLM_EXPERT_DEBUG"):
            print("execute", ok, "wall", round(time.monotonic() - self._w0, 2), "s0", s0, "now", self._clock, "dur", path.duration, "q", np.round(self.arm_q(), 3).tolist(),
                  "target", np.round(target, 3).tolist(), "first", np.round(path.positions[0], 3).tolist(), flush=True)
        self.last_error = (f"max joint error {float(np.max(err)):.3f} rad (joint {int(np.argmax(err))}), "
                           f"sim {self._clock - s0:.2f} s of {path.duration:.2f} s")
        return ok or float(np.max(err)) < 0.05

    def grip(self, position: float, effort: float) -> bool:
        if self.recorder is not None:
            self.recorder.note_gripper(position, effort, self._clock)
        if self.gripper_client is None:
            msg = JointTrajectory()
            msg.joint_names = [self.emb.gripper.joint]
            p = JointTrajectoryPoint(positions=[position], time_from_start=_dur(0.5))
            msg.points.append(p)
            self.pub_gripper.publish(msg)
            return self.wait(1.2)
        if not self.gripper_client.wait_for_server(timeout_sec=5.0):
            raise RuntimeError("gripper action server not available")
        if self.interface == "gripper_command":
            goal = GripperCommand.Goal()
            goal.command.position = float(position)
            goal.command.max_effort = float(effort)
        else:
            goal = ParallelGripperCommand.Goal()
            goal.command.name = [self.emb.gripper.joint]
            goal.command.position = [float(position)]
            goal.command.effort = [float(effort)] if effort > 0 else []
        fut = self.gripper_client.send_goal_async(goal)
        if not self.spin_until(fut.done, wall=self.wall_timeout) or not fut.result().accepted:
            return False
        res = fut.result().get_result_async()
        ok = self.spin_until(res.done, wall=self.wall_timeout, sim=3.0)
        self.wait(0.1)
        return ok

    def reset(self, task: str, seed: int, embodiment: str) -> SimReset.Response:
        if not self.reset_client.wait_for_service(timeout_sec=20.0):
            raise RuntimeError("/sim/reset not available")
        req = SimReset.Request(task=task, seed=int(seed), embodiment=embodiment)
        resp = None
        # The first call after wait_for_service can lose its response: Fast DDS drops it when the
        # server's response writer has not matched this client's reader yet ("failed to send
        # response (timeout)" in the sim's log). A reset is idempotent (the same task and seed give
        # the same world), so asking again is safe.
        for _ in range(RESET_ATTEMPTS):
            fut = self.reset_client.call_async(req)
            if self.spin_until(fut.done, wall=RESET_WALL_S):
                resp = fut.result()
                break
            self.reset_client.remove_pending_request(fut)
        if resp is None:
            raise RuntimeError(f"/sim/reset timed out ({RESET_ATTEMPTS} attempts of {RESET_WALL_S:.0f} s)")
        if not resp.success:
            raise RuntimeError(resp.message)
        # fresh observations from after the reset
        t = self._clock
        self._js, self._status, self._objects = None, None, {}
        if not self.spin_until(lambda: self._js is not None and bool(self._objects) and self._status is not None
                               and self._status.seed == int(seed) and self._status.task == task
                               and self._status.elapsed < 1.0, wall=20.0):
            raise RuntimeError("no observations after reset")
        self.wait(0.2)
        return resp


def run_episode(node: Node, robot: RosRobot, world: PlanningWorld, task: str, seed: int,
                recorder=None, record_path=None, wall_budget_s: float = 120.0) -> tuple[ExpertResult, str]:
    """Reset to (task, seed), run the expert, return its result and the instruction."""
    resp = robot.reset(task, seed, robot.emb.name)
    if recorder is not None:
        recorder.begin(path=record_path, task=task, seed=seed, embodiment=robot.emb.name, instruction=resp.instruction,
                       perturb=robot.perturb_std)
    if robot.perturb_std > 0:
        joints = robot.emb.joints
        robot.perturbation = Perturbation(robot.perturb_std, np.array([j.lower for j in joints]),
                                          np.array([j.upper for j in joints]), np.random.default_rng([seed, 11]))
    expert = Expert(world, robot, np.random.default_rng([seed, 7]), log=lambda s: node.get_logger().debug(s))
    result = expert.run(task, wall_budget_s=wall_budget_s)
    if recorder is not None:
        robot.wait(0.3)  # the episode's tail (and the success status) into the file
        recorder.end(keep=result.success, attempts=result.attempts)
    return result, resp.instruction


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m blm_sim.expert.client")
    ap.add_argument("--embodiment", default="panda")
    ap.add_argument("--task", default="PickCube")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--record", default=None, help="MCAP path for the episode (kept on success only)")
    a = ap.parse_args(argv)
    rclpy.init()
    node = rclpy.create_node("blm_expert")
    rec = None
    if a.record:
        from .recorder import EpisodeRecorder

        rec = EpisodeRecorder(a.record, load_embodiment(a.embodiment))
        rec.start()
    try:
        emb = load_embodiment(a.embodiment)
        robot = RosRobot(node, emb, recorder=rec)
        world = PlanningWorld(a.task, a.embodiment)
        res, instr = run_episode(node, robot, world, a.task, a.seed, recorder=rec)
        print(f"{a.embodiment} {a.task} seed {a.seed}: {'success' if res.success else 'failure'} "
              f"after {res.attempts} attempt(s): {instr!r}")
        for line in res.log:
            print("  " + line)
        return 0 if res.success else 1
    finally:
        if rec is not None:
            rec.stop()
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == "__main__":
    sys.exit(main())
