"""The scripted expert's task logic: per task a sequence of primitives (approach, grasp, lift,
move, place, push, pull), each with a target end-effector pose, planned with
:mod:`.planning` and executed through a :class:`Robot` (the ROS client in :mod:`.client`).

No ROS here: the robot interface is injected, so the logic is the same for any transport.
Each primitive syncs the planning world from the latest observation first (joint state and
object poses), so corrections start from what the robot really did. A failed attempt rolls
back (open the gripper, retreat upwards) and the task starts again from the observed state.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable, Optional, Protocol

import numpy as np

from .planning import (
    PlanningError,
    PlanningWorld,
    TimedPath,
    cartesian_path,
    feasible_ik,
    plan_joint_path,
    rot_from_approach,
    time_parameterize,
)

__all__ = ["Robot", "Expert", "ExpertResult", "ExpertError"]

DOWN = np.array([0.0, 0.0, -1.0])
UP = -DOWN
MIN_PLACE_ABOVE = 0.03  # m of the TCP above its place goal where placing starts, at the lowest


class ExpertError(RuntimeError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


class Robot(Protocol):
    """What the expert needs from the robot (a ROS client implements it)."""

    def arm_q(self) -> np.ndarray: ...
    def gripper_q(self) -> float: ...
    def objects(self) -> dict[str, tuple[np.ndarray, np.ndarray]]: ...
    def success(self) -> bool: ...
    def sim_time(self) -> float: ...
    def execute(self, path: TimedPath) -> bool: ...
    def grip(self, position: float, effort: float) -> bool: ...
    def wait(self, seconds: float, until: Optional[Callable[[], bool]] = None) -> bool: ...


@dataclass
class ExpertResult:
    success: bool
    attempts: int
    log: list[str] = field(default_factory=list)


def _yaw_of(quat: np.ndarray) -> float:
    w, x, y, z = quat
    return math.atan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))


def _quat_mat(quat: np.ndarray) -> np.ndarray:
    w, x, y, z = quat
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])


def _heading(v: np.ndarray) -> float:
    """Direction of a horizontal vector, rad from +x."""
    return math.atan2(float(v[1]), float(v[0]))


def _rot_about(axis: np.ndarray, angle: float) -> np.ndarray:
    a = axis / np.linalg.norm(axis)
    K = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
    return np.eye(3) + math.sin(angle) * K + (1 - math.cos(angle)) * K @ K


class Expert:
    def __init__(self, world: PlanningWorld, robot: Robot, rng: np.random.Generator,
                 max_attempts: int = 3, log: Optional[Callable[[str], None]] = None) -> None:
        self.w = world
        self.r = robot
        self.rng = rng
        self.max_attempts = max_attempts
        self.emb = world.emb
        g = self.emb.gripper
        self.g_open = g.upper if g.width_at_upper >= g.width_at_lower else g.lower
        self.g_closed = g.position(0.0)
        self.home = np.array(self.emb.home)
        self.base = np.array(self.emb.base_xyz)
        self.lines: list[str] = []
        self._log = log

    # -- logging / sync ------------------------------------------------------------------------
    def log(self, s: str) -> None:
        self.lines.append(s)
        if self._log:
            self._log(s)

    def sync(self) -> np.ndarray:
        self.w.set_objects(self.r.objects())
        self.w.set_gripper(self.r.gripper_q())
        q = self.r.arm_q()
        self.w.set_arm(q)
        return q

    def obj(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        p, q = self.r.objects()[name]
        return np.asarray(p, dtype=float), np.asarray(q, dtype=float)

    def body(self, name: str) -> int:
        return self.w.object_bodies[name]

    # -- orientations --------------------------------------------------------------------------
    def tilts(self, pos: np.ndarray, far: bool = False) -> list[float]:
        """Approach tilts (rad) to try after straight down; the smaller arm needs them."""
        if self.emb.name == "widowx_ai":
            return [0.0, 0.25, 0.5, 0.75, 1.0, 1.25] if far else [0.0, 0.25, 0.5, 0.75]
        return [0.0, 0.3, 0.6] if far else [0.0, 0.3]

    def grasp_rots(self, pos: np.ndarray, opening_yaws: list[float], far: bool = False) -> list[np.ndarray]:
        radial = pos[:2] - self.base[:2]
        radial = radial / (np.linalg.norm(radial) + 1e-9)
        tilt_axis = np.array([-radial[1], radial[0], 0.0])  # horizontal, perpendicular to radial
        rots = []
        for tilt in self.tilts(pos, far):
            T = _rot_about(tilt_axis, -tilt) if tilt else np.eye(3)  # lean the approach away from the base
            for yaw in opening_yaws:
                R = rot_from_approach(DOWN, (math.cos(yaw), math.sin(yaw), 0.0))
                rots.append(T @ R)
        return rots

    # -- motion primitives ---------------------------------------------------------------------
    def _run(self, path: np.ndarray, slow: bool = False) -> None:
        tp = time_parameterize(path, self.w.vmax, self.w.amax,
                               vel_scale=0.15 if slow else 0.35, acc_scale=0.3 if slow else 0.5)
        if not self.r.execute(tp):
            raise ExpertError("E_EXECUTION", "the arm did not reach the end of the trajectory: "
                              + str(getattr(self.r, "last_error", "")))

    def move(self, pos: np.ndarray, rots: list[np.ndarray], ignore=(), what: str = "move") -> np.ndarray:
        """Planned joint-space motion to a TCP pose (IK with feasibility checks + RRT-Connect)."""
        q0 = self.sync()
        qg = feasible_ik(self.w, pos, rots, [q0, self.home], self.rng, ignore, prefer=q0)
        path = plan_joint_path(self.w, q0, qg, ignore)
        self.log(f"{what}: {len(path)} waypoints to {np.round(pos, 3).tolist()}")
        self._run(path)
        return qg

    def linear(self, pos: np.ndarray, rot: Optional[np.ndarray] = None, ignore=(), slow: bool = True,
               check: bool = True, what: str = "linear") -> None:
        """Straight TCP line (approach, lift, descend, push, pull)."""
        q0 = self.sync()
        if rot is None:
            rot = self.w.fk(q0)[1]
        path = cartesian_path(self.w, q0, pos, rot, ignore, check_collisions=check)
        self.log(f"{what}: to {np.round(pos, 3).tolist()}")
        self._run(path, slow=slow)

    def tcp(self) -> tuple[np.ndarray, np.ndarray]:
        return self.w.fk(self.sync())

    def grip(self, close: bool) -> None:
        g = self.emb.gripper
        self.r.grip(self.g_closed if close else self.g_open, g.max_effort if close else 0.0)

    def retreat(self) -> None:
        """Rollback: open the gripper, move straight up, else plan back to the home pose."""
        self.grip(False)
        p, R = self.tcp()
        if p[2] < 0.28:
            up = np.array([p[0], p[1], min(max(p[2] + 0.08, 0.15), 0.3)])
            try:
                self.linear(up, R, check=False, slow=False, what="retreat")
                return
            except (PlanningError, ExpertError) as e:
                self.log(f"retreat up failed: {e}")
        try:
            q0 = self.sync()
            path = plan_joint_path(self.w, q0, self.home)
            self.log("retreat: home")
            self._run(path)
        except (PlanningError, ExpertError) as e:
            self.log(f"retreat home failed: {e}")

    # -- composite primitives ------------------------------------------------------------------
    def grasp(self, name: str, yaws: list[float], lift: float = 0.1) -> np.ndarray:
        """approach (planned, above) -> descend -> close -> lift; returns the TCP offset to the object."""
        p, _ = self.obj(name)
        obj_body = self.body(name)
        self.grip(False)
        q_now = self.sync()
        gz = max(float(p[2]), self.w.finger_reach(q_now) + 0.005)
        target = np.array([p[0], p[1], gz])
        pre = target + np.array([0.0, 0.0, 0.1])
        # choose the grasp pose first (feasible at the object, ignoring it), then the pre-grasp
        q0 = self.sync()
        try:
            qg = feasible_ik(self.w, target, self.grasp_rots(target, yaws), [q0, self.home], self.rng,
                             ignore=(obj_body,), prefer=q0)
        except PlanningError as e:  # far out, the hand leans further (as it does to push)
            self.log(f"grasp without the far tilts infeasible: {e}")
            qg = feasible_ik(self.w, target, self.grasp_rots(target, yaws, far=True), [q0, self.home], self.rng,
                             ignore=(obj_body,), prefer=q0)
        Rg = self.w.fk(qg)[1]
        # the pre-grasp backs off along the approach; far out, a small arm reaches only a shorter one
        for back in (0.1, 0.06, 0.04):
            try:
                self.move(target - back * Rg[:, 2], [Rg], what="approach")
                break
            except PlanningError as e:
                if back == 0.04:
                    raise
                self.log(f"pre-grasp {back:.2f} m back infeasible: {e}")
        self.linear(target, Rg, ignore=(obj_body,), what="descend")
        self.grip(True)
        tcp, _ = self.tcp()
        offset = tcp - self.obj(name)[0]
        for h in (lift, 0.6 * lift, 0.35 * lift):  # as high as the arm goes straight up
            try:
                self.linear(target + np.array([0.0, 0.0, h]), Rg, ignore=(obj_body,), check=False, what="lift")
                break
            except PlanningError as e:
                self.log(f"lift by {h:.3f} m infeasible: {e}")
        else:
            raise ExpertError("E_LIFT_INFEASIBLE", "cannot lift straight up")
        lift = min(lift, float(self.tcp()[0][2] - target[2]))
        p1, _ = self.obj(name)
        if p1[2] < p[2] + 0.5 * lift:
            raise ExpertError("E_GRASP_FAILED", f"{name} did not come up (z {p1[2]:.3f})")
        return offset

    def place(self, name: str, obj_target: np.ndarray, offset: np.ndarray, above: float = 0.08) -> None:
        """move above -> descend -> release -> retreat.

        The held object must arrive as it was grasped (a cube flat), so only turns of the hand about
        the vertical are tried: first none, then the one that keeps the approach's lean pointing
        away from the base at the new place (a small arm grasps far objects leaning). A small arm
        cannot always reach ``above`` the goal that far out: lower starts are tried, down to
        MIN_PLACE_ABOVE."""
        _, R = self.tcp()
        ob = self.body(name)
        realign = _heading(obj_target[:2] - self.base[:2]) - _heading(self.obj(name)[0][:2] - self.base[:2])
        last: Optional[Exception] = None
        for h in dict.fromkeys((above, max(MIN_PLACE_ABOVE, above / 2), MIN_PLACE_ABOVE)):
            for turn in dict.fromkeys((0.0, realign)):
                Rn = _rot_about(UP, turn) @ R if turn else R
                tcp_target = obj_target + Rn @ R.T @ offset
                try:
                    self.move(tcp_target + np.array([0.0, 0.0, h]), [Rn], ignore=(ob,), what="move")
                except PlanningError as e:
                    last = e
                    continue
                self.linear(tcp_target, Rn, ignore=(ob,), check=False, what="place")
                self.grip(False)
                self.linear(tcp_target + np.array([0.0, 0.0, h]), Rn, ignore=(ob,), check=False, slow=False,
                            what="retreat")
                return
        raise ExpertError("E_GOAL_UNREACHABLE", str(last))

    def move_held(self, obj_target: np.ndarray, offset: np.ndarray, body: int, what: str) -> None:
        """Bring a held object's centre to ``obj_target``; its orientation is free, so after the
        current hand orientation, tilted ones are tried (far, high goals need them). ``offset`` is
        TCP minus object centre (world frame) at the current orientation."""
        tcp, R = self.tcp()
        radial = np.append(obj_target[:2] - self.base[:2], 0.0)
        radial /= np.linalg.norm(radial) + 1e-9
        axis = np.array([-radial[1], radial[0], 0.0])
        last: Optional[Exception] = None
        for a in (0.0, 0.3, 0.6, 0.9, 1.2, 1.5, -0.3, -0.6):  # > 0: approach leans away from the base
            Rn = _rot_about(axis, -a) @ R if a else R
            try:
                self.move(obj_target + Rn @ R.T @ offset, [Rn], ignore=(body,), what=what)
                return
            except PlanningError as e:
                last = e
        raise ExpertError("E_GOAL_UNREACHABLE", str(last))

    # -- tasks ---------------------------------------------------------------------------------
    def cube_yaws(self, quat: np.ndarray) -> list[float]:
        y = _yaw_of(quat)
        return [y + k * math.pi / 2 for k in range(4)]

    def pick_cube(self) -> None:
        _, cq = self.obj("cube")
        off = self.grasp("cube", self.cube_yaws(cq))
        goal, _ = self.obj("goal")
        self.move_held(goal, off, self.body("cube"), what="move to goal")
        for k in range(2):  # small corrections
            if self.r.wait(0.6, self.r.success):
                return
            c, _ = self.obj("cube")
            err = goal - c
            if np.linalg.norm(err) < 0.01:
                continue
            p, R = self.tcp()
            self.linear(p + err, R, ignore=(self.body("cube"),), check=False, what="correct")

    def stack_cube(self) -> None:
        _, aq = self.obj("cubeA")
        off = self.grasp("cubeA", self.cube_yaws(aq), lift=0.12)
        b, _ = self.obj("cubeB")
        self.place("cubeA", b + np.array([0.0, 0.0, 0.042]), off)

    def place_sphere(self) -> None:
        _, R = self.tcp()
        yaw_now = math.atan2(R[1, 1], R[0, 1])  # the sphere has no yaw: keep the hand's
        off = self.grasp("sphere", [yaw_now + k * math.pi / 4 for k in range(4)])
        binp, _ = self.obj("bin")
        self.place("sphere", binp + np.array([0.0, 0.0, 0.0225 + 0.006]), off, above=0.06)

    def _push_line(self, start: np.ndarray, ends: list[np.ndarray], what: str) -> None:
        """push / pull: close the gripper, go down behind the cube, slide it along the table.

        ``ends`` are TCP end points from the ideal one to the shortest that still succeeds; the
        first one with a feasible IK is used, and the hand's orientation is interpolated from the
        start's to the end's (a small arm tilts its approach as it reaches out)."""
        self.grip(True)
        q0 = self.sync()
        z = max(float(start[2]), self.w.finger_reach(q0) + 0.004)
        start = np.array([start[0], start[1], z])
        direction = ends[0] - start
        direction[2] = 0.0
        direction /= np.linalg.norm(direction)
        opening = np.array([-direction[1], direction[0], 0.0])  # fingers across the push direction
        yaw = math.atan2(opening[1], opening[0])
        cubes = tuple(self.w.object_bodies.values())
        qs = feasible_ik(self.w, start, self.grasp_rots(start, [yaw, yaw + math.pi], far=True),
                         [q0, self.home], self.rng, prefer=q0)
        R = self.w.fk(qs)[1]
        end, Re = None, None
        for e in ends:
            e = np.array([e[0], e[1], z])
            try:
                qe = feasible_ik(self.w, e, [R] + self.grasp_rots(e, [yaw, yaw + math.pi], far=True),
                                 [qs], self.rng, ignore=cubes, prefer=qs, resamples=2)
                end, Re = e, self.w.fk(qe)[1]
                break
            except PlanningError:
                continue
        if end is None:
            raise ExpertError("E_PUSH_UNREACHABLE", f"no feasible end pose for the {what}")
        self.move(start + np.array([0.0, 0.0, 0.08]), [R], what=f"{what}: approach")
        self.linear(start, R, what=f"{what}: descend")
        self.linear(end, Re, ignore=cubes, check=False, what=what)
        self.linear(end + np.array([0.0, 0.0, 0.08]), Re, check=False, slow=False, what="retreat")

    def push_cube(self) -> None:
        c, _ = self.obj("cube")
        goal, _ = self.obj("goal")
        start = np.array([c[0] - 0.02 - 0.04, c[1], 0.018])
        # TCP behind the cube by its half size + the fingers' half thickness; cube at goal - k
        ends = [np.array([goal[0] - 0.032 - k, goal[1], 0.018]) for k in (0.02, 0.045, 0.065)]
        self._push_line(start, ends, "push")

    def pull_cube(self) -> None:
        c, _ = self.obj("cube")
        goal, _ = self.obj("goal")
        start = np.array([c[0] + 0.02 + 0.035, c[1], 0.018])
        ends = [np.array([goal[0] + 0.032 + k, goal[1], 0.018]) for k in (0.02, 0.045, 0.065)]
        self._push_line(start, ends, "pull")

    def lift_peg_upright(self) -> None:
        """grasp the lying peg across its middle, lift, turn the hand by 90 degrees about the
        fingers' opening axis (the peg hangs upright), lower it onto its end, release, back off.
        Success does not depend on where the peg stands, so the turn may happen nearer the base."""
        p, q = self.obj("peg")
        axis = _quat_mat(q)[:, 0]
        yaw_axis = math.atan2(axis[1], axis[0])
        opening = yaw_axis + math.pi / 2  # fingers across the peg
        self.grasp("peg", [opening, opening + math.pi], lift=0.145)
        tcp, R = self.tcp()
        candidates = [_rot_about(R[:, 1], sgn * math.pi / 2) @ R for sgn in (1.0, -1.0)]
        radial = np.append(tcp[:2] - self.base[:2], 0.0)
        radial /= np.linalg.norm(radial) + 1e-9
        # prefer the approach pointing away from the base (a horizontal reach)
        candidates.sort(key=lambda Rr: -float(np.dot(Rr[:, 2], radial)))
        ob = self.body("peg")
        spots = [tcp[:2] - k * radial[:2] for k in (0.0, 0.08, 0.15)]
        last: Optional[Exception] = None
        done = False
        # the held peg is checked against the table and the arm while it turns
        self.w.attach("peg", self.sync())
        # any turn of the hand about the (now vertical) peg axis keeps the peg upright
        zrot = lambda a: _rot_about(np.array([0.0, 0.0, 1.0]), a)  # noqa: E731
        rots = candidates + [zrot(a) @ Rr for a in (0.5, -0.5, 1.0, -1.0, math.pi) for Rr in candidates]
        for xy in spots:
            for z in (0.2, 0.17, 0.24):
                try:
                    self.move(np.array([xy[0], xy[1], z]), rots, what="turn upright")
                    done = True
                    break
                except PlanningError as e:
                    last = e
            if done:
                break
        self.w.detach()
        if not done:
            raise ExpertError("E_TURN_INFEASIBLE", str(last))
        tcp, R = self.tcp()
        peg_c, _ = self.obj("peg")
        d = tcp - peg_c  # TCP relative to the peg centre, now that the peg hangs upright
        target_c = np.array([peg_c[0], peg_c[1], 0.12 + 0.006])
        self.linear(target_c + d, R, ignore=(ob,), check=False, what="lower")
        self.grip(False)
        for back in (target_c + d - 0.08 * R[:, 2], target_c + d - 0.04 * R[:, 2] + np.array([0.0, 0.0, 0.03])):
            try:  # back off along the approach axis, away from the standing peg
                self.linear(back, R, ignore=(ob,), check=False, slow=False, what="retreat")
                break
            except PlanningError as e:
                self.log(f"retreat infeasible: {e}")

    TASKS = {
        "PickCube": pick_cube,
        "PushCube": push_cube,
        "PullCube": pull_cube,
        "StackCube": stack_cube,
        "PlaceSphere": place_sphere,
        "LiftPegUpright": lift_peg_upright,
    }

    def run(self, task: str, wall_budget_s: float = 120.0) -> ExpertResult:
        fn = self.TASKS[task]
        t0 = time.monotonic()
        for attempt in range(1, self.max_attempts + 1):
            if time.monotonic() - t0 > wall_budget_s:
                self.log("wall budget spent")
                break
            try:
                self.w.detach()
                fn(self)
                if self.r.wait(2.0, self.r.success):
                    self.log(f"success on attempt {attempt}")
                    return ExpertResult(True, attempt, self.lines)
                self.log(f"attempt {attempt}: script done, task not successful")
            except (PlanningError, ExpertError) as e:
                self.log(f"attempt {attempt} failed: {e}")
            self.w.detach()
            if self.r.success():
                return ExpertResult(True, attempt, self.lines)
            self.retreat()
        return ExpertResult(self.r.success(), self.max_attempts, self.lines)
