"""GripperCommand semantics of blm_sim.gripper, without MuJoCo or ROS."""

import math

from blm_sim.gripper import GripperServo


def servo():
    g = GripperServo(lower=0.0, upper=0.04, max_effort=70.0)
    g.hold(0.04)
    return g


def test_accepts_a_goal_in_range_and_caps_its_effort():
    g = servo()
    assert g.command(0.01, 20.0, 0.0).ok
    assert g.target == 0.01 and g.effort_limit == 20.0
    assert g.command(0.02, 500.0, 0.0).ok and g.effort_limit == 70.0
    assert g.command(0.02, 0.0, 0.0).ok and g.effort_limit == 70.0


def test_rejects_out_of_range_and_non_finite_goals_without_changing_the_target():
    g = servo()
    for pos, eff in ((0.05, 10.0), (-0.001, 10.0), (math.nan, 10.0), (0.01, math.inf)):
        v = g.command(pos, eff, 0.0)
        assert not v.ok and v.code in ("E_POSITION_LIMIT", "E_NOT_FINITE")
    assert g.target == 0.04


def test_reports_reached_goal_within_tolerance():
    g = servo()
    g.command(0.0, 10.0, 0.0)
    assert not g.status(0.1, 0.03, -0.1).finished
    s = g.status(0.5, 0.005, 0.0)
    assert s.reached_goal and s.finished


def test_reports_a_stall_when_blocked_for_the_stall_timeout():
    g = servo()
    g.command(0.0, 10.0, 0.0)
    assert not g.status(0.2, 0.02, -0.05).stalled  # still moving
    assert not g.status(0.7, 0.02, 0.0).stalled  # blocked for 0.5 s
    s = g.status(1.3, 0.02, 0.0)  # blocked for 1.1 s, 0.02 from the target
    assert s.stalled and not s.reached_goal and s.finished
