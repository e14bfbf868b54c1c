"""The rclpy node over real DDS on loopback: the sim node runs in a subprocess, this test is a
ROS client (reset service, trajectories, actions, topics). Run through scripts/with-env.sh."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from rosutil import SimProcess, call, domain_id, requires_ros, spin_until

pytestmark = requires_ros

PANDA = [f"panda_joint{i}" for i in range(1, 8)]
PANDA_TOPIC = "/panda_arm_controller/joint_trajectory"


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    p = SimProcess(tmp_path_factory.mktemp("sim") / "node.log", embodiment="panda", task="PickCube", seed=0,
                   real_time_factor=3.0, camera_rate_hz=10.0, camera_width=48, camera_height=40)
    yield p
    p.stop()


class Client:
    def __init__(self) -> None:
        import rclpy
        from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
        from blm_msgs.msg import TaskStatus
        from blm_msgs.srv import SimReset
        from rosgraph_msgs.msg import Clock
        from sensor_msgs.msg import CameraInfo, Image, JointState
        from std_msgs.msg import Bool
        from trajectory_msgs.msg import JointTrajectory

        self.node = rclpy.create_node("sim_test_client")
        rel = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        self.js = None
        self.status = None
        self.success = None
        self.clock = None
        self.images: dict = {}
        self.infos: dict = {}
        n = self.node
        n.create_subscription(JointState, "/joint_states", lambda m: setattr(self, "js", m), rel)
        n.create_subscription(TaskStatus, "/sim/task_status", lambda m: setattr(self, "status", m), rel)
        n.create_subscription(Bool, "/sim/success", lambda m: setattr(self, "success", m), rel)
        n.create_subscription(Clock, "/clock", lambda m: setattr(self, "clock", m), rel)
        for cam in ("front", "wrist"):
            n.create_subscription(Image, f"/camera/{cam}/image_raw", lambda m, c=cam: self.images.__setitem__(c, m),
                                  qos_profile_sensor_data)
            n.create_subscription(CameraInfo, f"/camera/{cam}/camera_info", lambda m, c=cam: self.infos.__setitem__(c, m),
                                  qos_profile_sensor_data)
        self.reset_client = n.create_client(SimReset, "/sim/reset")
        self.pubs: dict = {}
        self.JointTrajectory = JointTrajectory

    def pub(self, topic: str):
        if topic not in self.pubs:
            from rclpy.qos import QoSProfile, ReliabilityPolicy

            self.pubs[topic] = self.node.create_publisher(self.JointTrajectory, topic,
                                                         QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE))
            spin_until(self.node, lambda: self.pubs[topic].get_subscription_count() > 0, 10.0)
        return self.pubs[topic]

    def spin(self, pred, timeout: float = 10.0) -> bool:
        return spin_until(self.node, pred, timeout)

    def now(self) -> float:
        return self.js.header.stamp.sec + self.js.header.stamp.nanosec * 1e-9

    def wait_sim(self, seconds: float, timeout: float = 20.0) -> None:
        self.spin(lambda: self.js is not None, timeout)
        t0 = self.now()
        assert self.spin(lambda: self.now() - t0 >= seconds, timeout)

    def arm(self, names=PANDA) -> np.ndarray:
        idx = [list(self.js.name).index(n) for n in names]
        return np.array([self.js.position[i] for i in idx])

    def reset(self, task="PickCube", seed=0, embodiment=""):
        from blm_msgs.srv import SimReset

        r = call(self.node, self.reset_client, SimReset.Request(task=task, seed=seed, embodiment=embodiment))
        self.js = None
        self.status = None
        assert self.spin(lambda: self.status is not None and self.status.seed == seed and self.status.task == task
                         and self.status.elapsed < 0.5, 20.0)
        assert self.spin(lambda: self.js is not None, 10.0)
        return r


def traj(names, points, stamp=None):
    from builtin_interfaces.msg import Duration, Time
    from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

    m = JointTrajectory()
    m.joint_names = list(names)
    if stamp is not None:
        m.header.stamp = Time(sec=int(stamp), nanosec=int((stamp % 1) * 1e9))
    for t, q in points:
        p = JointTrajectoryPoint()
        p.positions = [float(v) for v in q]
        p.time_from_start = Duration(sec=int(t), nanosec=int(round((t % 1) * 1e9)))
        m.points.append(p)
    return m


@pytest.fixture(scope="module")
def client(sim):
    import rclpy

    domain_id()
    rclpy.init()
    c = Client()
    assert c.spin(lambda: c.js is not None and c.status is not None, 30.0), "no data from the sim node:\n" + sim.text()
    yield c
    c.node.destroy_node()
    rclpy.try_shutdown()


def test_reset_service_returns_the_instruction_and_status_follows(client):
    r = client.reset("PushCube", 7)
    assert r.success, r.message
    assert "cube" in r.instruction
    assert client.status.task == "PushCube" and client.status.embodiment == "panda" and client.status.seed == 7
    assert "obj_to_goal_xy_dist" in list(client.status.criterion_names)
    assert client.spin(lambda: client.success is not None)
    assert client.success.data is False
    from blm_msgs.srv import SimReset

    r = call(client.node, client.reset_client, SimReset.Request(task="NoSuchTask", seed=1))
    assert not r.success and "E_UNKNOWN_TASK" in r.message


def test_joint_states_carry_driver_names_and_sim_time_advances(client):
    client.reset("PickCube", 1)
    names = list(client.js.name)
    assert names[:7] == PANDA and names[7] == "panda_finger_joint1" and "panda_finger_joint2" in names
    assert len(client.js.position) == len(names) == len(client.js.velocity) == len(client.js.effort)
    assert client.spin(lambda: client.clock is not None)
    t0 = client.clock.clock.sec + client.clock.clock.nanosec * 1e-9
    assert client.spin(lambda: client.clock.clock.sec + client.clock.clock.nanosec * 1e-9 > t0 + 0.5)
    # sim time is monotonic across resets
    before = client.now()
    client.reset("PickCube", 2)
    assert client.now() >= before


def test_cameras_publish_rgb8_images_with_camera_info(client):
    assert client.spin(lambda: len(client.images) == 2 and len(client.infos) == 2, 20.0)
    for cam in ("front", "wrist"):
        img = client.images[cam]
        assert img.encoding == "rgb8" and (img.width, img.height) == (48, 40) and img.step == 3 * 48
        assert len(img.data) == 48 * 40 * 3
        assert len(set(bytes(img.data))) > 10, "the image is blank"
        info = client.infos[cam]
        assert info.width == 48 and info.k[0] > 0 and info.k[2] == pytest.approx((48 - 1) / 2)


def test_valid_trajectory_moves_the_arm_to_its_end(client):
    client.reset("PickCube", 3)
    q0 = client.arm()
    target = q0 + np.array([0.2, -0.1, 0.1, 0.15, 0.0, -0.1, 0.2])
    client.pub(PANDA_TOPIC).publish(traj(PANDA, [(0.5, q0 + 0.5 * (target - q0)), (1.0, target)]))
    client.wait_sim(1.6)
    assert np.max(np.abs(client.arm() - target)) < 0.01


@pytest.mark.parametrize(
    "case,code",
    [("unknown_joint", "E_UNKNOWN_JOINT"), ("nan", "E_NOT_FINITE"), ("beyond_limits", "E_POSITION_LIMIT"),
     ("ends_in_past", "E_ENDS_IN_PAST"), ("missing_joint", "E_JOINT_MISMATCH")],
)
def test_bad_trajectories_are_rejected_logged_and_do_not_move_the_arm(client, sim, case, code):
    client.reset("PickCube", 4)
    client.wait_sim(0.3)
    q0 = client.arm()
    names = list(PANDA)
    tgt = q0 + 0.3
    stamp = None
    if case == "unknown_joint":
        names[2] = "elbow_of_someone_else"
    elif case == "nan":
        tgt[3] = math.nan
    elif case == "beyond_limits":
        tgt[0] = 3.5  # panda_joint1 upper limit 2.8973
    elif case == "ends_in_past":
        stamp = max(client.now() - 5.0, 0.5)
    elif case == "missing_joint":
        names, tgt = names[:6], tgt[:6]
    client.pub(PANDA_TOPIC).publish(traj(names, [(0.5, tgt)], stamp=stamp))
    client.wait_sim(0.8)
    assert np.max(np.abs(client.arm() - q0)) < 2e-3, "a rejected trajectory moved the arm"
    deadline = time.monotonic() + 5.0
    while code not in sim.text() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert code in sim.text()


def test_follow_joint_trajectory_action_succeeds_and_rejects_invalid_goals(client):
    from rclpy.action import ActionClient
    from control_msgs.action import FollowJointTrajectory

    client.reset("PickCube", 5)
    ac = ActionClient(client.node, FollowJointTrajectory, "/panda_arm_controller/follow_joint_trajectory")
    assert ac.wait_for_server(timeout_sec=10.0)
    q0 = client.arm()
    goal = FollowJointTrajectory.Goal(trajectory=traj(PANDA, [(0.6, q0 + 0.1)]))
    fut = ac.send_goal_async(goal)
    assert client.spin(fut.done) and fut.result().accepted
    res = fut.result().get_result_async()
    assert client.spin(res.done, 20.0)
    assert res.result().result.error_code == FollowJointTrajectory.Result.SUCCESSFUL
    assert np.max(np.abs(client.arm() - (q0 + 0.1))) < 0.02
    bad = FollowJointTrajectory.Goal(trajectory=traj(PANDA, [(0.6, q0 + math.nan)]))
    fut = ac.send_goal_async(bad)
    assert client.spin(fut.done) and not fut.result().accepted
    ac.destroy()


def _gripper_q(client, joint="panda_finger_joint1") -> float:
    return float(client.js.position[list(client.js.name).index(joint)])


def test_gripper_is_served_on_all_three_interfaces(client):
    from rclpy.action import ActionClient
    from control_msgs.action import GripperCommand, ParallelGripperCommand

    client.reset("PickCube", 6)
    # GripperCommand at the embodiment's own name (panda: gripper_command)
    ac = ActionClient(client.node, GripperCommand, "/panda_gripper/gripper_action")
    assert ac.wait_for_server(timeout_sec=10.0)
    g = GripperCommand.Goal()
    g.command.position, g.command.max_effort = 0.01, 20.0
    fut = ac.send_goal_async(g)
    assert client.spin(fut.done) and fut.result().accepted
    res = fut.result().get_result_async()
    assert client.spin(res.done, 20.0)
    r = res.result().result
    assert r.reached_goal and abs(r.position - 0.01) < 0.01
    client.wait_sim(0.2)  # joint states travel on their own topic: take a fresh one
    assert abs(_gripper_q(client) - 0.01) < 0.005
    g.command.position = 0.5  # beyond the 0.04 m stroke: rejected
    fut = ac.send_goal_async(g)
    assert client.spin(fut.done) and not fut.result().accepted
    # ParallelGripperCommand under the same namespace
    pc = ActionClient(client.node, ParallelGripperCommand, "/panda_gripper/gripper_cmd")
    assert pc.wait_for_server(timeout_sec=10.0)
    pg = ParallelGripperCommand.Goal()
    pg.command.name, pg.command.position = ["panda_finger_joint1"], [0.03]
    fut = pc.send_goal_async(pg)
    assert client.spin(fut.done) and fut.result().accepted
    res = fut.result().get_result_async()
    assert client.spin(res.done, 20.0) and res.result().result.reached_goal
    client.wait_sim(0.2)
    assert abs(_gripper_q(client) - 0.03) < 0.005
    # a trajectory topic for the gripper joint
    client.pub("/panda_gripper/joint_trajectory").publish(traj(["panda_finger_joint1"], [(0.3, [0.02])]))
    client.wait_sim(1.0)
    assert abs(_gripper_q(client) - 0.02) < 0.005
    ac.destroy()
    pc.destroy()


def test_reset_can_switch_the_embodiment_and_its_topics(client):
    r = client.reset("PullCube", 8, "widowx_ai")
    assert r.success, r.message
    names = list(client.js.name)
    assert names[:6] == [f"joint_{i}" for i in range(6)] and "left_carriage_joint" in names
    q0 = client.arm(names[:6])
    client.pub("/arm_controller/joint_trajectory").publish(traj(names[:6], [(0.5, q0 + 0.05)]))
    client.wait_sim(1.2)
    assert np.max(np.abs(client.arm(names[:6]) - (q0 + 0.05))) < 0.01
    r = client.reset("PickCube", 0, "panda")
    assert r.success


def _set_parameter(client, name, value):
    from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
    from rcl_interfaces.srv import SetParameters

    if not hasattr(client, "param_client"):
        client.param_client = client.node.create_client(SetParameters, "/blm_sim/set_parameters")
    if isinstance(value, float):
        v = ParameterValue(type=ParameterType.PARAMETER_DOUBLE, double_value=value)
    else:
        v = ParameterValue(type=ParameterType.PARAMETER_STRING, string_value=str(value))
    return call(client.node, client.param_client,
                SetParameters.Request(parameters=[Parameter(name=name, value=v)])).results[0]


def _sim_seconds_per_wall_second(client, wall: float = 1.5) -> float:
    client.spin(lambda: client.js is not None)
    s0, w0 = client.now(), time.monotonic()
    client.spin(lambda: time.monotonic() - w0 >= wall, wall + 1.0)
    return (client.now() - s0) / (time.monotonic() - w0)


def test_the_real_time_factor_changes_at_run_time_and_nothing_else_does(client):
    r = _set_parameter(client, "real_time_factor", 1.0)
    assert r.successful, r.reason
    try:
        # pacing is an upper bound: a loaded machine may run slower, never faster (started at 3.0)
        assert _sim_seconds_per_wall_second(client) < 1.3
    finally:
        assert _set_parameter(client, "real_time_factor", 3.0).successful
    refused = _set_parameter(client, "real_time_factor", 0.0)
    assert not refused.successful and "positive values only" in refused.reason
    refused = _set_parameter(client, "task", "PushCube")
    assert not refused.successful and "fixed at start-up: task" in refused.reason


def test_gripper_interface_names_follow_the_embodiment_command():
    from blm_sim.node import gripper_names

    assert gripper_names("/panda_gripper/gripper_action", "gripper_command") == {
        "trajectory": "/panda_gripper/joint_trajectory",
        "gripper_command": "/panda_gripper/gripper_action",
        "parallel_gripper": "/panda_gripper/gripper_cmd",
    }
    n = gripper_names("/gripper_controller/gripper_cmd", "parallel_gripper")
    assert n["parallel_gripper"] == "/gripper_controller/gripper_cmd"
    assert n["gripper_command"] == "/gripper_controller/gripper_action"
    assert gripper_names("/gripper_controller/joint_trajectory", "trajectory")["trajectory"] == \
        "/gripper_controller/joint_trajectory"


def test_messages_map_to_the_core_trajectory_with_stamp_and_fields():
    from blm_sim.node import to_core_trajectory

    m = traj(["a", "b"], [(0.25, [1.0, 2.0]), (1.5, [3.0, 4.0])], stamp=12.5)
    m.points[1].velocities = [0.1, 0.2]
    t = to_core_trajectory(m)
    assert t.joint_names == ("a", "b") and t.stamp == pytest.approx(12.5)
    assert t.points[0].time_from_start == pytest.approx(0.25) and t.points[0].velocities == ()
    assert t.points[1].positions == (3.0, 4.0) and t.points[1].velocities == (0.1, 0.2)
