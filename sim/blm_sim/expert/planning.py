"""Motion planning for the scripted expert, without ROS: a planning copy of the scene, inverse
kinematics with feasibility checks, collision-free joint-space planning (OMPL RRT-Connect) and
time-parameterization within the embodiment's limits.

The planning world is the expert's own MuJoCo model of the same task and arm (built by the same
core, never stepped): the expert writes the observed joint positions and object poses into it and
asks MuJoCo for kinematics, Jacobians and contacts. Writing qpos there is the planner's business;
the simulator itself is only ever commanded through ROS.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Iterable, Optional, Sequence

os.environ.setdefault("MUJOCO_GL", "egl")

import mujoco  # noqa: E402
import numpy as np  # noqa: E402

from ..world import SimConfig, Simulation  # noqa: E402

__all__ = [
    "PlanningWorld",
    "IkResult",
    "solve_ik",
    "plan_joint_path",
    "cartesian_path",
    "TimedPath",
    "time_parameterize",
    "rot_from_approach",
    "PlanningError",
    "PLAN_CHECK_STEP",
]


class PlanningError(RuntimeError):
    """No feasible IK or path; ``code`` says which step failed."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


def rot_from_approach(approach: Sequence[float], opening: Sequence[float]) -> np.ndarray:
    """TCP rotation (columns x, y, z) with z = approach axis and y = finger opening direction."""
    z = np.asarray(approach, dtype=float)
    z = z / np.linalg.norm(z)
    y = np.asarray(opening, dtype=float)
    y = y - np.dot(y, z) * z
    y = y / np.linalg.norm(y)
    x = np.cross(y, z)
    return np.column_stack([x, y, z])


class PlanningWorld:
    """The expert's copy of the scene: FK, Jacobians, collision checks for arm configurations."""

    def __init__(self, task: str, embodiment: str) -> None:
        self.sim = Simulation(SimConfig(task=task, embodiment=embodiment, width=32, height=32))
        self.sim.reset(0)
        self.m, self.d = self.sim.model, self.sim.data
        self.robot = self.sim.robot
        self.emb = self.sim.embodiment
        assert self.robot is not None and self.emb is not None
        self.lo = np.array([j.lower for j in self.emb.joints])
        self.hi = np.array([j.upper for j in self.emb.joints])
        self.vmax = np.array([j.velocity for j in self.emb.joints])
        self.amax = np.array([j.acceleration for j in self.emb.joints])
        self.dof = len(self.lo)
        m = self.m
        name = lambda b: mujoco.mj_id2name(m, mujoco.mjtObj.mjOBJ_BODY, b) or ""  # noqa: E731
        self.robot_bodies = {b for b in range(m.nbody) if name(b).startswith("robot/")}
        # the base and first link sit on the table by construction
        self.mounted = {b for b in self.robot_bodies if name(b) in ("robot/base_link", "robot/link_1")}
        self.object_bodies = {n: mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, n) for n in self.sim.task.free_objects}
        self.finger_bodies = {int(m.geom_bodyid[g]) for g in self.robot.left_geoms + self.robot.right_geoms}
        hand = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, "robot/hand")
        root = hand if hand >= 0 else int(m.site_bodyid[self.robot.tcp_site])
        self.hand_bodies = {b for b in self.robot_bodies if self._in_subtree(b, root)}
        self.attached: Optional[tuple[str, int, int, np.ndarray, np.ndarray]] = None

    def _in_subtree(self, b: int, root: int) -> bool:
        while b > 0:
            if b == root:
                return True
            b = int(self.m.body_parentid[b])
        return False

    # -- a held object moves with the hand ---------------------------------------------------
    def attach(self, name: str, q: np.ndarray) -> None:
        """From now on ``name`` (as observed now) moves rigidly with the TCP in every check."""
        p, R = self.fk(q)
        b = self.sim.task._b
        bid, qadr, _ = b.free[name]
        op = np.array(self.d.qpos[qadr:qadr + 3])
        oR = np.zeros(9)
        mujoco.mju_quat2Mat(oR, np.array(self.d.qpos[qadr + 3:qadr + 7]))
        self.attached = (name, bid, qadr, R.T @ (op - p), R.T @ oR.reshape(3, 3))

    def detach(self) -> None:
        self.attached = None

    # -- state ---------------------------------------------------------------------------------
    def set_objects(self, poses: dict) -> None:
        """Object poses (name -> (pos, quat wxyz)) as observed."""
        b = self.sim.task._b
        for n, (pos, quat) in poses.items():
            if n in b.free:
                qadr = b.free[n][1]
                self.d.qpos[qadr:qadr + 3] = pos
                self.d.qpos[qadr + 3:qadr + 7] = quat
            elif n in b.mocap:
                self.d.mocap_pos[b.mocap[n]] = pos
                self.d.mocap_quat[b.mocap[n]] = quat

    def set_gripper(self, q: float) -> None:
        r = self.robot
        self.d.qpos[r.gripper_qpos_adr] = q
        for adr, (c0, c1) in zip(r.mimic_qpos_adr, r.mimic_coef):
            self.d.qpos[adr] = c0 + c1 * q

    def set_arm(self, q: np.ndarray) -> None:
        self.d.qpos[self.robot.arm_qpos_adr] = q
        mujoco.mj_kinematics(self.m, self.d)
        if self.attached is not None:
            _, _, qadr, rp, rR = self.attached
            p, R = self.robot.tcp_pose(self.d)
            self.d.qpos[qadr:qadr + 3] = p + R @ rp
            quat = np.zeros(4)
            mujoco.mju_mat2Quat(quat, (R @ rR).flatten())
            self.d.qpos[qadr + 3:qadr + 7] = quat
            mujoco.mj_kinematics(self.m, self.d)

    def fk(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self.set_arm(q)
        return self.robot.tcp_pose(self.d)

    def jacobian(self) -> np.ndarray:
        mujoco.mj_comPos(self.m, self.d)
        jp = np.zeros((3, self.m.nv))
        jr = np.zeros((3, self.m.nv))
        mujoco.mj_jacSite(self.m, self.d, jp, jr, self.robot.tcp_site)
        cols = self.robot.arm_dof_adr
        return np.vstack([jp[:, cols], jr[:, cols]])

    def finger_reach(self, q: np.ndarray) -> float:
        """How far the finger geoms reach beyond the TCP along the approach axis (m) at ``q``
        with the gripper as last set: the margin to keep between the TCP and the table."""
        p, R = self.fk(q)
        z = R[:, 2]
        reach = 0.0
        for g in self.robot.left_geoms + self.robot.right_geoms:
            Rg = self.d.geom_xmat[g].reshape(3, 3)
            ext = float(np.abs(Rg.T @ z) @ self.m.geom_size[g][:3]) if self.m.geom_type[g] == mujoco.mjtGeom.mjGEOM_BOX \
                else float(np.max(self.m.geom_size[g]))
            reach = max(reach, float(np.dot(self.d.geom_xpos[g] - p, z)) + ext)
        return reach

    # -- collisions ----------------------------------------------------------------------------
    def contacts(self, q: np.ndarray, ignore: Iterable[int] = (), margin: float = 0.0) -> list[tuple[int, int, float]]:
        """Colliding body pairs at ``q`` (penetration deeper than ``margin``), skipping ``ignore``."""
        self.set_arm(q)
        mujoco.mj_collision(self.m, self.d)
        ign = set(ignore)
        out = []
        for c in self.d.contact[: self.d.ncon]:
            if c.dist > -margin:
                continue
            b1, b2 = int(self.m.geom_bodyid[c.geom[0]]), int(self.m.geom_bodyid[c.geom[1]])
            if b1 in ign or b2 in ign:
                continue
            r1, r2 = b1 in self.robot_bodies, b2 in self.robot_bodies
            held = self.attached[1] if self.attached is not None else -1
            if held in (b1, b2):
                other = b2 if b1 == held else b1
                if other in self.hand_bodies:
                    continue  # the hand holds it
                out.append((b1, b2, float(c.dist)))
                continue
            if not (r1 or r2):
                continue  # object-table contacts are the world's business
            if (b1 in self.mounted and b2 == 0) or (b2 in self.mounted and b1 == 0):
                continue
            out.append((b1, b2, float(c.dist)))
        return out

    def valid(self, q: np.ndarray, ignore: Iterable[int] = ()) -> bool:
        if np.any(q < self.lo - 1e-9) or np.any(q > self.hi + 1e-9):
            return False
        return not self.contacts(q, ignore, margin=1e-3)


@dataclass(frozen=True)
class IkResult:
    q: np.ndarray
    pos_err: float
    rot_err: float


def _rot_err(R: np.ndarray, Rt: np.ndarray) -> np.ndarray:
    """World-frame rotation vector (axis * angle) that turns R into Rt; exact up to pi."""
    q = np.zeros(4)
    mujoco.mju_mat2Quat(q, (Rt @ R.T).flatten())
    if q[0] < 0:
        q = -q
    v = np.zeros(3)
    mujoco.mju_quat2Vel(v, q, 1.0)
    return v


def solve_ik(
    world: PlanningWorld,
    pos: np.ndarray,
    rot: np.ndarray,
    seed: np.ndarray,
    max_iters: int = 150,
    tol_pos: float = 1e-3,
    tol_rot: float = 1e-2,
    damping: float = 0.05,
) -> Optional[IkResult]:
    """Damped least squares on MuJoCo's Jacobian of the ``tcp`` site, clamped to the joint limits."""
    q = np.clip(np.asarray(seed, dtype=float).copy(), world.lo, world.hi)
    for _ in range(max_iters):
        p, R = world.fk(q)
        ep = pos - p
        er = _rot_err(R, rot)
        if np.linalg.norm(ep) < tol_pos and np.linalg.norm(er) < tol_rot:
            return IkResult(q, float(np.linalg.norm(ep)), float(np.linalg.norm(er)))
        J = world.jacobian()
        e = np.concatenate([ep, 0.5 * er])
        Jw = J.copy()
        Jw[3:] *= 0.5
        dq = Jw.T @ np.linalg.solve(Jw @ Jw.T + damping**2 * np.eye(6), e)
        n = np.linalg.norm(dq)
        if n > 0.3:
            dq *= 0.3 / n
        q = np.clip(q + dq, world.lo, world.hi)
    return None


def feasible_ik(
    world: PlanningWorld,
    pos: np.ndarray,
    rots: Sequence[np.ndarray],
    seeds: Sequence[np.ndarray],
    rng: np.random.Generator,
    ignore: Iterable[int] = (),
    resamples: int = 6,
    prefer: Optional[np.ndarray] = None,
) -> np.ndarray:
    """IK with feasibility checks (limits, self- and environment collision), resampling seeds.

    Tries every target rotation from every seed, then random seeds around them; returns the
    feasible solution closest to ``prefer`` (default: the first seed)."""
    ignore = tuple(ignore)
    prefer = np.asarray(prefer if prefer is not None else seeds[0], dtype=float)
    sols: list[np.ndarray] = []
    all_seeds = [np.asarray(s, dtype=float) for s in seeds]
    for k in range(resamples):
        all_seeds.append(np.clip(prefer + rng.normal(0.0, 0.4, world.dof), world.lo, world.hi))
    for i, s in enumerate(all_seeds):
        for R in rots:
            r = solve_ik(world, pos, R, s)
            if r is not None and world.valid(r.q, ignore):
                sols.append(r.q)
        if sols and i >= len(seeds) - 1:
            break
    if not sols:
        raise PlanningError("E_IK_INFEASIBLE", f"no collision-free IK solution for {np.round(pos, 3).tolist()}")
    return min(sols, key=lambda q: float(np.sum(((q - prefer) / world.vmax) ** 2)))


# Largest joint step (rad) between the states a motion check looks at. With 0.03 rad here and
# ~0.06 in OMPL, one plan in ten sank more than 1 mm into an object between two checks (the far
# links move ~1 cm per 0.01 rad).
MOTION_CHECK_STEP = 0.01
# The few segments of a finished plan are checked four times as densely again: a plan that grazes
# an edge between the planner's own checks is thrown away rather than executed.
PLAN_CHECK_STEP = 0.0025


def _segment_valid(world: PlanningWorld, a: np.ndarray, b: np.ndarray, ignore, step: float = MOTION_CHECK_STEP) -> bool:
    n = max(1, int(math.ceil(float(np.max(np.abs(b - a))) / step)))
    return all(world.valid(a + (b - a) * (i / n), ignore) for i in range(1, n + 1))


def plan_joint_path(
    world: PlanningWorld,
    q0: np.ndarray,
    q1: np.ndarray,
    ignore: Iterable[int] = (),
    time_limit: float = 2.0,
    attempts: int = 3,
) -> np.ndarray:
    """Collision-free joint path q0 -> q1: the straight line if it is free, else OMPL RRT-Connect
    (simplified). Every segment of a returned plan has passed a check four times denser than
    the planner's; a plan that fails it is discarded and planned again, up to ``attempts`` times.
    Returns waypoints (n x dof)."""
    ignore = tuple(ignore)
    q0, q1 = np.asarray(q0, dtype=float), np.asarray(q1, dtype=float)
    if not world.valid(q1, ignore):
        raise PlanningError("E_GOAL_IN_COLLISION", "the goal configuration is in collision")
    if _segment_valid(world, q0, q1, ignore):
        return np.vstack([q0, q1])
    for _ in range(attempts):
        pts = _rrt_connect(world, q0, q1, ignore, time_limit)
        if all(_segment_valid(world, a, b, ignore, PLAN_CHECK_STEP) for a, b in zip(pts[:-1], pts[1:])):
            return pts
    raise PlanningError("E_NO_PATH", f"RRT-Connect's paths failed the dense collision check {attempts} times")


def _rrt_connect(world: PlanningWorld, q0: np.ndarray, q1: np.ndarray, ignore: tuple, time_limit: float) -> np.ndarray:
    from ompl import base as ob
    from ompl import geometric as og
    from ompl import util as ou

    ou.setLogLevel(ou.LogLevel.LOG_WARN) if hasattr(ou, "LogLevel") else None
    space = ob.RealVectorStateSpace(world.dof)
    b = ob.RealVectorBounds(world.dof)
    for i in range(world.dof):
        b.setLow(i, float(world.lo[i]))
        b.setHigh(i, float(world.hi[i]))
    space.setBounds(b)
    ss = og.SimpleSetup(space)
    # the start may touch (the arm rests on what it holds); accept it as the tree's root
    start_q = q0.copy()

    def check(st) -> bool:
        q = np.array([st[i] for i in range(world.dof)])
        if np.allclose(q, start_q, atol=1e-9):
            return True
        return world.valid(q, ignore)

    ss.setStateValidityChecker(check)
    si = ss.getSpaceInformation()
    # OMPL takes the resolution as a fraction of the space's extent, an L2 distance (which bounds
    # every joint's step from above)
    si.setStateValidityCheckingResolution(MOTION_CHECK_STEP / space.getMaximumExtent())
    s, g = space.allocState(), space.allocState()
    for i in range(world.dof):
        s[i], g[i] = float(q0[i]), float(q1[i])
    ss.setStartAndGoalStates(s, g)
    ss.setPlanner(og.RRTConnect(si))
    solved = ss.solve(time_limit)
    if not solved or not ss.haveExactSolutionPath():
        raise PlanningError("E_NO_PATH", f"RRT-Connect found no path in {time_limit:.1f} s")
    ss.simplifySolution(0.5)
    path = ss.getSolutionPath()
    pts = np.array([[path.getState(k)[i] for i in range(world.dof)] for k in range(path.getStateCount())])
    pts[0], pts[-1] = q0, q1
    return pts


def cartesian_path(
    world: PlanningWorld,
    q0: np.ndarray,
    pos1: np.ndarray,
    rot1: np.ndarray,
    ignore: Iterable[int] = (),
    step: float = 0.01,
    check_collisions: bool = True,
) -> np.ndarray:
    """A straight TCP line (positions linear, rotation slerped) from FK(q0) to (pos1, rot1), by IK
    seeded along the way; fails if a joint jumps or a waypoint is infeasible."""
    p0, R0 = world.fk(q0)
    dist = float(np.linalg.norm(pos1 - p0))
    ang = float(np.linalg.norm(_rot_err(R0, rot1)))
    n = max(2, int(math.ceil(max(dist / step, ang / 0.05))) + 1)
    q0 = np.asarray(q0, dtype=float)
    qs = [q0]
    q = q0
    Rrel = R0.T @ rot1
    quat = np.zeros(4)
    mujoco.mju_mat2Quat(quat, Rrel.flatten())
    axis_angle = np.zeros(3)
    mujoco.mju_quat2Vel(axis_angle, quat, 1.0)
    for i in range(1, n):
        f = i / (n - 1)
        p = p0 + f * (pos1 - p0)
        qr = np.zeros(4)
        mujoco.mju_axisAngle2Quat(qr, axis_angle / (np.linalg.norm(axis_angle) + 1e-12), f * np.linalg.norm(axis_angle))
        Rf = np.zeros(9)
        mujoco.mju_quat2Mat(Rf, qr)
        R = R0 @ Rf.reshape(3, 3)
        r = solve_ik(world, p, R, q, tol_pos=2e-3, tol_rot=2e-2)
        if r is None:
            raise PlanningError("E_CARTESIAN_IK", f"waypoint {i}/{n - 1} has no IK solution")
        if float(np.max(np.abs(r.q - q))) > 0.35:
            raise PlanningError("E_CARTESIAN_JUMP", f"joint jump at waypoint {i}/{n - 1}")
        if check_collisions and not world.valid(r.q, ignore):
            raise PlanningError("E_CARTESIAN_COLLISION", f"waypoint {i}/{n - 1} is in collision")
        q = r.q
        qs.append(q)
    return np.array(qs)


@dataclass(frozen=True)
class TimedPath:
    times: np.ndarray  # (n,) from 0
    positions: np.ndarray  # (n, dof)
    velocities: np.ndarray  # (n, dof)

    @property
    def duration(self) -> float:
        return float(self.times[-1])


def _densify(path: np.ndarray, max_step: float) -> np.ndarray:
    out = [path[0]]
    for a, b in zip(path[:-1], path[1:]):
        n = max(1, int(math.ceil(float(np.max(np.abs(b - a))) / max_step)))
        for i in range(1, n + 1):
            out.append(a + (b - a) * (i / n))
    return np.array(out)


def time_parameterize(
    path: np.ndarray,
    vmax: np.ndarray,
    amax: np.ndarray,
    vel_scale: float = 0.4,
    acc_scale: float = 0.4,
    max_step: float = 0.04,
    min_duration: float = 0.2,
    corner_angle: float = 0.2,
) -> TimedPath:
    """Time-parameterize a piecewise-linear joint path within the scaled velocity and acceleration
    limits: the path is cut at every vertex where it turns by more than ``corner_angle`` (rad, in
    joint space normalized by the velocity limits), the arm stops there, and each piece gets a
    trapezoidal speed profile (:func:`_time_piece`)."""
    path = np.asarray(path, dtype=float)
    v = np.asarray(vmax, dtype=float)
    cuts = [0]
    for i in range(1, len(path) - 1):
        a, b = (path[i] - path[i - 1]) / v, (path[i + 1] - path[i]) / v
        na, nb = np.linalg.norm(a), np.linalg.norm(b)
        if na > 1e-9 and nb > 1e-9 and math.acos(float(np.clip(np.dot(a, b) / (na * nb), -1, 1))) > corner_angle:
            cuts.append(i)
    cuts.append(len(path) - 1)
    pieces = [_time_piece(path[i:j + 1], vmax, amax, vel_scale, acc_scale, max_step, min_duration)
              for i, j in zip(cuts[:-1], cuts[1:])]
    times, pos, vel = [pieces[0].times], [pieces[0].positions], [pieces[0].velocities]
    t_end = pieces[0].duration
    for pc in pieces[1:]:
        times.append(pc.times[1:] + t_end)
        pos.append(pc.positions[1:])
        vel.append(pc.velocities[1:])
        t_end += pc.duration
    return TimedPath(np.concatenate(times), np.vstack(pos), np.vstack(vel))


def _time_piece(
    path: np.ndarray,
    vmax: np.ndarray,
    amax: np.ndarray,
    vel_scale: float,
    acc_scale: float,
    max_step: float,
    min_duration: float,
) -> TimedPath:
    """A trapezoidal speed profile along the path's normalized length.

    The path is resampled (joint steps <= ``max_step``). Its parameter s advances by
    max_j |dq_j| / v_j per segment, so ds/dt <= 1 keeps every joint within ``vel_scale`` of its
    velocity limit; d2s/dt2 <= min_j a_j / v_j bounds the tangential accelerations. Velocities at
    the waypoints are the path tangent times ds/dt (zero at both ends), for JTC's cubic segments.
    """
    v = np.asarray(vmax, dtype=float) * vel_scale
    a = np.asarray(amax, dtype=float) * acc_scale
    q = _densify(np.asarray(path, dtype=float), max_step)
    if len(q) < 2:
        q = np.vstack([q, q])
    ds = np.max(np.abs(np.diff(q, axis=0)) / v, axis=1)
    s = np.concatenate([[0.0], np.cumsum(ds)])
    S = float(s[-1])
    acc_s = float(np.min(a / v))
    # trapezoid (or triangle) on s with peak speed 1
    t_acc = 1.0 / acc_s
    s_acc = 0.5 * acc_s * t_acc**2
    if 2 * s_acc >= S:  # triangle
        t_acc = math.sqrt(S / acc_s) if S > 0 else 0.0
        s_acc = S / 2
        v_peak = acc_s * t_acc
        T = 2 * t_acc
    else:
        v_peak = 1.0
        T = 2 * t_acc + (S - 2 * s_acc)
    scale = 1.0
    if T < min_duration:
        scale = min_duration / max(T, 1e-9)

    def time_of(si: float) -> tuple[float, float]:
        if S <= 0:
            return 0.0, 0.0
        if si <= s_acc:
            t = math.sqrt(2 * si / acc_s)
            return t, acc_s * t
        if si >= S - s_acc:
            r = max(S - si, 0.0)
            t = T - math.sqrt(2 * r / acc_s)
            return t, acc_s * (T - t)
        return t_acc + (si - s_acc) / v_peak, v_peak

    times = np.zeros(len(q))
    sdot = np.zeros(len(q))
    for i, si in enumerate(s):
        times[i], sdot[i] = time_of(float(si))
    times *= scale
    sdot /= scale
    # strictly increasing times (duplicate points from densify at zero-length segments)
    keep = np.concatenate([[True], np.diff(times) > 1e-6])
    q, s, times, sdot = q[keep], s[keep], times[keep], sdot[keep]
    if len(q) < 2:
        return TimedPath(np.array([0.0, min_duration]), np.vstack([q[0], q[0]]), np.zeros((2, q.shape[1])))
    dq_ds = np.gradient(q, s, axis=0) if len(q) > 2 else np.tile((q[-1] - q[0]) / max(s[-1] - s[0], 1e-9), (len(q), 1))
    vel = dq_ds * sdot[:, None]
    vel[0] = 0.0
    vel[-1] = 0.0
    vel = np.clip(vel, -v, v)
    return TimedPath(times, q, vel)
