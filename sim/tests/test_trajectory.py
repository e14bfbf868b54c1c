"""joint_trajectory_controller semantics of blm_sim.trajectory, without MuJoCo or ROS."""

import math
import sys

import numpy as np
import pytest

from blm_sim.trajectory import (
    JointLimits,
    JointTrajectory,
    TrajectoryFollower,
    TrajectoryPoint,
    interpolate,
    validate_trajectory,
)

J = ("a", "b", "c")
LIM = (JointLimits(-1.0, 1.0, 2.0), JointLimits(-2.0, 2.0, 2.0), JointLimits(0.0, 3.0, 2.0))


def pt(pos, t, vel=(), acc=(), eff=()):
    return TrajectoryPoint(tuple(pos), t, tuple(vel), tuple(acc), tuple(eff))


def traj(points, names=J, stamp=0.0):
    return JointTrajectory(tuple(names), tuple(points), stamp)


def follower(**kw):
    f = TrajectoryFollower(J, LIM, **kw)
    f.hold([0.0, 0.0, 1.0])
    return f


def test_trajectory_core_imports_without_mujoco():
    import subprocess
    from pathlib import Path

    code = "import sys, blm_sim.trajectory, blm_sim.gripper; assert 'mujoco' not in sys.modules"
    sim_dir = Path(__file__).resolve().parents[1]
    subprocess.run([sys.executable, "-c", code], check=True, cwd=sim_dir)


class TestValidation:
    def v(self, t, now=10.0, **kw):
        return validate_trajectory(t, J, LIM, now, **kw)

    def test_accepts_a_well_formed_trajectory(self):
        assert self.v(traj([pt((0, 0, 1), 0.5), pt((0.1, 0, 1), 1.0)])).ok

    def test_rejects_missing_joints_unless_partial_goals_allowed(self):
        t = traj([pt((0.1, 0.2), 1.0)], names=("a", "b"))
        r = self.v(t)
        assert not r.ok and r.code == "E_JOINT_MISMATCH"
        assert self.v(t, allow_partial_joints_goal=True).ok

    def test_rejects_unknown_joints(self):
        r = self.v(traj([pt((0, 0, 1), 1.0)], names=("a", "b", "zz")))
        assert not r.ok and r.code == "E_UNKNOWN_JOINT" and "zz" in r.message

    def test_rejects_duplicate_and_empty_joint_names(self):
        assert self.v(traj([pt((0, 0, 1), 1.0)], names=("a", "a", "b"))).code == "E_DUPLICATE_JOINT"
        r = validate_trajectory(traj([pt((), 1.0)], names=()), J, LIM, 0.0, allow_partial_joints_goal=True)
        assert r.code == "E_EMPTY_JOINT_NAMES"

    def test_rejects_an_empty_trajectory(self):
        assert self.v(traj([])).code == "E_EMPTY_TRAJECTORY"

    def test_rejects_nonzero_stamp_whose_last_point_ends_in_the_past(self):
        r = self.v(traj([pt((0, 0, 1), 0.5), pt((0, 0, 1), 1.0)], stamp=8.0), now=10.0)
        assert not r.ok and r.code == "E_ENDS_IN_PAST"

    def test_accepts_nonzero_stamp_ending_in_the_future_and_stamp_zero(self):
        assert self.v(traj([pt((0, 0, 1), 0.5), pt((0, 0, 1), 3.0)], stamp=8.0), now=10.0).ok
        assert self.v(traj([pt((0, 0, 1), 0.001)], stamp=0.0), now=1e6).ok

    @pytest.mark.parametrize("times", [(1.0, 1.0), (1.0, 0.5)])
    def test_rejects_time_from_start_not_strictly_increasing(self, times):
        r = self.v(traj([pt((0, 0, 1), times[0]), pt((0, 0, 1), times[1])]))
        assert r.code == "E_TIME_NOT_INCREASING"

    def test_rejects_negative_first_time(self):
        assert self.v(traj([pt((0, 0, 1), -0.1)])).code == "E_NEGATIVE_TIME"

    def test_rejects_size_mismatches(self):
        assert self.v(traj([pt((0, 0), 1.0)])).code == "E_SIZE_MISMATCH"
        assert self.v(traj([pt((0, 0, 1), 1.0, vel=(0, 0))])).code == "E_SIZE_MISMATCH"
        assert self.v(traj([pt((0, 0, 1), 1.0, vel=(0, 0, 0), acc=(0,))])).code == "E_SIZE_MISMATCH"

    def test_rejects_accelerations_without_velocities(self):
        assert self.v(traj([pt((0, 0, 1), 1.0, acc=(0, 0, 0))])).code == "E_ACCELERATION_WITHOUT_VELOCITY"

    def test_rejects_effort_fields(self):
        assert self.v(traj([pt((0, 0, 1), 1.0, eff=(1, 1, 1))])).code == "E_EFFORT_UNSUPPORTED"

    @pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
    def test_rejects_non_finite_values(self, bad):
        assert self.v(traj([pt((0, bad, 1), 1.0)])).code == "E_NOT_FINITE"
        assert self.v(traj([pt((0, 0, 1), 1.0, vel=(0, bad, 0))])).code == "E_NOT_FINITE"
        assert self.v(traj([pt((0, 0, 1), bad)])).code == "E_NOT_FINITE"

    def test_rejects_positions_beyond_limits_and_accepts_the_limits_themselves(self):
        r = self.v(traj([pt((0, 0, 1), 0.5), pt((1.0001, 0, 1), 1.0)]))
        assert r.code == "E_POSITION_LIMIT" and "a" in r.message and "#1" in r.message
        assert self.v(traj([pt((0, 0, -0.01), 1.0)])).code == "E_POSITION_LIMIT"
        assert self.v(traj([pt((1.0, -2.0, 3.0), 1.0)])).ok

    def test_rejects_velocities_beyond_limits(self):
        assert self.v(traj([pt((0, 0, 1), 1.0, vel=(0, 2.5, 0))])).code == "E_VELOCITY_LIMIT"


class TestInterpolation:
    p0, p1 = np.array([0.0, 1.0]), np.array([1.0, -1.0])

    def test_linear_with_positions_only(self):
        sp = interpolate(0.0, self.p0, None, None, 2.0, self.p1, None, None, 0.5)
        np.testing.assert_allclose(sp.positions, self.p0 + 0.25 * (self.p1 - self.p0))
        np.testing.assert_allclose(sp.velocities, (self.p1 - self.p0) / 2.0)

    def test_cubic_with_velocities_matches_both_ends(self):
        v0, v1 = np.array([0.5, 0.0]), np.array([-0.2, 0.3])
        a = interpolate(1.0, self.p0, v0, None, 3.0, self.p1, v1, None, 1.0)
        b = interpolate(1.0, self.p0, v0, None, 3.0, self.p1, v1, None, 3.0 - 1e-12)
        np.testing.assert_allclose(a.positions, self.p0)
        np.testing.assert_allclose(a.velocities, v0)
        np.testing.assert_allclose(b.positions, self.p1, atol=1e-9)
        np.testing.assert_allclose(b.velocities, v1, atol=1e-9)

    def test_cubic_is_not_linear(self):
        z = np.zeros(2)
        mid = interpolate(0.0, self.p0, z, None, 1.0, self.p1, z, None, 0.25).positions
        lin = self.p0 + 0.25 * (self.p1 - self.p0)
        assert np.abs(mid - lin).max() > 0.05
        # zero end velocities: smoothstep 3s^2 - 2s^3
        np.testing.assert_allclose(mid, self.p0 + (3 * 0.0625 - 2 * 0.015625) * (self.p1 - self.p0))

    def test_quintic_with_accelerations_matches_position_velocity_acceleration(self):
        v0, v1 = np.array([0.5, 0.0]), np.array([-0.2, 0.3])
        a0, a1 = np.array([1.0, -1.0]), np.array([0.0, 2.0])
        s = interpolate(0.0, self.p0, v0, a0, 2.0, self.p1, v1, a1, 0.0)
        e = interpolate(0.0, self.p0, v0, a0, 2.0, self.p1, v1, a1, 2.0 - 1e-12)
        np.testing.assert_allclose([s.positions, s.velocities, s.accelerations], [self.p0, v0, a0], atol=1e-9)
        np.testing.assert_allclose([e.positions, e.velocities, e.accelerations], [self.p1, v1, a1], atol=1e-7)

    def test_quintic_derivatives_are_consistent(self):
        v0, v1 = np.array([0.5, 0.0]), np.array([-0.2, 0.3])
        a0, a1 = np.array([1.0, -1.0]), np.array([0.0, 2.0])
        f = lambda t: interpolate(0.0, self.p0, v0, a0, 2.0, self.p1, v1, a1, t)  # noqa: E731
        h = 1e-6
        for t in (0.3, 1.0, 1.7):
            np.testing.assert_allclose((f(t + h).positions - f(t - h).positions) / (2 * h), f(t).velocities, atol=1e-5)
            np.testing.assert_allclose((f(t + h).velocities - f(t - h).velocities) / (2 * h), f(t).accelerations, atol=1e-4)

    def test_outside_the_segment_clamps_to_the_ends(self):
        sp = interpolate(0.0, self.p0, None, None, 1.0, self.p1, None, None, 5.0)
        np.testing.assert_allclose(sp.positions, self.p1)


class TestFollower:
    def test_holds_its_activation_position_without_a_trajectory(self):
        f = follower()
        for t in (0.0, 1.0, 5.0):
            np.testing.assert_allclose(f.update(t, [0.3, 0.3, 0.3]).positions, [0.0, 0.0, 1.0])

    def test_stamp_zero_starts_at_the_first_sample_and_interpolates_from_the_measured_state(self):
        f = follower()
        assert f.submit(traj([pt((0.5, 0.0, 1.0), 1.0)]), now=3.0).ok
        # first sample at t = 4.0 (a second after receipt): that is the start
        np.testing.assert_allclose(f.update(4.0, [0.1, 0.0, 1.0]).positions, [0.1, 0.0, 1.0])
        np.testing.assert_allclose(f.update(4.5, [9, 9, 9]).positions, [0.3, 0.0, 1.0])
        np.testing.assert_allclose(f.update(5.0, [9, 9, 9]).positions, [0.5, 0.0, 1.0])
        assert f.end_time() == pytest.approx(5.0) and f.done(5.0) and not f.done(4.9)

    def test_holds_the_last_point_after_the_end(self):
        f = follower()
        f.submit(traj([pt((0.2, 0.1, 1.0), 0.5), pt((0.4, 0.2, 2.0), 1.0)]), 0.0)
        f.update(0.0, [0, 0, 1])
        for t in (1.0, 2.0, 100.0):
            sp = f.update(t, [0, 0, 0])
            np.testing.assert_allclose(sp.positions, [0.4, 0.2, 2.0])
            np.testing.assert_allclose(sp.velocities, 0.0)

    def test_linear_between_points(self):
        f = follower()
        f.submit(traj([pt((0.0, 0.0, 1.0), 0.0), pt((1.0, -1.0, 2.0), 2.0)]), 0.0)
        f.update(0.0, [0, 0, 1])
        np.testing.assert_allclose(f.update(0.5, [0, 0, 1]).positions, [0.25, -0.25, 1.25])

    def test_cubic_when_points_carry_velocities(self):
        f = follower()
        z = (0.0, 0.0, 0.0)
        f.submit(traj([pt((0.0, 0.0, 1.0), 0.0, vel=z), pt((1.0, 0.0, 1.0), 1.0, vel=z)]), 0.0)
        f.update(0.0, [0, 0, 1], [0, 0, 0])
        sp = f.update(0.25, [0, 0, 1], [0, 0, 0])
        assert sp.positions[0] == pytest.approx(3 * 0.25**2 - 2 * 0.25**3)

    def test_quintic_when_points_carry_accelerations(self):
        f = follower()
        z = (0.0, 0.0, 0.0)
        f.submit(traj([pt((0.0, 0.0, 1.0), 0.0, z, z), pt((1.0, 0.0, 1.0), 1.0, z, z)]), 0.0)
        f.update(0.0, [0, 0, 1], [0, 0, 0])
        s = 0.25
        assert f.update(s, [0, 0, 1]).positions[0] == pytest.approx(10 * s**3 - 15 * s**4 + 6 * s**5)

    def test_a_new_trajectory_replaces_the_active_one(self):
        f = follower()
        f.submit(traj([pt((1.0, 0.0, 1.0), 1.0)]), 0.0)
        f.update(0.0, [0, 0, 1])
        f.update(0.5, [0.5, 0, 1])
        assert f.submit(traj([pt((-1.0, 0.0, 1.0), 1.0)]), 0.5).ok
        # starts from the state measured at its first sample, heads to the new goal
        np.testing.assert_allclose(f.update(0.5, [0.5, 0.0, 1.0]).positions, [0.5, 0.0, 1.0])
        np.testing.assert_allclose(f.update(1.0, [0, 0, 1]).positions, [-0.25, 0.0, 1.0])
        np.testing.assert_allclose(f.update(2.0, [0, 0, 1]).positions, [-1.0, 0.0, 1.0])

    def test_a_rejected_trajectory_changes_nothing(self):
        f = follower()
        f.submit(traj([pt((0.5, 0.0, 1.0), 1.0)]), 0.0)
        f.update(0.0, [0, 0, 1])
        before = f.update(0.5, [0, 0, 1]).positions.copy()
        for bad in (
            traj([pt((math.nan, 0, 1), 1.0)]),
            traj([pt((5.0, 0, 1), 1.0)]),
            traj([pt((0, 0, 1), 1.0)], names=("a", "b", "x")),
            traj([pt((0, 0, 1), 0.1)], stamp=0.2),
        ):
            assert not f.submit(bad, 0.5).ok
        np.testing.assert_allclose(f.update(0.5, [0, 0, 1]).positions, before)
        np.testing.assert_allclose(f.update(1.0, [0, 0, 1]).positions, [0.5, 0, 1])

    def test_a_rejected_first_trajectory_keeps_holding(self):
        f = follower()
        assert not f.submit(traj([pt((0, 0, 9.0), 1.0)]), 0.0).ok
        np.testing.assert_allclose(f.update(1.0, [0, 0, 0]).positions, [0.0, 0.0, 1.0])
        assert not f.has_trajectory

    def test_message_joint_order_is_sorted_to_the_controller_order(self):
        f = follower()
        f.submit(traj([pt((3.0, 0.2, 0.1), 1.0)], names=("c", "b", "a")), 0.0)
        f.update(0.0, [0, 0, 1])
        np.testing.assert_allclose(f.update(1.0, [0, 0, 1]).positions, [0.1, 0.2, 3.0])

    def test_partial_goals_keep_the_other_joints_at_their_command(self):
        f = follower(allow_partial_joints_goal=True)
        assert f.submit(traj([pt((0.7,), 1.0)], names=("b",)), 0.0).ok
        f.update(0.0, [0, 0, 1])
        np.testing.assert_allclose(f.update(1.0, [0, 0, 1]).positions, [0.0, 0.7, 1.0])

    def test_future_stamp_interpolates_to_the_first_point_at_stamp_plus_time(self):
        f = follower()
        assert f.submit(traj([pt((1.0, 0.0, 1.0), 0.0)], stamp=12.0), now=10.0).ok
        np.testing.assert_allclose(f.update(10.0, [0, 0, 1]).positions, [0, 0, 1])
        np.testing.assert_allclose(f.update(11.0, [0, 0, 1]).positions, [0.5, 0, 1])
        np.testing.assert_allclose(f.update(12.0, [0, 0, 1]).positions, [1.0, 0, 1])

    def test_open_loop_control_starts_from_the_last_command(self):
        f = follower(open_loop_control=True)
        f.submit(traj([pt((1.0, 0.0, 1.0), 1.0)]), 0.0)
        np.testing.assert_allclose(f.update(0.0, [0.9, 0.9, 0.9]).positions, [0.0, 0.0, 1.0])

    def test_velocities_sampled_match_the_position_slope(self):
        f = follower()
        z = (0.0, 0.0, 0.0)
        f.submit(traj([pt((0.0, 0.0, 1.0), 0.0, vel=z), pt((0.8, -1.0, 2.0), 1.2, vel=(0.1, 0, 0)),
                       pt((0.0, 0.0, 1.0), 2.0, vel=z)]), 0.0)
        f.update(0.0, [0, 0, 1], [0, 0, 0])
        ts = np.arange(0.0, 2.0, 0.001)
        ps = np.array([f.update(t, [0, 0, 1]).positions for t in ts])
        vs = np.array([f.update(t, [0, 0, 1]).velocities for t in ts])
        np.testing.assert_allclose(np.gradient(ps, ts, axis=0)[5:-5], vs[5:-5], atol=2e-2)
        # continuous through the middle point
        assert np.abs(np.diff(ps, axis=0)).max() < 0.01

    def test_hold_needs_one_value_per_joint(self):
        with pytest.raises(ValueError):
            TrajectoryFollower(J, LIM).hold([0.0])
