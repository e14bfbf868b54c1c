"""Gripper command semantics without ROS: what ``GripperCommand`` / ``ParallelGripperCommand``
servers do with a goal (ros2_controllers ``gripper_controllers`` / ``parallel_gripper_controller``).

A goal carries a target position (joint units) and a maximum effort. The position actuator is
commanded the target at once (position command interface), and the goal finishes when

- ``reached_goal``: the measured position is within ``goal_tolerance`` of the target, or
- ``stalled``: the joint has moved slower than ``stall_velocity_threshold`` for
  ``stall_timeout`` seconds without reaching the target (closing on an object),

as in ``GripperActionController::check_for_success`` (defaults goal_tolerance 0.01,
stall_velocity_threshold 0.001, stall_timeout 1.0 s). Pure Python; the rclpy node wraps it in the
action server (or a trajectory topic when the embodiment's gripper interface is ``trajectory``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional

from .trajectory import Verdict

__all__ = ["GripperGoalStatus", "GripperServo"]


@dataclass(frozen=True)
class GripperGoalStatus:
    position: float
    effort: float
    reached_goal: bool
    stalled: bool

    @property
    def finished(self) -> bool:
        return self.reached_goal or self.stalled


@dataclass
class GripperServo:
    """One gripper joint driven by a position actuator."""

    lower: float
    upper: float
    max_effort: float
    goal_tolerance: float = 0.01
    stall_velocity_threshold: float = 0.001
    stall_timeout: float = 1.0
    _target: Optional[float] = field(default=None, init=False)
    _effort: float = field(default=0.0, init=False)
    _since_moving: Optional[float] = field(default=None, init=False)

    @property
    def target(self) -> Optional[float]:
        return self._target

    @property
    def effort_limit(self) -> float:
        """The effort limit of the active goal (N), at most the gripper's ``max_effort``."""
        return self._effort

    def hold(self, position: float) -> None:
        """Reset: command this position with the full effort limit, no goal pending."""
        self._target = min(max(float(position), self.lower), self.upper)
        self._effort = self.max_effort
        self._since_moving = None

    def command(self, position: float, max_effort: float, now: float) -> Verdict:
        """Accept a goal. Out-of-range or non-finite positions are rejected, nothing moves.

        ``max_effort <= 0`` means "no limit beyond the gripper's own", as in GripperCommand.
        """
        if not (math.isfinite(position) and math.isfinite(max_effort)):
            return Verdict.reject("E_NOT_FINITE", "Gripper goal holds a NaN or infinite value.")
        if position < self.lower - 1e-9 or position > self.upper + 1e-9:
            return Verdict.reject(
                "E_POSITION_LIMIT",
                f"Gripper goal {position:.6g} is outside [{self.lower:.6g}, {self.upper:.6g}].",
            )
        self._target = float(position)
        self._effort = self.max_effort if max_effort <= 0 else min(max_effort, self.max_effort)
        self._since_moving = now
        return Verdict.accept()

    def status(self, now: float, position: float, velocity: float, effort: float = 0.0) -> GripperGoalStatus:
        """Progress of the active goal given the measured joint state."""
        target = self._target if self._target is not None else position
        reached = abs(position - target) < self.goal_tolerance
        if abs(velocity) >= self.stall_velocity_threshold or self._since_moving is None:
            self._since_moving = now
        stalled = (not reached) and (now - self._since_moving) >= self.stall_timeout
        return GripperGoalStatus(position, effort, reached, stalled)
