"""Expert demonstrations (MCAP, sim/blm_sim/expert/recorder.py) as Stage II training samples.

One episode gives camera frames (10 Hz), measured joint states, and what the expert commanded: arm
trajectories (joint_trajectory_controller semantics, stamp 0 = start on receipt, so a message's log
time is its start) and gripper goals (joint units). A sample is anchored at a time t on the action
grid: its state is the measured arm joints + jaw width at t, its action chunk the commanded
reference at t + (k + 1) * dt, k < horizon (the runtime's convention: point k is due at the
observation stamp + (k + 1) dt, DESIGN decision 3), and its images the latest frames at or before
t - staleness (the brain refreshes the intent on a period, so the policy sees images older than the
state). Targets are what was commanded, not what was measured: a closing gripper stalls on the
object, and a policy that copied the measured width would never squeeze.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from blm_tools.embodiments import ARMS, Arm  # noqa: E402

ARM_BY_NAME = {a.name: a for a in ARMS}
DT = 0.05  # action step (s), ManiSkill's 20 Hz
HORIZON = 16
REFERENCE_TOPIC = "/expert/reference_trajectory"  # sim/blm_sim/expert/recorder.py
STATIC_EPS = 1e-3  # rad / m: a chunk that moves less than this everywhere is "static"


@dataclass
class Episode:
    path: Path
    embodiment: str
    task: str
    seed: int
    instruction: str
    frame_t: np.ndarray  # [F] sim s
    front: np.ndarray  # [F, H, W, 3] uint8
    wrist: np.ndarray  # [F, H, W, 3] uint8
    js_t: np.ndarray  # [M]
    js_q: np.ndarray  # [M, joints + 1] arm joints, jaw width (m)
    js_qd: np.ndarray  # [M, joints] arm joint velocities (rad/s) as the driver reports them; NaN where it reports none
    traj: list[tuple[float, np.ndarray, np.ndarray]]  # (start s, point times [P], positions [P, joints])
    grip: list[tuple[float, float]]  # (s, commanded jaw width m)

    @property
    def arm(self) -> Arm:
        return ARM_BY_NAME[self.embodiment]

    @property
    def end_t(self) -> float:
        return float(self.js_t[-1])

    def state_at(self, t: float) -> np.ndarray:
        """Measured state at t, linear between joint-state messages."""
        return np.array([np.interp(t, self.js_t, self.js_q[:, j]) for j in range(self.js_q.shape[1])])

    def velocity_at(self, t: float) -> np.ndarray:
        """Reported arm joint velocities of the latest joint-state message at or before t: what the
        runtime's policy node reads (it takes the newest message, it does not interpolate)."""
        k = max(int(np.searchsorted(self.js_t, t + 1e-9, side="right")) - 1, 0)
        return self.js_qd[k].copy()

    def arm_reference(self, ts: np.ndarray) -> np.ndarray:
        """The commanded arm position at each time: the latest trajectory, held at its end; before any
        trajectory, the measured position at the first one's start."""
        n = len(self.arm.joints)
        out = np.empty((len(ts), n))
        starts = np.array([s for s, _, _ in self.traj]) if self.traj else np.zeros(0)
        for i, t in enumerate(ts):
            k = int(np.searchsorted(starts, t, side="right")) - 1
            if k < 0:
                out[i] = self.state_at(t)[:n] if not self.traj else self.traj[0][2][0]
                continue
            s, times, pos = self.traj[k]
            rel = t - s
            out[i] = [np.interp(rel, times, pos[:, j]) for j in range(n)]
        return out

    def gripper_reference(self, ts: np.ndarray) -> np.ndarray:
        """The commanded jaw width: the latest goal; before any goal, the width measured at the start."""
        first = float(self.js_q[0, -1])
        times = np.array([s for s, _ in self.grip])
        vals = np.array([w for _, w in self.grip])
        out = np.full(len(ts), first)
        if len(times):
            k = np.searchsorted(times, ts, side="right") - 1
            out[k >= 0] = vals[k[k >= 0]]
        return out

    def action_chunk(self, t: float, horizon: int = HORIZON, dt: float = DT) -> np.ndarray:
        ts = t + dt * np.arange(1, horizon + 1)
        return np.concatenate([self.arm_reference(ts), self.gripper_reference(ts)[:, None]], axis=1)

    def frame_index(self, t: float) -> int:
        """The latest frame at or before t (the first frame if t precedes them all)."""
        return max(int(np.searchsorted(self.frame_t, t + 1e-9, side="right")) - 1, 0)


def read_episode(path: Path) -> Episode:
    from mcap.reader import make_reader
    from rosbags.highlevel import AnyReader

    with open(path, "rb") as f:
        meta = {m.name: dict(m.metadata) for m in make_reader(f).iter_metadata()}["episode"]
    arm = ARM_BY_NAME[meta["embodiment"]]
    frames: dict[str, list[tuple[float, np.ndarray]]] = {"front": [], "wrist": []}
    js_t, js_q, js_qd, grip = [], [], [], []
    traj: dict[str, list] = {}
    with AnyReader([path]) as reader:
        for conn, log_ns, raw in reader.messages():
            topic = conn.topic
            if topic.startswith("/camera/") and topic.endswith("/image_raw"):
                msg = reader.deserialize(raw, conn.msgtype)
                cam = topic.split("/")[2]
                if cam in frames and msg.encoding == "rgb8":
                    img = np.frombuffer(bytes(msg.data), np.uint8).reshape(msg.height, msg.width, 3)
                    frames[cam].append((_stamp(msg.header.stamp), img))
            elif conn.msgtype == "sensor_msgs/msg/JointState":
                msg = reader.deserialize(raw, conn.msgtype)
                names = list(msg.name)
                if not all(j in names for j in arm.joints) or arm.gripper not in names:
                    continue
                pos = np.asarray(msg.position, dtype=np.float64)
                q = [pos[names.index(j)] for j in arm.joints]
                js_t.append(_stamp(msg.header.stamp))
                js_q.append([*q, arm.width_of(pos[names.index(arm.gripper)])])
                vel = np.asarray(msg.velocity, dtype=np.float64)
                js_qd.append([vel[names.index(j)] if len(vel) == len(pos) else np.nan for j in arm.joints])
            elif conn.msgtype == "trajectory_msgs/msg/JointTrajectory":
                msg = reader.deserialize(raw, conn.msgtype)
                if list(msg.joint_names) != list(arm.joints) or not len(msg.points):
                    continue
                times = np.array([p.time_from_start.sec + 1e-9 * p.time_from_start.nanosec for p in msg.points])
                pos = np.array([list(p.positions) for p in msg.points])
                traj.setdefault(topic, []).append((log_ns * 1e-9, times, pos))
            elif topic == "/expert/gripper_command":
                msg = reader.deserialize(raw, conn.msgtype)
                grip.append((log_ns * 1e-9, float(arm.width_of(msg.position))))
    front, wrist = _pair_frames(frames["front"], frames["wrist"])
    order = np.argsort(js_t, kind="stable")
    return Episode(
        path=path,
        embodiment=meta["embodiment"],
        task=meta["task"],
        seed=int(meta["seed"]),
        instruction=meta["instruction"],
        frame_t=np.array([t for t, _ in front]),
        front=np.stack([im for _, im in front]),
        wrist=np.stack([im for _, im in wrist]),
        js_t=np.asarray(js_t)[order],
        js_q=np.asarray(js_q)[order],
        js_qd=np.asarray(js_qd, dtype=np.float64).reshape(len(js_t), len(arm.joints))[order],
        traj=sorted(_commands(traj), key=lambda x: x[0]),
        grip=sorted(grip),
    )


def _commands(traj: dict[str, list]) -> list:
    """The expert's commanded arm paths: in a perturbed episode its references (the arm executed bent
    copies of them, and the demonstration teaches the way back), else what the arm was sent."""
    if REFERENCE_TOPIC in traj:
        return traj[REFERENCE_TOPIC]
    return [x for msgs in traj.values() for x in msgs]


def _stamp(s) -> float:
    return s.sec + 1e-9 * s.nanosec


def _pair_frames(front: list, wrist: list) -> tuple[list, list]:
    """Front/wrist frames published at the same sim time (the sim renders both per camera tick)."""
    w = {round(t, 4): im for t, im in wrist}
    pairs = [(t, im, w[round(t, 4)]) for t, im in front if round(t, 4) in w]
    if not pairs:
        raise ValueError("episode has no front/wrist frame pair")
    return [(t, a) for t, a, _ in pairs], [(t, b) for t, _, b in pairs]


def anchors(ep: Episode, dt: float = DT, horizon: int = HORIZON) -> np.ndarray:
    """Anchor times on the action grid from the first frame to the episode's end, less the idle stretches.

    A stretch where the commanded chunk is static and the expert was only thinking (a planning gap)
    teaches "stand still" in a state the arm also leaves from; such anchors are dropped, except after
    the last motion (the task is done: holding still is right there).
    """
    ts = np.arange(ep.frame_t[0], ep.end_t - dt, dt)
    if not len(ts):
        return ts
    moving = np.array([_moves(ep, t, dt, horizon) for t in ts])
    last = int(np.nonzero(moving)[0][-1]) if moving.any() else -1
    keep = moving | (np.arange(len(ts)) > last)
    return ts[keep]


def _moves(ep: Episode, t: float, dt: float, horizon: int) -> bool:
    chunk = ep.action_chunk(t, horizon, dt)
    now = np.concatenate([ep.arm_reference(np.array([t]))[0], ep.gripper_reference(np.array([t]))])
    return bool(np.max(np.abs(chunk - now[None])) > STATIC_EPS)


def find_episodes(root: Path) -> list[Path]:
    """Every finished episode under root (<embodiment>/<task>/seed_<n>.mcap), in a stable order."""
    return sorted(p for p in Path(root).glob("*/*/seed_*.mcap"))
