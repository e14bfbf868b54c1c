"""The expert's planning core without ROS: IK, feasibility, OMPL planning, time-parameterization."""

from __future__ import annotations

import numpy as np
import pytest

from blm_sim.expert.planning import (
    PLAN_CHECK_STEP,
    PlanningError,
    PlanningWorld,
    feasible_ik,
    plan_joint_path,
    rot_from_approach,
    solve_ik,
    time_parameterize,
)


@pytest.fixture(scope="module")
def panda():
    return PlanningWorld("PickCube", "panda")


def test_ik_reaches_a_top_down_pose_within_the_joint_limits(panda):
    R = rot_from_approach([0, 0, -1], [0, 1, 0])
    target = np.array([0.05, -0.08, 0.12])
    r = solve_ik(panda, target, R, np.array(panda.emb.home))
    assert r is not None
    p, Rq = panda.fk(r.q)
    assert np.linalg.norm(p - target) < 1e-3
    assert np.allclose(Rq, R, atol=2e-2)
    assert np.all(r.q >= panda.lo) and np.all(r.q <= panda.hi)


def test_infeasible_targets_are_refused(panda):
    R = rot_from_approach([0, 0, -1], [0, 1, 0])
    rng = np.random.default_rng(0)
    with pytest.raises(PlanningError) as e:  # below the table top: every solution collides
        feasible_ik(panda, np.array([0.0, 0.0, -0.05]), [R], [np.array(panda.emb.home)], rng, resamples=2)
    assert e.value.code == "E_IK_INFEASIBLE"
    with pytest.raises(PlanningError):  # out of reach
        feasible_ik(panda, np.array([1.5, 0.0, 0.2]), [R], [np.array(panda.emb.home)], rng, resamples=2)


def test_planner_goes_around_an_obstacle_the_straight_line_hits(panda):
    """With the cube lifted into the straight joint-space line, RRT-Connect finds a detour that is
    collision-free at every state the planner promises to have checked, and nowhere between them
    sinks deeper into anything than the links can travel between two such states (~2 mm)."""
    R = rot_from_approach([0, 0, -1], [0, 1, 0])
    rng = np.random.default_rng(1)
    home = np.array(panda.emb.home)
    qa = feasible_ik(panda, np.array([0.05, -0.2, 0.1]), [R], [home], rng)
    qb = feasible_ik(panda, np.array([0.05, 0.2, 0.1]), [R], [home], rng)
    # put the cube where the TCP passes at the middle of the straight line
    mid = 0.5 * (qa + qb)
    p_mid, _ = panda.fk(mid)
    panda.set_objects({"cube": (p_mid, np.array([1.0, 0, 0, 0]))})
    try:
        assert not all(panda.valid(qa + (qb - qa) * f) for f in np.linspace(0, 1, 50))
        path = plan_joint_path(panda, qa, qb, time_limit=5.0)
        assert len(path) > 2
        for a, b in zip(path[:-1], path[1:]):
            n = int(np.ceil(np.max(np.abs(b - a)) / PLAN_CHECK_STEP))
            assert all(panda.valid(a + (b - a) * (i / n)) for i in range(n + 1))
            # between those states, grazing contacts at most
            for f in np.linspace(0, 1, 77):
                assert not panda.contacts(a + (b - a) * f, margin=3e-3)
    finally:
        panda.set_objects({"cube": (np.array([0.0, 0.0, 0.02]), np.array([1.0, 0, 0, 0]))})


def test_time_parameterization_stays_within_velocity_and_acceleration_limits(panda):
    path = np.array([panda.emb.home, np.array(panda.emb.home) + 0.8, np.array(panda.emb.home) - 0.3])
    path = np.clip(path, panda.lo, panda.hi)
    vs, as_ = 0.5, 0.5
    tp = time_parameterize(path, panda.vmax, panda.amax, vel_scale=vs, acc_scale=as_)
    assert np.all(np.diff(tp.times) > 0)
    assert np.allclose(tp.positions[0], path[0]) and np.allclose(tp.positions[-1], path[-1])
    assert np.allclose(tp.velocities[0], 0) and np.allclose(tp.velocities[-1], 0)
    assert np.all(np.abs(tp.velocities) <= panda.vmax * vs + 1e-9)
    # finite-difference velocities between samples are within the scaled limits too
    fd = np.diff(tp.positions, axis=0) / np.diff(tp.times)[:, None]
    assert np.all(np.abs(fd) <= panda.vmax * vs * 1.001)
    # tangential accelerations along the straight segments are bounded by the scaled limits
    acc = np.diff(tp.velocities, axis=0) / np.diff(tp.times)[:, None]
    assert np.max(np.abs(acc) / panda.amax) < 1.0
