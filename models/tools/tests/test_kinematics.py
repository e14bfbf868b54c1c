"""The training side's TCP forward kinematics agrees with the simulator's (MuJoCo's tcp site, built from
the same definitions) and with the runtime's (embodiments/kinematics, TypeScript): an ee_pose model's
targets are the poses the runtime's IK is then asked to reach."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "sim"))

from blm_tools.embodiments import ARMS  # noqa: E402
from blm_tools.kinematics import rotation_from6, tcp_pose9, tcp_transforms  # noqa: E402

# pose9(forwardKinematics(emb, q)) from the TypeScript runtime at q_i = 0.3 sin(i + 1)
RUNTIME = {
    "xarm6": [-0.467829, 0.072645, -0.092884, 0.850518, 0.525761, -0.013907, 0.523636, -0.848963, -0.071179],
    "widowx_ai": [-0.397716, 0.110257, 0.068791, -0.385510, -0.182354, -0.904505, -0.520088, 0.852661, 0.049766],
}


@pytest.mark.parametrize("arm", ARMS, ids=lambda a: a.name)
def test_tcp_pose_matches_the_simulators_tcp_site(arm):
    from blm_sim.expert.planning import PlanningWorld

    world = PlanningWorld("PickCube", arm.name)
    rng = np.random.default_rng(4)
    qs = np.array([[rng.uniform(lo, hi) for lo, hi in zip(arm.lower, arm.upper)] for _ in range(5)])
    batch = tcp_transforms(arm.name, qs)
    for q, t in zip(qs, batch):
        p, R = world.fk(q)
        np.testing.assert_allclose(t[:3, 3], p, atol=1e-9)
        np.testing.assert_allclose(t[:3, :3], R, atol=1e-9)


@pytest.mark.parametrize("name", sorted(RUNTIME))
def test_tcp_pose_matches_the_runtimes_forward_kinematics(name):
    n = next(len(a.joints) for a in ARMS if a.name == name)
    q = 0.3 * np.sin(np.arange(1, n + 1))
    np.testing.assert_allclose(tcp_pose9(name, q), RUNTIME[name], atol=2e-6)


def test_six_values_make_the_rotation_back_even_when_perturbed():
    t = tcp_transforms("panda", np.array(ARMS[0].home))
    p9 = tcp_pose9("panda", np.array(ARMS[0].home))
    np.testing.assert_allclose(rotation_from6(p9[3:]), t[:3, :3], atol=1e-12)
    R = rotation_from6(p9[3:] + np.array([0.05, -0.02, 0.01, 0.0, 0.03, -0.04]))
    np.testing.assert_allclose(R.T @ R, np.eye(3), atol=1e-12)
    assert np.linalg.det(R) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="expected 7"):
        tcp_transforms("panda", np.zeros(6))
