"""The generated arms in the scene: binding, holding, tracking trajectories through actuators,
rejecting bad trajectories without motion, and grasp detection from finger contacts.

Robot MJCF comes from the embodiments' generator (embodiments/description/generate.ts); these
tests skip when it is not there.
"""

import math
import shutil

import mujoco
import numpy as np
import pytest

from blm_sim.embodiment import load_embodiment, repo_root
from blm_sim.geometry import Pose, mat_to_quat, quat_from_yaw
from blm_sim.robot import RobotModelError, generate_robot_mjcf
from blm_sim.trajectory import JointTrajectory, TrajectoryPoint
from blm_sim.world import SimConfig, Simulation

ARMS = ("panda", "xarm6", "xarm7", "widowx_ai")

HAVE_GENERATOR = (repo_root() / "embodiments" / "description" / "generate.ts").exists() and (
    (repo_root() / "node_modules" / ".bin" / "tsx").exists() or shutil.which("npx")
)
pytestmark = pytest.mark.skipif(not HAVE_GENERATOR, reason="the robot MJCF generator is not available")


@pytest.fixture(scope="module")
def mjcf():
    paths = {}
    for a in ARMS:
        try:
            paths[a] = generate_robot_mjcf(a)
        except RobotModelError as e:  # pragma: no cover - reported, not hidden
            pytest.fail(str(e))
    return paths


@pytest.fixture(scope="module")
def sims(mjcf):
    made = {a: Simulation(SimConfig(task="PickCube", embodiment=a, robot_mjcf=mjcf[a])) for a in ARMS}
    yield made
    for s in made.values():
        s.close()


def move(sim, delta, duration=1.0, stamp=0.0):
    q0 = sim.robot.arm_positions(sim.data)
    target = q0 + delta
    names = sim.embodiment.joint_names
    return target, JointTrajectory(names, (TrajectoryPoint(tuple(target), duration),), stamp)


@pytest.mark.parametrize("arm", ARMS)
def test_the_arm_binds_and_holds_still_after_reset(sims, arm):
    s = sims[arm]
    assert s.robot.warnings == []
    assert len(s.robot.left_pads) >= 1 and len(s.robot.right_pads) >= 1
    info = s.reset(4)
    q0 = s.robot.arm_positions(s.data)
    home = np.array(s.embodiment.home)
    assert 0 < np.abs(q0 - home).max() < 0.1  # ManiSkill's 0.02 rad initial noise
    s.step(100)
    assert np.abs(s.robot.arm_positions(s.data) - q0).max() < 1e-3
    ev = s.evaluate()
    assert ev["values"]["is_robot_static"] and not ev["values"]["is_grasped"]
    js = s.joint_state()
    assert js.names[: len(home)] == s.embodiment.joint_names
    assert js.names[len(home)] == s.embodiment.gripper.joint
    assert len(js.names) == len(js.positions) == len(js.velocities) == len(js.efforts)
    assert info["embodiment"] == arm


@pytest.mark.parametrize("arm", ARMS)
def test_front_and_wrist_cameras_render(sims, arm):
    s = sims[arm]
    s.reset(0)
    assert s.cameras == ("front", "wrist")
    for cam in s.cameras:
        img = s.render(cam)
        assert img.shape == (128, 128, 3) and img.std() > 5.0


@pytest.mark.parametrize("arm", ARMS)
def test_a_valid_trajectory_is_tracked_through_the_actuators(sims, arm):
    s = sims[arm]
    s.reset(2)
    q = s.robot.arm_positions(s.data)
    mid = np.array([(j.lower + j.upper) / 2 for j in s.embodiment.joints])
    delta = 0.15 * np.sign(mid - q + 1e-9)  # every joint moves 0.15 rad away from its nearer limit
    target, traj = move(s, delta, duration=1.0)
    q0 = s.robot.arm_positions(s.data)
    v = s.submit_arm_trajectory(traj)
    assert v.ok, v.message
    speeds = []
    errs = []
    for k in range(150):  # 1.5 s
        s.step()
        t = s.elapsed
        desired = q0 + min(t, 1.0) * delta  # linear from the state at the first sample
        errs.append(np.abs(s.robot.arm_positions(s.data) - desired).max())
        speeds.append(s.evaluate()["values"]["robot_max_joint_speed"])
    assert max(errs[:100]) < 0.05  # tracking error while moving (rad)
    assert np.abs(s.robot.arm_positions(s.data) - target).max() < 0.01  # settled at the goal
    assert max(speeds) > 0.1 and speeds[-1] < 0.2  # moved, then static


@pytest.mark.parametrize("arm", ARMS)
def test_bad_trajectories_are_rejected_and_the_arm_does_not_move(sims, arm):
    s = sims[arm]
    s.reset(3)
    s.step(10)
    q0 = s.robot.arm_positions(s.data)
    names = s.embodiment.joint_names
    lim = s.embodiment.joints[0]
    bad_q = list(q0)
    bad_q[0] = lim.upper + 0.1
    nan_q = list(q0)
    nan_q[1] = math.nan
    cases = {
        "E_POSITION_LIMIT": JointTrajectory(names, (TrajectoryPoint(tuple(bad_q), 1.0),)),
        "E_NOT_FINITE": JointTrajectory(names, (TrajectoryPoint(tuple(nan_q), 1.0),)),
        "E_UNKNOWN_JOINT": JointTrajectory((*names[:-1], "bogus"), (TrajectoryPoint(tuple(q0), 1.0),)),
        "E_ENDS_IN_PAST": JointTrajectory(names, (TrajectoryPoint(tuple(q0 + 0.1), 0.01),), stamp=s.time - 1.0),
    }
    for code, traj in cases.items():
        v = s.submit_arm_trajectory(traj)
        assert not v.ok and v.code == code, (code, v)
    s.step(50)
    assert np.abs(s.robot.arm_positions(s.data) - q0).max() < 1e-4


@pytest.mark.parametrize("arm", ["panda", "widowx_ai"])
def test_closing_on_a_cube_between_the_pads_is_a_grasp(mjcf, arm):
    s = Simulation(SimConfig(task="PickCube", embodiment=arm, robot_mjcf=mjcf[arm]))
    s.reset(0)
    p, R = s.robot.tcp_pose(s.data)
    yaw = math.atan2(R[1, 0], R[0, 0])  # align the cube's faces with the hand
    cube_at = Pose.of(p, quat_from_yaw(yaw))
    s.reset(0, overrides={"cube": cube_at})
    assert not s.evaluate()["values"]["is_grasped"]
    g = s.embodiment.gripper
    closed = g.lower if g.width_at_lower < g.width_at_upper else g.upper
    assert s.command_gripper(closed, 0.0).ok
    s.step(100)
    ev = s.evaluate()
    assert ev["values"]["is_grasped"], ev
    z_held = s.task._free_pos(s.data, "cube")[2]
    assert z_held > 0.1  # held in the air by friction, not fallen to the table
    opened = g.upper if closed == g.lower else g.lower
    s.command_gripper(opened, 0.0)
    s.step(100)
    assert not s.evaluate()["values"]["is_grasped"]
    assert s.task._free_pos(s.data, "cube")[2] < 0.03  # dropped onto the table
    s.close()


def test_widowx_uses_its_scaled_spawn_frame(sims):
    s = sims["widowx_ai"]
    for seed in range(20):
        s.reset(seed)
        x, y, _ = s.poses["cube"].pos
        assert -0.3 <= x <= -0.2 and abs(y) <= 0.05


def test_the_embodiment_reader_names_missing_fields(tmp_path):
    from blm_sim.embodiment import EmbodimentError

    p = tmp_path / "x.yaml"
    p.write_text("name: x\njoints: []\nhome: []\n")
    with pytest.raises(EmbodimentError, match="gripper"):
        load_embodiment(p)
