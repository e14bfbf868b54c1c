"""blm_sim: the ROS-free simulation core of blm-agent (MuJoCo scenes for the six ManiSkill v1
tabletop tasks, joint_trajectory_controller semantics, success checks).

Heavy modules import lazily: ``blm_sim.trajectory`` and ``blm_sim.gripper`` need only NumPy.
Offscreen rendering defaults to EGL (``MUJOCO_GL=egl``; set ``MUJOCO_GL=osmesa`` to override).
"""

import os

os.environ.setdefault("MUJOCO_GL", "egl")

__all__ = ["Simulation", "SimConfig"]


def __getattr__(name):  # lazy: importing blm_sim.trajectory must not import mujoco
    if name in ("Simulation", "SimConfig"):
        from . import world

        return getattr(world, name)
    raise AttributeError(name)
