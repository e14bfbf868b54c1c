"""joint_trajectory_controller semantics, without ROS and without MuJoCo.

What a ros2_control ``joint_trajectory_controller`` does with a ``trajectory_msgs/JointTrajectory``
received on ``<controller>/joint_trajectory`` (ros2_controllers,
``joint_trajectory_controller/src/joint_trajectory_controller.cpp``: ``validate_trajectory_msg``,
``topic_callback``, ``update``; ``src/trajectory.cpp``: ``Trajectory::sample``,
``interpolate_between_points``), reproduced so the simulator's arm behaves like a real driver:

- ``header.stamp == 0`` means "start now": the trajectory's start time is the time of its first
  sample (the controller's next update).
- A non-zero stamp whose last point ends in the past is rejected.
- ``time_from_start`` is strictly increasing.
- Interpolation per segment from what both ends carry: positions only -> linear, + velocities ->
  cubic (Hermite), + velocities and accelerations -> quintic.
- The segment before the first point starts at the state measured at the first sample
  (``set_point_before_trajectory_msg``); a controller with position and velocity state interfaces
  (our sim, like Panda's and xArm's) gives that state positions and velocities, no accelerations.
- After the last point the controller holds the last point.
- A new valid trajectory replaces the active one at once (the ROS 2 controller has no
  splicing, see "UnderstandingTrajectoryReplacement"); an invalid one is dropped and the active
  one (or the hold) goes on.
- Joints: all controller joints unless ``allow_partial_joints_goal``; unknown joints rejected;
  message order is sorted to the controller's order. Effort fields are rejected (no effort
  command interface).

Beyond the upstream checks (issue 6, item 6, and DESIGN decision 15) a point with a NaN or
infinite value, a position outside the joint's limits, or a velocity beyond its limit is
rejected with a code and a reason, and the arm does not move.

Times are float seconds on one clock (sim time in the simulator). Everything is plain Python and
NumPy, testable without MuJoCo or rclpy; the rclpy node maps messages to these types.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np

__all__ = [
    "TrajectoryPoint",
    "JointTrajectory",
    "JointLimits",
    "Verdict",
    "Setpoint",
    "TrajectoryFollower",
    "validate_trajectory",
    "interpolate",
]

# Tolerance on position limits: a target exactly at a limit is accepted, and so is float noise.
LIMIT_EPS = 1e-9


@dataclass(frozen=True)
class TrajectoryPoint:
    """One ``trajectory_msgs/JointTrajectoryPoint``; empty tuples mean "not given"."""

    positions: tuple[float, ...]
    time_from_start: float
    velocities: tuple[float, ...] = ()
    accelerations: tuple[float, ...] = ()
    effort: tuple[float, ...] = ()


@dataclass(frozen=True)
class JointTrajectory:
    """One ``trajectory_msgs/JointTrajectory``. ``stamp`` is ``header.stamp`` in seconds; 0 = now."""

    joint_names: tuple[str, ...]
    points: tuple[TrajectoryPoint, ...]
    stamp: float = 0.0


@dataclass(frozen=True)
class JointLimits:
    """Position range (rad or m) and optional velocity limit (rad/s or m/s) of one joint."""

    lower: float
    upper: float
    velocity: Optional[float] = None


@dataclass(frozen=True)
class Verdict:
    """The result of submitting a trajectory: accepted, or rejected with a code and one line."""

    ok: bool
    code: str = "OK"
    message: str = ""

    @staticmethod
    def accept() -> "Verdict":
        return Verdict(True)

    @staticmethod
    def reject(code: str, message: str) -> "Verdict":
        return Verdict(False, code, message)


@dataclass(frozen=True)
class Setpoint:
    """Desired state at one instant, in the controller's joint order."""

    positions: np.ndarray
    velocities: np.ndarray
    accelerations: np.ndarray


def _finite(values: Sequence[float]) -> bool:
    return all(math.isfinite(v) for v in values)


def validate_trajectory(
    traj: JointTrajectory,
    joint_names: Sequence[str],
    limits: Optional[Sequence[JointLimits]],
    now: float,
    allow_partial_joints_goal: bool = False,
) -> Verdict:
    """Check a trajectory the way ``validate_trajectory_msg`` does, plus finiteness and limits.

    ``limits`` is in ``joint_names`` order (None: no limit checks). Returns a Verdict; never raises.
    """
    names = list(traj.joint_names)
    dof = len(joint_names)
    if not allow_partial_joints_goal and len(names) != dof:
        return Verdict.reject(
            "E_JOINT_MISMATCH",
            f"Joints on incoming trajectory don't match the controller joints "
            f"({len(names)} given, {dof} expected).",
        )
    if not names:
        return Verdict.reject("E_EMPTY_JOINT_NAMES", "Empty joint names on incoming trajectory.")
    if len(set(names)) != len(names):
        return Verdict.reject("E_DUPLICATE_JOINT", "Incoming trajectory names a joint twice.")
    if not traj.points:
        return Verdict.reject("E_EMPTY_TRAJECTORY", "Empty trajectory received.")
    if not math.isfinite(traj.stamp):
        return Verdict.reject("E_NOT_FINITE", "Trajectory header stamp is not finite.")
    if not all(math.isfinite(p.time_from_start) for p in traj.points):
        return Verdict.reject("E_NOT_FINITE", "A point's time_from_start is not finite.")
    if traj.stamp != 0.0:
        end = traj.stamp + traj.points[-1].time_from_start
        if end < now:
            return Verdict.reject(
                "E_ENDS_IN_PAST",
                f"Received trajectory with non-zero start time ({traj.stamp:f}) that ends in the "
                f"past ({end:f} < now {now:f}).",
            )
    index = {n: i for i, n in enumerate(joint_names)}
    for n in names:
        if n not in index:
            return Verdict.reject(
                "E_UNKNOWN_JOINT", f"Incoming joint {n} doesn't match the controller's joints."
            )
    if traj.points[0].time_from_start < 0.0:
        return Verdict.reject("E_NEGATIVE_TIME", "The first point's time_from_start is negative.")
    k = len(names)
    for i, p in enumerate(traj.points):
        if i > 0 and p.time_from_start <= traj.points[i - 1].time_from_start:
            return Verdict.reject(
                "E_TIME_NOT_INCREASING",
                f"Time between points {i - 1} and {i} is not strictly increasing, it is "
                f"{traj.points[i - 1].time_from_start:f} and {p.time_from_start:f} respectively.",
            )
        if len(p.positions) != k:
            return Verdict.reject(
                "E_SIZE_MISMATCH",
                f"Mismatch between joint_names size ({k}) and positions ({len(p.positions)}) "
                f"at point #{i}.",
            )
        if p.velocities and len(p.velocities) != k:
            return Verdict.reject(
                "E_SIZE_MISMATCH",
                f"Mismatch between joint_names size ({k}) and velocities ({len(p.velocities)}) "
                f"at point #{i}.",
            )
        if p.accelerations and len(p.accelerations) != k:
            return Verdict.reject(
                "E_SIZE_MISMATCH",
                f"Mismatch between joint_names size ({k}) and accelerations "
                f"({len(p.accelerations)}) at point #{i}.",
            )
        if p.accelerations and not p.velocities:
            return Verdict.reject(
                "E_ACCELERATION_WITHOUT_VELOCITY",
                f"Point #{i} has accelerations but no velocities.",
            )
        if p.effort:
            return Verdict.reject(
                "E_EFFORT_UNSUPPORTED",
                "Trajectories with effort fields are only supported for controllers using the "
                "'effort' command interface.",
            )
        if not (_finite(p.positions) and _finite(p.velocities) and _finite(p.accelerations)):
            return Verdict.reject("E_NOT_FINITE", f"Point #{i} holds a NaN or infinite value.")
        if limits is not None:
            for j, n in enumerate(names):
                lim = limits[index[n]]
                q = p.positions[j]
                if q < lim.lower - LIMIT_EPS or q > lim.upper + LIMIT_EPS:
                    return Verdict.reject(
                        "E_POSITION_LIMIT",
                        f"Point #{i}: {n} = {q:.6g} is outside its limits "
                        f"[{lim.lower:.6g}, {lim.upper:.6g}].",
                    )
                if p.velocities and lim.velocity is not None:
                    v = p.velocities[j]
                    if abs(v) > lim.velocity + LIMIT_EPS:
                        return Verdict.reject(
                            "E_VELOCITY_LIMIT",
                            f"Point #{i}: {n} velocity {v:.6g} exceeds its limit "
                            f"{lim.velocity:.6g}.",
                        )
    return Verdict.accept()


def interpolate(
    t0: float,
    p0: np.ndarray,
    v0: Optional[np.ndarray],
    a0: Optional[np.ndarray],
    t1: float,
    p1: np.ndarray,
    v1: Optional[np.ndarray],
    a1: Optional[np.ndarray],
    t: float,
) -> Setpoint:
    """``Trajectory::interpolate_between_points``: linear, cubic or quintic from what both ends hold.

    Outside [t0, t1] the time is clamped and the interpolation falls back to linear, as upstream.
    """
    has_vel = v0 is not None and v1 is not None
    has_acc = a0 is not None and a1 is not None
    dur = t1 - t0
    s = t - t0
    if s < 0.0:
        s, has_vel, has_acc = 0.0, False, False
    if s > dur:
        s, has_vel, has_acc = dur, False, False
    n = p0.shape[0]
    if not has_vel:  # linear (also upstream's choice for accelerations without velocities)
        c1 = (p1 - p0) / dur if dur != 0.0 else np.zeros(n)
        return Setpoint(p0 + s * c1, c1.copy(), np.zeros(n))
    if not has_acc:  # cubic Hermite
        c0, c1 = p0, v0
        if dur != 0.0:
            T1, T2, T3 = dur, dur * dur, dur * dur * dur
            c2 = (-3.0 * p0 + 3.0 * p1 - 2.0 * v0 * T1 - v1 * T1) / T2
            c3 = (2.0 * p0 - 2.0 * p1 + v0 * T1 + v1 * T1) / T3
        else:
            c2 = c3 = np.zeros(n)
        pos = c0 + s * (c1 + s * (c2 + s * c3))
        vel = c1 + s * (2.0 * c2 + s * 3.0 * c3)
        acc = 2.0 * c2 + 6.0 * c3 * s
        return Setpoint(pos, vel, acc)
    # quintic
    c0, c1, c2 = p0, v0, 0.5 * a0
    if dur != 0.0:
        T1, T2 = dur, dur**2
        T3, T4, T5 = dur**3, dur**4, dur**5
        c3 = (-20.0 * p0 + 20.0 * p1 - 3.0 * a0 * T2 + a1 * T2 - 12.0 * v0 * T1 - 8.0 * v1 * T1) / (
            2.0 * T3
        )
        c4 = (30.0 * p0 - 30.0 * p1 + 3.0 * a0 * T2 - 2.0 * a1 * T2 + 16.0 * v0 * T1 + 14.0 * v1 * T1) / (
            2.0 * T4
        )
        c5 = (-12.0 * p0 + 12.0 * p1 - a0 * T2 + a1 * T2 - 6.0 * v0 * T1 - 6.0 * v1 * T1) / (2.0 * T5)
    else:
        c3 = c4 = c5 = np.zeros(n)
    pos = c0 + s * (c1 + s * (c2 + s * (c3 + s * (c4 + s * c5))))
    vel = c1 + s * (2.0 * c2 + s * (3.0 * c3 + s * (4.0 * c4 + s * 5.0 * c5)))
    acc = 2.0 * c2 + s * (6.0 * c3 + s * (12.0 * c4 + s * 20.0 * c5))
    return Setpoint(pos, vel, acc)


@dataclass
class _Active:
    """A validated trajectory in controller joint order, with its sampling state."""

    stamp: float
    times: np.ndarray  # time_from_start per point
    positions: np.ndarray  # (points, dof)
    velocities: list[Optional[np.ndarray]]
    accelerations: list[Optional[np.ndarray]]
    start: Optional[float] = None  # set at the first sample
    before_time: float = 0.0
    before_pos: Optional[np.ndarray] = None
    before_vel: Optional[np.ndarray] = None


@dataclass
class TrajectoryFollower:
    """One joint_trajectory_controller: validates, replaces, and samples trajectories.

    The simulator calls :meth:`update` at every physics step with the sim time and the measured
    joint state and writes the returned positions to the position actuators. With no trajectory
    (or after a rejection before any was accepted) the controller holds the position it was
    activated at (:meth:`hold`), like JTC's hold on activation.
    """

    joint_names: tuple[str, ...]
    limits: Optional[tuple[JointLimits, ...]] = None
    allow_partial_joints_goal: bool = False
    open_loop_control: bool = False
    _active: Optional[_Active] = field(default=None, init=False, repr=False)
    _hold: Optional[np.ndarray] = field(default=None, init=False, repr=False)
    _last: Optional[Setpoint] = field(default=None, init=False, repr=False)
    _index: dict = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        self.joint_names = tuple(self.joint_names)
        if self.limits is not None:
            self.limits = tuple(self.limits)
            if len(self.limits) != len(self.joint_names):
                raise ValueError("limits must give one entry per joint")
        self._index = {n: i for i, n in enumerate(self.joint_names)}

    @property
    def dof(self) -> int:
        return len(self.joint_names)

    def hold(self, positions: Sequence[float]) -> None:
        """Drop any active trajectory and hold these positions (activation, reset, stop)."""
        q = np.asarray(positions, dtype=float).copy()
        if q.shape != (self.dof,):
            raise ValueError(f"hold needs {self.dof} positions")
        self._active = None
        self._hold = q
        self._last = Setpoint(q.copy(), np.zeros(self.dof), np.zeros(self.dof))

    @property
    def has_trajectory(self) -> bool:
        return self._active is not None

    def submit(self, traj: JointTrajectory, now: float) -> Verdict:
        """``topic_callback``: validate and, if valid, replace the active trajectory."""
        verdict = validate_trajectory(
            traj, self.joint_names, self.limits, now, self.allow_partial_joints_goal
        )
        if not verdict.ok:
            return verdict
        self._active = self._to_local(traj)
        return verdict

    def _to_local(self, traj: JointTrajectory) -> _Active:
        """``fill_partial_goal`` + ``sort_to_local_joint_order``."""
        n_pts = len(traj.points)
        cols = [self._index[n] for n in traj.joint_names]
        base = self._last.positions if self._last is not None else np.zeros(self.dof)
        pos = np.tile(base, (n_pts, 1))
        vels: list[Optional[np.ndarray]] = []
        accs: list[Optional[np.ndarray]] = []
        for i, p in enumerate(traj.points):
            pos[i, cols] = p.positions
            if p.velocities:
                v = np.zeros(self.dof)
                v[cols] = p.velocities
                vels.append(v)
            else:
                vels.append(None)
            if p.accelerations:
                a = np.zeros(self.dof)
                a[cols] = p.accelerations
                accs.append(a)
            else:
                accs.append(None)
        times = np.array([p.time_from_start for p in traj.points], dtype=float)
        return _Active(traj.stamp, times, pos, vels, accs)

    def update(
        self,
        now: float,
        measured_positions: Sequence[float],
        measured_velocities: Optional[Sequence[float]] = None,
    ) -> Setpoint:
        """The controller's ``update``: the setpoint to command at ``now``."""
        if self._active is None:
            if self._last is None:
                self.hold(measured_positions)
            return self._last
        act = self._active
        if act.start is None:  # first sample of this trajectory
            act.start = now if act.stamp == 0.0 else act.stamp
            act.before_time = now
            if self.open_loop_control and self._last is not None:
                act.before_pos = self._last.positions.copy()
                act.before_vel = self._last.velocities.copy()
            else:
                act.before_pos = np.asarray(measured_positions, dtype=float).copy()
                act.before_vel = (
                    np.asarray(measured_velocities, dtype=float).copy()
                    if measured_velocities is not None
                    else None
                )
        sp = self._sample(act, now)
        if sp is not None:
            self._last = sp
        return self._last

    def _sample(self, act: _Active, now: float) -> Optional[Setpoint]:
        if now < act.before_time:
            return None
        first_t = act.start + act.times[0]
        if now < first_t:
            return interpolate(
                act.before_time,
                act.before_pos,
                act.before_vel,
                None,  # position + velocity state interfaces: no measured acceleration
                first_t,
                act.positions[0],
                act.velocities[0],
                act.accelerations[0],
                now,
            )
        last = len(act.times) - 1
        for i in range(last):
            t0 = act.start + act.times[i]
            t1 = act.start + act.times[i + 1]
            if t0 <= now < t1:
                return interpolate(
                    t0,
                    act.positions[i],
                    act.velocities[i],
                    act.accelerations[i],
                    t1,
                    act.positions[i + 1],
                    act.velocities[i + 1],
                    act.accelerations[i + 1],
                    now,
                )
        # past the last point: hold it
        return Setpoint(act.positions[last].copy(), np.zeros(self.dof), np.zeros(self.dof))

    def end_time(self) -> Optional[float]:
        """Absolute time of the active trajectory's last point (None before its first sample)."""
        if self._active is None or self._active.start is None:
            return None
        return self._active.start + float(self._active.times[-1])

    def done(self, now: float) -> bool:
        """True when no trajectory is active or the active one's last point time has passed."""
        end = self.end_time()
        if self._active is None:
            return True
        return end is not None and now >= end
