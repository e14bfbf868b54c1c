"""Static and grasp checks on small MuJoCo fixtures (a box on a plane, two kinematic jaws)."""

import mujoco
import numpy as np
import pytest

from blm_sim.checks import contact_force_on, free_body_velocity, is_grasping, is_object_static, is_robot_static

# Two kinematic (mocap) jaw plates around a 4 cm box: a test fixture for the contact-force logic,
# not a robot. Jaw gap 0.038 m: each jaw presses 1 mm into the box.
JAWS = """
<mujoco>
  <option timestep="0.002" gravity="0 0 0"/>
  <worldbody>
    <geom name="floor" type="plane" size="1 1 0.1"/>
    <body name="box" pos="0 0 0.5"><freejoint/><geom name="box" type="box" size="0.02 0.02 0.02" mass="0.064"/></body>
    <body name="left" mocap="true" pos="0 {yl} 0.5"><geom name="left_pad" type="box" size="0.01 0.004 0.01"/></body>
    <body name="right" mocap="true" pos="0 {yr} 0.5"><geom name="right_pad" type="box" size="0.01 0.004 0.01"/></body>
  </worldbody>
</mujoco>
"""


def jaws(yl, yr):
    m = mujoco.MjModel.from_xml_string(JAWS.format(yl=yl, yr=yr))
    d = mujoco.MjData(m)
    mujoco.mj_forward(m, d)
    g = lambda n: mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_GEOM, n)  # noqa: E731
    box = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, "box")
    return m, d, [g("left_pad")], [g("right_pad")], box


def test_contact_force_points_from_the_other_body_onto_the_geoms():
    xml = """<mujoco><option timestep="0.002"/><worldbody><geom name="floor" type="plane" size="1 1 .1"/>
      <body name="b" pos="0 0 0.02"><freejoint/><geom name="b" type="box" size=".02 .02 .02" mass="0.064"/></body>
      </worldbody></mujoco>"""
    m = mujoco.MjModel.from_xml_string(xml)
    d = mujoco.MjData(m)
    for _ in range(500):
        mujoco.mj_step(m, d)
    f = contact_force_on(m, d, [1], 0)  # on the box, from the world body (the floor)
    np.testing.assert_allclose(f, [0, 0, 0.064 * 9.81], atol=2e-3)
    assert is_object_static(m, d, 1)


def test_object_static_thresholds():
    xml = """<mujoco><worldbody><body name="b" pos="0 0 1"><freejoint/><geom type="sphere" size=".02"/></body>
      </worldbody></mujoco>"""
    m = mujoco.MjModel.from_xml_string(xml)
    d = mujoco.MjData(m)
    mujoco.mj_forward(m, d)
    assert is_object_static(m, d, 1)
    for _ in range(10):  # falling: 0.02 s -> 0.2 m/s
        mujoco.mj_step(m, d)
    lin, ang = free_body_velocity(m, d, 1)
    assert lin == pytest.approx(9.81 * 0.02, rel=0.05) and ang == pytest.approx(0.0)
    assert not is_object_static(m, d, 1)


def test_robot_static_uses_the_largest_arm_joint_speed():
    class D:
        qvel = np.array([0.1, -0.19, 0.0, 5.0])

    assert is_robot_static(D, [0, 1, 2])  # the fourth DoF (a finger) is not an arm joint
    D.qvel = np.array([0.1, -0.21, 0.0, 0.0])
    assert not is_robot_static(D, [0, 1, 2])
    assert is_robot_static(D, [])


def test_two_jaws_squeezing_the_box_grasp_it():
    m, d, lp, rp, box = jaws(0.0235, -0.0235)
    r = is_grasping(m, d, lp, rp, lp, rp, box)
    assert r.grasped and r.force_left >= 0.5 and r.force_right >= 0.5
    assert r.angle_left_deg < 10 and r.angle_right_deg < 10


def test_one_jaw_touching_is_not_a_grasp():
    m, d, lp, rp, box = jaws(0.0235, -0.06)
    r = is_grasping(m, d, lp, rp, lp, rp, box)
    assert not r.grasped and r.force_left > 0.0 and r.force_right == 0.0


def test_jaws_pressing_from_outside_the_gripper_are_not_a_grasp():
    # the same contacts, but the pads' opening directions point into the box (jaws swapped):
    # the force on each finger points against its opening direction.
    m, d, lp, rp, box = jaws(0.0235, -0.0235)
    r = is_grasping(m, d, lp, rp, rp, lp, box)
    assert not r.grasped and r.angle_left_deg > 170
