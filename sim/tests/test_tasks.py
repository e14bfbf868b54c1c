"""The six tasks without a robot: scenes, seeded randomization, success criteria, rendering."""

import math

import mujoco
import numpy as np
import pytest

from blm_sim.geometry import Pose, quat_from_axis_angle, quat_mul, quat_to_mat
from blm_sim.scene import SPAWN_FRAMES, SpawnFrame
from blm_sim.tasks import TASK_NAMES, TASKS, make_task
from blm_sim.world import SimConfig, Simulation

SEEDS = range(150)


@pytest.fixture(scope="module")
def sims():
    made = {t: Simulation(SimConfig(task=t)) for t in TASK_NAMES}
    yield made
    for s in made.values():
        s.close()


def free_pose(sim, name):
    p = sim.task._free_pos(sim.data, name)
    q = sim.task._free_quat(sim.data, name)
    return p, q


def yaw_of(q):
    m = quat_to_mat(q)
    return math.atan2(m[1, 0], m[0, 0])


def test_all_six_tasks_are_registered_with_instructions_and_a_source():
    assert TASK_NAMES == ("PickCube", "PushCube", "StackCube", "PullCube", "PlaceSphere", "LiftPegUpright")
    for t in TASKS.values():
        assert t.maniskill_source.startswith("mani_skill/envs/tasks/tabletop/")
        assert t.maniskill_env == t.name + "-v1"
        assert len(t.instructions) >= 3 and all(isinstance(s, str) and s for s in t.instructions)
    with pytest.raises(KeyError):
        make_task("NoSuchTask")


@pytest.mark.parametrize("task", TASK_NAMES)
def test_reset_is_deterministic_for_a_seed(sims, task):
    s = sims[task]
    a = s.reset(7)
    qa = s.data.qpos.copy()
    s.step(20)
    qa_later = s.data.qpos.copy()
    s.reset(8)
    b = s.reset(7)
    assert a == b
    np.testing.assert_array_equal(s.data.qpos, qa)
    s.step(20)
    np.testing.assert_array_equal(s.data.qpos, qa_later)
    assert s.reset(9)["poses"] != a["poses"]
    assert s.instruction in s.task.instructions


@pytest.mark.parametrize("task", TASK_NAMES)
def test_objects_lie_where_reset_says(sims, task):
    s = sims[task]
    info = s.reset(3)
    for name in s.task.free_objects:
        p, q = free_pose(s, name)
        np.testing.assert_allclose(p, info["poses"][name]["pos"])
        np.testing.assert_allclose(q, info["poses"][name]["quat"])
    for name in s.task.kinematic_objects:
        np.testing.assert_allclose(s.task._mocap_pos(s.data, name), info["poses"][name]["pos"])


def collect(sims, task, seeds=SEEDS):
    s = sims[task]
    out = []
    for seed in seeds:
        s.reset(seed)
        out.append({k: (np.array(v.pos), np.array(v.quat)) for k, v in s.poses.items()})
    return out


def test_pickcube_randomization(sims):
    eps = collect(sims, "PickCube")
    cube = np.array([e["cube"][0] for e in eps])
    goal = np.array([e["goal"][0] for e in eps])
    assert np.all(np.abs(cube[:, :2]) <= 0.1) and np.allclose(cube[:, 2], 0.02)
    assert np.all(np.abs(goal[:, :2]) <= 0.1)
    assert np.all(goal[:, 2] >= 0.02) and np.all(goal[:, 2] <= 0.32)
    assert goal[:, 2].max() > 0.25 and goal[:, 2].min() < 0.08  # the whole height range is used
    yaws = np.array([yaw_of(e["cube"][1]) for e in eps]) % (2 * math.pi)
    assert yaws.min() < 0.3 and yaws.max() > 2 * math.pi - 0.3
    for e in eps:  # yaw only: the cube lies flat
        np.testing.assert_allclose(quat_to_mat(e["cube"][1])[:, 2], [0, 0, 1], atol=1e-12)
    assert cube[:, 0].min() < -0.08 and cube[:, 0].max() > 0.08


@pytest.mark.parametrize("task,offset", [("PushCube", 0.2), ("PullCube", -0.2)])
def test_push_and_pull_goal_is_the_cube_shifted_along_x(sims, task, offset):
    for e in collect(sims, task):
        cube, q = e["cube"]
        goal = e["goal"][0]
        assert np.all(np.abs(cube[:2]) <= 0.1) and cube[2] == pytest.approx(0.02)
        np.testing.assert_allclose(q, [1, 0, 0, 0])
        np.testing.assert_allclose(goal[:2], cube[:2] + [offset, 0.0], atol=1e-12)
        assert goal[2] == pytest.approx(1e-3)


def test_stackcube_randomization_keeps_the_cubes_apart(sims):
    eps = collect(sims, "StackCube")
    for e in eps:
        a, b = e["cubeA"][0], e["cubeB"][0]
        assert np.linalg.norm(a[:2] - b[:2]) > 2 * (math.hypot(0.02, 0.02) + 0.001)
        for p in (a, b):
            assert abs(p[0]) <= 0.2 and abs(p[1]) <= 0.3 and p[2] == pytest.approx(0.02)
    ya = np.array([yaw_of(e["cubeA"][1]) for e in eps]) % (2 * math.pi)
    assert ya.max() - ya.min() > 5.0


def test_placesphere_randomization(sims):
    for e in collect(sims, "PlaceSphere"):
        sp, bn = e["sphere"][0], e["bin"][0]
        assert -0.1 <= sp[0] <= -0.05 and abs(sp[1]) <= 0.1 and sp[2] == pytest.approx(0.02)
        assert 0.0 <= bn[0] <= 0.1 and abs(bn[1]) <= 0.1 and bn[2] == pytest.approx(0.0025)


def test_liftpeg_lies_along_x_without_yaw_noise(sims):
    for e in collect(sims, "LiftPegUpright"):
        p, q = e["peg"]
        assert np.all(np.abs(p[:2]) <= 0.1) and p[2] == pytest.approx(0.025)
        np.testing.assert_allclose(q, quat_from_axis_angle((1, 0, 0), math.pi / 2), atol=1e-12)


def test_widowx_spawn_regions_follow_maniskill_widowxai_config():
    f = SPAWN_FRAMES["widowx_ai"]
    assert f == SpawnFrame(center_x=-0.25, scale=0.5, max_goal_height=0.2)
    s = Simulation(SimConfig(task="PickCube"))
    s.task.spawn = f
    for seed in SEEDS:
        s.reset(seed)
        c, g = s.poses["cube"].pos, s.poses["goal"].pos
        assert -0.3 <= c[0] <= -0.2 and abs(c[1]) <= 0.05
        assert -0.3 <= g[0] <= -0.2 and abs(g[1]) <= 0.05 and 0.02 <= g[2] <= 0.22
    s.close()


def test_object_sizes_match_tasks_md(sims):
    m = sims["PickCube"].model
    gid = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_GEOM, "cube_geom")
    np.testing.assert_allclose(m.geom_size[gid], [0.02] * 3)
    gid = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_GEOM, "goal_marker")
    assert m.geom_size[gid][0] == pytest.approx(0.025)
    assert m.geom_contype[gid] == 0 and m.geom_conaffinity[gid] == 0
    m = sims["PushCube"].model
    gid = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_GEOM, "goal_ring0")
    assert m.geom_size[gid][0] == pytest.approx(0.1) and m.geom_contype[gid] == 0
    m = sims["PlaceSphere"].model
    gid = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_GEOM, "sphere_geom")
    assert m.geom_size[gid][0] == pytest.approx(0.02)
    bin_geoms = [mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_GEOM, f"bin_part{i}") for i in range(5)]
    lo = np.min([m.geom_pos[g] - m.geom_size[g] for g in bin_geoms], axis=0)
    hi = np.max([m.geom_pos[g] + m.geom_size[g] for g in bin_geoms], axis=0)
    np.testing.assert_allclose(hi - lo, [0.05, 0.05, 0.015])  # 5 x 5 cm; 5 mm floor, walls 1 cm above it
    m = sims["LiftPegUpright"].model
    gid = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_GEOM, "peg_geom")
    np.testing.assert_allclose(2 * m.geom_size[gid], [0.24, 0.05, 0.05])


@pytest.mark.parametrize("task", TASK_NAMES)
def test_success_is_false_at_reset(sims, task):
    s = sims[task]
    for seed in range(40):
        s.reset(seed)
        ev = s.evaluate()
        assert ev["success"] is False, (seed, ev)
        assert all(isinstance(v, (bool, float)) for v in ev["values"].values())


PEG_UPRIGHT = quat_mul(quat_from_axis_angle((0, 1, 0), -math.pi / 2), quat_from_axis_angle((1, 0, 0), math.pi / 2))


def success_overrides(s):
    """Objects in a success configuration for the episode's own goals."""
    p = s.poses
    t = s.task.name
    if t == "PickCube":
        return {"cube": Pose.of(p["goal"].pos)}
    if t in ("PushCube", "PullCube"):
        g = p["goal"].pos
        return {"cube": Pose.of((g[0] + 0.03, g[1] - 0.02, 0.02))}
    if t == "StackCube":
        b = p["cubeB"]
        return {"cubeA": Pose.of((b.pos[0] + 0.01, b.pos[1], b.pos[2] + 0.04), b.quat)}
    if t == "PlaceSphere":
        b = p["bin"].pos
        return {"sphere": Pose.of((b[0], b[1], b[2] + 0.0225))}
    if t == "LiftPegUpright":
        x, y, _ = p["peg"].pos
        return {"peg": Pose.of((x, y, 0.12), PEG_UPRIGHT)}
    raise AssertionError(t)


@pytest.mark.parametrize("task", TASK_NAMES)
def test_success_is_true_in_a_success_configuration_staged_at_reset(sims, task):
    s = sims[task]
    for seed in (0, 1, 2):
        s.reset(seed)
        s.reset(seed, overrides=success_overrides(s))
        ev = s.evaluate()
        assert ev["success"] is True, (seed, ev)


@pytest.mark.parametrize("task", ["PushCube", "PullCube", "StackCube", "PlaceSphere", "LiftPegUpright"])
def test_resting_success_configurations_stay_successful_under_physics(sims, task):
    s = sims[task]
    s.reset(5)
    s.reset(5, overrides=success_overrides(s))
    s.step(100)  # 1 s
    ev = s.evaluate()
    assert ev["success"] is True, ev


def test_near_misses_fail(sims):
    s = sims["PickCube"]
    s.reset(0)
    g = np.array(s.poses["goal"].pos)
    s.reset(0, overrides={"cube": Pose.of(g + [0.026, 0, 0])})
    assert not s.evaluate()["success"]
    s = sims["PushCube"]
    s.reset(0)
    g = np.array(s.poses["goal"].pos)
    s.reset(0, overrides={"cube": Pose.of((g[0], g[1], 0.03))})  # in the region but off the table
    assert not s.evaluate()["success"]
    s = sims["StackCube"]
    s.reset(0)
    b = np.array(s.poses["cubeB"].pos)
    s.reset(0, overrides={"cubeA": Pose.of(b + [0.034, 0, 0.04])})
    assert not s.evaluate()["success"]
    s = sims["PlaceSphere"]
    s.reset(0)
    b = np.array(s.poses["bin"].pos)
    s.reset(0, overrides={"sphere": Pose.of(b + [0.006, 0, 0.0225])})
    assert not s.evaluate()["success"]
    s = sims["LiftPegUpright"]
    s.reset(0)
    x, y, _ = s.poses["peg"].pos
    tilted = quat_mul(quat_from_axis_angle((0, 1, 0), 0.1), PEG_UPRIGHT)
    s.reset(0, overrides={"peg": Pose.of((x, y, 0.12), tilted)})
    ev = s.evaluate()
    assert not ev["success"] and ev["values"]["upright_error"] == pytest.approx(0.1, abs=1e-6)


@pytest.mark.parametrize("task", TASK_NAMES)
def test_objects_stay_put_without_contact_from_a_robot(sims, task):
    s = sims[task]
    s.reset(11)
    before = {n: free_pose(s, n)[0].copy() for n in s.task.free_objects}
    s.step(100)
    for n, p in before.items():
        assert np.linalg.norm(free_pose(s, n)[0] - p) < 1e-3, n


def test_the_pickcube_goal_marker_does_not_collide(sims):
    s = sims["PickCube"]
    s.reset(0)
    g = np.array(s.poses["goal"].pos)
    s.reset(0, overrides={"cube": Pose.of(g + [0, 0, 0.06])})  # above the marker
    s.step(30)
    assert free_pose(s, "cube")[0][2] < g[2] - 0.02  # fell through it


@pytest.mark.parametrize("task", TASK_NAMES)
def test_front_camera_renders_a_non_blank_128_image(sims, task):
    s = sims[task]
    s.reset(0)
    img = s.render("front")
    assert img.shape == (128, 128, 3) and img.dtype == np.uint8
    assert img.std() > 10.0
    assert len(np.unique(img.reshape(-1, 3), axis=0)) >= 8  # table, floor/sky, objects, shading


def test_the_pickcube_goal_is_visible_to_the_front_camera(sims):
    s = sims["PickCube"]
    s.reset(0)
    img = s.render("front").astype(int)
    green = (img[..., 1] > 150) & (img[..., 0] < 90) & (img[..., 2] < 90)
    red = (img[..., 0] > 150) & (img[..., 1] < 60) & (img[..., 2] < 60)
    assert green.sum() >= 4 and red.sum() >= 4


def test_resolution_is_a_parameter():
    s = Simulation(SimConfig(task="StackCube", width=64, height=48))
    s.reset(0)
    assert s.render().shape == (48, 64, 3)
    info = s.camera_info()
    assert info["width"] == 64 and info["fy"] == pytest.approx(24.0)  # fovy pi/2
    s.close()


def test_unknown_override_names_are_refused(sims):
    with pytest.raises(KeyError):
        sims["PickCube"].reset(0, overrides={"nope": Pose.of((0, 0, 0))})
