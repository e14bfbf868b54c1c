"""Stage I data: embodied question-answer pairs about simulator scenes, for all four arms x six tasks.

Two sources of scenes, each a pair of camera images (``front``, ``wrist``; 128 x 128 rgb8, exactly
what ``sim/blm_sim/node.py`` publishes: ``Simulation.render``) with its ground truth:

- **sim scenes**: the world reset to (task, seed), the arm placed at reset (the only time joint
  positions may be written, DESIGN decision 15) either at a random configuration near its home
  pose or, by inverse kinematics, hovering near one of the task's objects, with a random gripper
  opening. Labels: object poses, TCP position, jaw width, and for each camera the object class
  (``SEG_CLASSES``: arm, finger, the task's objects) of every pixel (MuJoCo's segmentation render
  of the same view), from which ``token_labels`` tells what each visual token's image region shows
  at whatever token grid the backbone's pixel budget gives (Stage I's auxiliary loss).
- **demo frames**: frames of the expert's successful demonstrations
  (``out/train/demos/<embodiment>/<task>/seed_<n>.mcap``, ``sim/blm_sim/expert/recorder.py``):
  mid-task images (the arm near or holding objects) with progress labels from the episode's time,
  ``/sim/task_status`` (success, grasp flags) and ``/joint_states`` (jaw width). Works with any
  subset of episodes, including none.

Questions (short canonical answers, ``QTYPES``): object colours, object positions (left / center /
right x near / middle / far in the robot's frame, scaled to the arm's spawn region; the gripper's
height; PickCube's goal height), spatial relations between objects and between the gripper and an
object, which task the scene is set up for, what an instruction asks for (also the bare
instruction as the prompt: the Stage II prompt), which robot it is, whether the gripper is open,
and for demo frames the task's progress, success and whether the object is held.

Everything is deterministic from the seeds. Train and held-out scenes use disjoint seeds (sim:
``TRAIN_SEED0 + i`` and ``EVAL_SEED0 + i``; demos: held out when ``seed % 5 == 4``). Generated
blocks are cached under ``out/train/stage1/data`` (one npz per (arm, task, split) and per demo
episode), so reruns only read them.

    cd models/tools && ../../.ros/venv/bin/python -m blm_tiny.qa --train-per-pair 120 --eval-per-pair 12
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional, Sequence

import numpy as np

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO / "sim"))
os.environ.setdefault("MUJOCO_GL", "egl")

ARMS = ("panda", "xarm6", "xarm7", "widowx_ai")
TASKS = ("PickCube", "PushCube", "StackCube", "PullCube", "PlaceSphere", "LiftPegUpright")
ROBOT_ANSWER = {"panda": "panda", "xarm6": "xarm6", "xarm7": "xarm7", "widowx_ai": "widowx ai"}
QTYPES = (
    "colour", "position", "height", "relation", "task", "instruction", "robot", "gripper",
    "progress", "success", "holding",
)
VERSION = 2  # bump when labels or templates change (invalidates the cache)
# What each visual token shows (sim scenes only): classes present in the image region of each merged
# token (a grid x grid split of the image: 5 x 5 at the default pixel budget, backbone.tokens_per_side).
SEG_CLASSES = ("arm", "finger", "red cube", "blue cube", "green cube", "green target", "target",
               "blue ball", "bin", "peg")
SEG_MIN_PIXELS = 2
SIM_CACHE_VERSION = 3  # bump when the stored form of sim scenes changes (3: per-pixel class maps)
TRAIN_SEED0 = 100_000
EVAL_SEED0 = 200_000
SIZE = 128
DEFAULT_DATA = REPO / "out" / "train" / "stage1" / "data"
DEFAULT_DEMOS = REPO / "out" / "train" / "demos"


@dataclass(frozen=True)
class Obj:
    key: str  # body name in the task
    name: str  # full name ("red cube")
    noun: str  # generic noun ("cube"); "" when ambiguous in the task
    colour: str
    grasp_flag: Optional[str] = None  # task_status criterion telling it is grasped
    seg: str = ""  # its SEG_CLASSES entry (default: name)

    @property
    def seg_class(self) -> int:
        return SEG_CLASSES.index(self.seg or self.name)


OBJECTS: dict[str, tuple[Obj, ...]] = {
    "PickCube": (Obj("cube", "red cube", "cube", "red", "is_grasped"), Obj("goal", "green target", "target", "green")),
    "PushCube": (Obj("cube", "blue cube", "cube", "blue"), Obj("goal", "target", "target", "red and white")),
    "PullCube": (Obj("cube", "blue cube", "cube", "blue"), Obj("goal", "target", "target", "red and white")),
    "StackCube": (Obj("cubeA", "red cube", "", "red", "is_cubeA_grasped"), Obj("cubeB", "green cube", "", "green")),
    "PlaceSphere": (Obj("sphere", "blue ball", "ball", "blue", "is_obj_grasped"), Obj("bin", "bin", "bin", "gray")),
    "LiftPegUpright": (Obj("peg", "peg", "peg", "red and blue"),),
}

# A few phrasings per question; the answer vocabulary is small and fixed.
T_COLOUR = ("what colour is the {o}?", "what is the colour of the {o}?", "which colour does the {o} have?")
T_COLOUR_AT = ("what colour is the cube on the {side}?", "which cube is on the {side}, red or green?")
T_COLOUR_DEPTH = ("what colour is the cube {rel}?",)
T_POSITION = ("where is the {o}?", "where is the {o} on the table?", "in which part of the table is the {o}?")
T_HEIGHT_GRIPPER = ("how high is the gripper?", "is the gripper low, middle or high?")
T_HEIGHT_GOAL = ("how high is the green target?", "is the green target low, middle or high?")
T_WHERE_GRIPPER = ("where is the gripper?",)
T_LR = ("is the {a} left or right of the {b}?", "is the {a} to the left or to the right of the {b}?")
T_DEPTH = ("is the {a} closer or farther than the {b}?", "is the {a} nearer to the robot than the {b}, closer or farther?")
T_ABOVE = ("is the gripper above the {o}?",)
T_TASK = ("which task is this scene set up for?", "what task is this?", "name the task in this scene.")
T_INSTR = ("which task does this instruction describe: {i}", "what is the instruction asking for? {i}")
T_ROBOT = ("which robot is this?", "what robot arm is in the picture?")
T_GRIPPER = ("is the gripper open or closed?", "is the gripper open?")
T_PROGRESS = ("how far along is the task?", "is the task at the beginning, middle or end?")
T_SUCCESS = ("is the task done?", "has the task succeeded?")
T_HOLDING = ("is the robot holding the {o}?", "is the {o} in the gripper?")


@dataclass
class QA:
    qtype: str
    question: str
    answer: str


@dataclass
class Block:
    """Scenes of one source: images [N, H, W, 3] uint8, per-scene QA lists and metadata."""

    front: np.ndarray
    wrist: np.ndarray
    qa: list[list[QA]]
    meta: list[dict]
    seg: Optional[np.ndarray] = None  # [N, 2 cameras, H, W] int8: SEG_CLASSES index per pixel, -1 none (sim scenes)

    def __len__(self) -> int:
        return len(self.qa)

    def seg_or_empty(self) -> tuple[np.ndarray, np.ndarray]:
        n = len(self)
        if self.seg is not None:
            return self.seg, np.ones(n, bool)
        return np.full((n, 2) + self.front.shape[1:3], -1, np.int8), np.zeros(n, bool)


def token_labels(class_map: np.ndarray, grid: int) -> np.ndarray:
    """[..., H, W] per-pixel classes -> [..., grid * grid, len(SEG_CLASSES)] uint8: which classes cover
    at least SEG_MIN_PIXELS pixels of each cell of a grid x grid split of the image (row-major, the
    merged visual tokens' order)."""
    h, w = class_map.shape[-2:]
    lead = class_map.shape[:-2]
    flat = class_map.reshape(-1, h, w)
    rows = np.linspace(0, h, grid + 1).round().astype(int)
    cols = np.linspace(0, w, grid + 1).round().astype(int)
    c = len(SEG_CLASSES)
    out = np.zeros((flat.shape[0], grid * grid, c), np.uint8)
    onehot = flat[..., None] == np.arange(c, dtype=flat.dtype)  # [n, H, W, C]
    for i in range(grid):
        for j in range(grid):
            counts = onehot[:, rows[i] : rows[i + 1], cols[j] : cols[j + 1]].sum(axis=(1, 2))
            out[:, i * grid + j] = counts >= SEG_MIN_PIXELS
    return out.reshape(*lead, grid * grid, c)


@dataclass
class Dataset:
    front: np.ndarray
    wrist: np.ndarray
    meta: list[dict]
    items: list[tuple[int, str, str, str]]  # (scene, qtype, question, answer)
    counts: dict = field(default_factory=dict)
    demo_files: list = field(default_factory=list)  # the episodes used, relative to the demos folder
    seg: Optional[np.ndarray] = None  # [N, 2, H, W] int8 per-pixel classes (Block.seg)
    has_seg: Optional[np.ndarray] = None  # [N] bool

    @staticmethod
    def concat(blocks: Sequence[Block]) -> "Dataset":
        blocks = [b for b in blocks if len(b)]
        if not blocks:
            raise ValueError("no scenes")
        front = np.concatenate([b.front for b in blocks])
        wrist = np.concatenate([b.wrist for b in blocks])
        meta, items, base = [], [], 0
        for b in blocks:
            meta += b.meta
            for i, qs in enumerate(b.qa):
                items += [(base + i, q.qtype, q.question, q.answer) for q in qs]
            base += len(b)
        counts: dict[str, int] = {}
        for _, t, _, _ in items:
            counts[t] = counts.get(t, 0) + 1
        segs = [b.seg_or_empty() for b in blocks]
        return Dataset(front, wrist, meta, items, counts, seg=np.concatenate([a for a, _ in segs]),
                       has_seg=np.concatenate([h for _, h in segs]))


# -- labels -> questions ------------------------------------------------------------------------
def _lat(v: float, th: float) -> str:
    return "left" if v > th else "right" if v < -th else "center"


def _depth(u: float, th: float) -> str:
    return "far" if u > th else "near" if u < -th else "middle"


def _pick(rng: np.random.Generator, options: Sequence[str]) -> str:
    return options[int(rng.integers(len(options)))]


def questions(lab: dict, rng: np.random.Generator) -> list[QA]:
    """All questions a scene's labels answer (one phrasing each, drawn from ``rng``).

    lab: task, embodiment, instruction, frame (center_x, scale), gripper_open (bool), tcp (xyz),
    objects ({key: xyz} or absent: unknown after the scene moved), and for demo frames progress
    ("beginning"|"middle"|"end"), success (bool), grasped ({key: bool}).
    """
    task, emb = lab["task"], lab["embodiment"]
    cx, sc = lab["frame"]
    objs = OBJECTS[task]
    out: list[QA] = []

    def norm(p) -> tuple[float, float]:
        return (p[0] - cx) / sc, p[1] / sc

    # colours (of objects known to be in the scene)
    for o in objs:
        if o.noun:
            out.append(QA("colour", _pick(rng, T_COLOUR).format(o=o.noun), o.colour))
    pos = lab.get("objects")
    tcp = lab.get("tcp")
    if task == "StackCube" and pos:
        a, b = (norm(pos[o.key]) for o in objs)
        if abs(a[1] - b[1]) > 0.03:
            side = "left" if rng.random() < 0.5 else "right"
            left = objs[0] if a[1] > b[1] else objs[1]
            ans = left.colour if side == "left" else (objs[1] if left is objs[0] else objs[0]).colour
            out.append(QA("colour", _pick(rng, T_COLOUR_AT).format(side=side), ans))
        if abs(a[0] - b[0]) > 0.03:
            closer = rng.random() < 0.5
            near = objs[0] if a[0] < b[0] else objs[1]
            ans = near.colour if closer else (objs[1] if near is objs[0] else objs[0]).colour
            rel = "closer to the robot" if closer else "farther from the robot"
            out.append(QA("colour", _pick(rng, T_COLOUR_DEPTH).format(rel=rel), ans))
    # positions
    if pos:
        for o in objs:
            u, v = norm(pos[o.key])
            out.append(QA("position", _pick(rng, T_POSITION).format(o=o.name), f"{_lat(v, 0.035)} {_depth(u, 0.035)}"))
        if task == "PickCube":
            h = (pos["goal"][2] - 0.02) / lab.get("max_goal_height", 0.3)
            out.append(QA("height", _pick(rng, T_HEIGHT_GOAL), "low" if h < 1 / 3 else "high" if h > 2 / 3 else "middle"))
        # relations between the two objects (only when clearly apart)
        if len(objs) == 2:
            i = int(rng.integers(2))
            A, B = objs[i], objs[1 - i]
            pa, pb = norm(pos[A.key]), norm(pos[B.key])
            if abs(pa[1] - pb[1]) > 0.04:
                out.append(QA("relation", _pick(rng, T_LR).format(a=A.name, b=B.name), "left" if pa[1] > pb[1] else "right"))
            if abs(pa[0] - pb[0]) > 0.04:
                out.append(QA("relation", _pick(rng, T_DEPTH).format(a=A.name, b=B.name), "closer" if pa[0] < pb[0] else "farther"))
    if tcp is not None:
        z = float(tcp[2])
        out.append(QA("height", _pick(rng, T_HEIGHT_GRIPPER), "low" if z < 0.1 else "high" if z > 0.22 else "middle"))
        u, v = norm(tcp)
        out.append(QA("position", _pick(rng, T_WHERE_GRIPPER), f"{_lat(v, 0.05)} {_depth(u, 0.05)}"))
        if pos:
            o = objs[int(rng.integers(len(objs)))]
            po = norm(pos[o.key])
            if max(abs(u - po[0]), abs(v - po[1])) > 0.05:
                # gripper vs object, in the larger of the two offsets
                if abs(v - po[1]) >= abs(u - po[0]):
                    out.append(QA("relation", _pick(rng, T_LR).format(a="gripper", b=o.name), "left" if v > po[1] else "right"))
                else:
                    out.append(QA("relation", _pick(rng, T_DEPTH).format(a="gripper", b=o.name), "closer" if u < po[0] else "farther"))
            dxy = math.hypot(tcp[0] - pos[o.key][0], tcp[1] - pos[o.key][1])
            above = dxy < 0.03 and tcp[2] > pos[o.key][2]
            if above or dxy > 0.08:  # leave out the borderline cases
                out.append(QA("relation", _pick(rng, T_ABOVE).format(o=o.name), "yes" if above else "no"))
    # the task, the instruction, the robot, the gripper
    out.append(QA("task", _pick(rng, T_TASK), task))
    instr = lab["instruction"]
    out.append(QA("instruction", _pick(rng, T_INSTR).format(i=instr), task))
    out.append(QA("instruction", instr, task))  # the bare instruction: Stage II's prompt
    out.append(QA("robot", _pick(rng, T_ROBOT), ROBOT_ANSWER[emb]))
    g = _pick(rng, T_GRIPPER)
    is_open = bool(lab["gripper_open"])
    out.append(QA("gripper", g, ("yes" if is_open else "no") if g.endswith("open?") else ("open" if is_open else "closed")))
    # demo-only labels
    if "progress" in lab:
        out.append(QA("progress", _pick(rng, T_PROGRESS), lab["progress"]))
    if "success" in lab:
        out.append(QA("success", _pick(rng, T_SUCCESS), "yes" if lab["success"] else "no"))
    for o in objs:
        if o.key in lab.get("grasped", {}):
            noun = o.noun or o.name
            out.append(QA("holding", _pick(rng, T_HOLDING).format(o=noun), "yes" if lab["grasped"][o.key] else "no"))
    return out


def answer_vocabulary() -> list[str]:
    """Every answer the generator can give (for the tokenizer's corpus and the report)."""
    words = ["yes", "no", "open", "closed", "low", "middle", "high", "left", "right", "closer", "farther",
             "beginning", "end", *TASKS, *ROBOT_ANSWER.values()]
    words += [f"{a} {b}" for a in ("left", "center", "right") for b in ("near", "middle", "far")]
    words += sorted({o.colour for objs in OBJECTS.values() for o in objs})
    return words


def question_corpus() -> list[str]:
    """Question texts with every object name filled in (for the tokenizer)."""
    out = []
    names = sorted({o.name for objs in OBJECTS.values() for o in objs} | {o.noun for objs in OBJECTS.values() for o in objs if o.noun} | {"gripper"})
    for t in (T_COLOUR, T_POSITION, T_ABOVE, T_HOLDING):
        out += [x.format(o=n) for x in t for n in names]
    out += [x.format(side=s) for x in T_COLOUR_AT for s in ("left", "right")]
    out += [x.format(rel=r) for x in T_COLOUR_DEPTH for r in ("closer to the robot", "farther from the robot")]
    out += [x.format(a=a, b=b) for x in T_LR + T_DEPTH for a in names for b in names if a != b][:200]
    for t in (T_HEIGHT_GRIPPER, T_HEIGHT_GOAL, T_WHERE_GRIPPER, T_TASK, T_ROBOT, T_GRIPPER, T_PROGRESS, T_SUCCESS):
        out += list(t)
    out += [x.format(i="") for x in T_INSTR]
    return out


def instructions() -> list[str]:
    from blm_sim.tasks import TASKS as REG

    return [i for t in TASKS for i in REG[t].instructions]


# -- sim scenes ---------------------------------------------------------------------------------
class SceneMaker:
    """One (arm, task) world: resets, places the arm and renders both cameras."""

    def __init__(self, embodiment: str, task: str, size: int = SIZE) -> None:
        from blm_sim.expert.planning import PlanningWorld
        from blm_sim.world import SimConfig, Simulation

        self.sim = Simulation(SimConfig(task=task, embodiment=embodiment, width=size, height=size))
        self.plan = PlanningWorld(task, embodiment)
        e = self.sim.embodiment
        self.emb, self.task = e, task
        self.lo = np.array([j.lower for j in e.joints])
        self.hi = np.array([j.upper for j in e.joints])
        self.home = np.array(e.home, dtype=float)
        self.frame = self.sim.task.spawn
        self.size = size
        self._seg = None
        self.geom_class = self._geom_classes()

    def _geom_classes(self) -> np.ndarray:
        """SEG_CLASSES index of every geom (-1: table, ground, anything else)."""
        import mujoco

        m, r = self.sim.model, self.sim.robot
        fingers = {int(m.geom_bodyid[g]) for g in r.left_geoms + r.right_geoms}
        by_body = {o.key: o.seg_class for o in OBJECTS[self.task]}
        out = np.full(m.ngeom, -1, dtype=np.int64)
        for g in range(m.ngeom):
            b = int(m.geom_bodyid[g])
            name = mujoco.mj_id2name(m, mujoco.mjtObj.mjOBJ_BODY, b) or ""
            if name.startswith("robot/"):
                out[g] = SEG_CLASSES.index("finger" if b in fingers else "arm")
            elif name in by_body:
                out[g] = by_body[name]
        return out

    def segment(self, camera: str) -> np.ndarray:
        """[H, W] int8: the SEG_CLASSES index of each pixel of the camera image (rendered exactly as
        Simulation.render frames it), -1 where none is seen."""
        import mujoco

        from blm_sim.robot import ROBOT_PREFIX

        if self._seg is None:
            self._seg = mujoco.Renderer(self.sim.model, height=self.size, width=self.size)
            self._seg.enable_segmentation_rendering()
        cam = "front" if camera == "front" else ROBOT_PREFIX + camera
        mujoco.mj_kinematics(self.sim.model, self.sim.data)
        self._seg.update_scene(self.sim.data, camera=cam, scene_option=self.sim._vopt)
        ids = self._seg.render()  # [H, W, 2]: object id, object type
        geom = (ids[..., 1] == int(mujoco.mjtObj.mjOBJ_GEOM)) & (ids[..., 0] >= 0)
        cls = np.full(ids.shape[:2], -1, dtype=np.int64)
        cls[geom] = self.geom_class[ids[..., 0][geom]]
        return cls.astype(np.int8)

    def gripper_q(self, frac_open: float) -> float:
        g = self.emb.gripper
        wmax = max(g.width_at_lower, g.width_at_upper)
        return float(g.position(frac_open * wmax))

    def _random_q(self, rng: np.random.Generator, spread: float) -> np.ndarray:
        return np.clip(self.home + rng.uniform(-spread, spread, len(self.home)), self.lo, self.hi)

    def _ik_q(self, rng: np.random.Generator, poses: dict) -> Optional[np.ndarray]:
        from blm_sim.expert.planning import PlanningError, feasible_ik, rot_from_approach

        objs = OBJECTS[self.task]
        o = objs[int(rng.integers(len(objs)))]
        p = np.array(poses[o.key].pos, dtype=float)
        s = self.frame.scale
        target = p + np.array([rng.uniform(-0.04, 0.04) * s, rng.uniform(-0.04, 0.04) * s, rng.uniform(0.05, 0.2)])
        yaw = rng.uniform(-math.pi / 2, math.pi / 2)
        tilt = rng.uniform(0.0, 0.5)
        approach = np.array([math.sin(tilt), 0.0, -math.cos(tilt)])  # leaning away from the base
        R = rot_from_approach(approach, (math.cos(yaw), math.sin(yaw), 0.0))
        self.plan.set_objects({k: (np.array(v.pos), np.array(v.quat)) for k, v in poses.items()})
        try:
            return feasible_ik(self.plan, target, [R], [self.home], rng, resamples=2)
        except PlanningError:
            return None

    def scene(self, seed: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, dict, np.ndarray]:
        info = self.sim.reset(seed)  # object poses of this seed
        poses = self.sim.poses
        q = self._ik_q(rng, poses) if rng.random() < 0.5 else None
        for _ in range(20):
            if q is None:
                q = self._random_q(rng, 0.35)
            self.sim.reset(seed, arm_q=q, gripper_q=None)
            if self.sim.robot.tcp_pose(self.sim.data)[0][2] > 0.04:
                break
            q = None
        frac = float(rng.uniform(0.0, 0.35) if rng.random() < 0.5 else rng.uniform(0.65, 1.0))
        self.sim.reset(seed, arm_q=q, gripper_q=self.gripper_q(frac))
        front, wrist = self.sim.render("front"), self.sim.render("wrist")
        lab = {
            "task": self.task,
            "embodiment": self.emb.name,
            "seed": int(seed),
            "instruction": info["instruction"],
            "frame": (self.frame.center_x, self.frame.scale),
            "max_goal_height": self.frame.max_goal_height,
            "objects": {k: list(v.pos) for k, v in poses.items()},
            "tcp": self.sim.robot.tcp_pose(self.sim.data)[0].tolist(),
            "gripper_open": frac >= 0.5,
        }
        return front, wrist, lab, np.stack([self.segment("front"), self.segment("wrist")])

    def close(self) -> None:
        self.sim.close()
        self.plan.sim.close()
        if self._seg is not None:
            self._seg.close()


def seeded_places(embodiment: str, task: str, seed: int) -> dict[str, np.ndarray]:
    """Where the simulator's reset with this seed puts the task's objects (name -> world xyz, m):
    the reset draws them from the seed alone, so this is the truth for a sim scene or an episode's
    start."""
    from blm_sim.scene import spawn_frame_for
    from blm_sim.tasks import make_task
    from blm_sim.tasks.base import object_rng

    poses = make_task(task, spawn=spawn_frame_for(embodiment)).sample(object_rng(seed))
    return {name: np.asarray(pose.pos, dtype=np.float64) for name, pose in poses.items()}


def _rng(*key) -> np.random.Generator:
    h = hashlib.sha256(json.dumps(key).encode()).digest()
    return np.random.default_rng(int.from_bytes(h[:8], "little"))


def sim_block(embodiment: str, task: str, seeds: Sequence[int], size: int = SIZE) -> Block:
    maker = SceneMaker(embodiment, task, size)
    fronts, wrists, qa, meta, segs = [], [], [], [], []
    try:
        for seed in seeds:
            rng = _rng("sim", VERSION, embodiment, task, int(seed))
            f, w, lab, seg = maker.scene(int(seed), rng)
            fronts.append(f)
            wrists.append(w)
            segs.append(seg)
            qa.append(questions(lab, rng))
            meta.append({"source": "sim", **{k: lab[k] for k in ("embodiment", "task", "seed", "instruction")}})
    finally:
        maker.close()
    return Block(np.stack(fronts), np.stack(wrists), qa, meta, np.stack(segs))


# -- demo frames --------------------------------------------------------------------------------
def find_demos(root: Path) -> list[Path]:
    return sorted(Path(root).glob("*/*/seed_*.mcap"))


def demo_split(path: Path) -> str:
    seed = int(path.stem.split("_")[-1])
    return "eval" if seed % 5 == 4 else "train"


def _stamp(s) -> float:
    return s.sec + 1e-9 * s.nanosec


def read_demo(path: Path) -> dict:
    """Frames (paired front/wrist), jaw width over time and task status over time of one episode."""
    from mcap.reader import make_reader
    from rosbags.highlevel import AnyReader
    from blm_sim.embodiment import load_embodiment

    with open(path, "rb") as f:
        meta = {m.name: dict(m.metadata) for m in make_reader(f).iter_metadata()}["episode"]
    g = load_embodiment(meta["embodiment"]).gripper
    frames: dict[str, dict[float, np.ndarray]] = {"front": {}, "wrist": {}}
    js, status = [], []
    with AnyReader([path]) as reader:
        for conn, _log, raw in reader.messages():
            t = conn.topic
            if t.startswith("/camera/") and t.endswith("/image_raw"):
                cam = t.split("/")[2]
                msg = reader.deserialize(raw, conn.msgtype)
                if cam in frames and msg.encoding == "rgb8":
                    img = np.frombuffer(bytes(msg.data), np.uint8).reshape(msg.height, msg.width, 3)
                    frames[cam][round(_stamp(msg.header.stamp), 4)] = img
            elif conn.msgtype == "sensor_msgs/msg/JointState":
                msg = reader.deserialize(raw, conn.msgtype)
                names = list(msg.name)
                if g.joint in names:
                    w = g.width(float(msg.position[names.index(g.joint)]))
                    js.append((_stamp(msg.header.stamp), w / max(g.width_at_lower, g.width_at_upper)))
            elif t == "/sim/task_status":
                msg = reader.deserialize(raw, conn.msgtype)
                status.append((_stamp(msg.header.stamp), bool(msg.success),
                               dict(zip(msg.criterion_names, (float(v) for v in msg.criterion_values)))))
    ts = sorted(set(frames["front"]) & set(frames["wrist"]))
    return {"meta": meta, "t": ts, "front": [frames["front"][t] for t in ts], "wrist": [frames["wrist"][t] for t in ts],
            "js": sorted(js), "status": sorted(status, key=lambda s: s[0])}


def _resize(img: np.ndarray, size: int) -> np.ndarray:
    if img.shape[:2] == (size, size):
        return img
    from PIL import Image

    return np.asarray(Image.fromarray(img).resize((size, size), Image.BILINEAR))


def demo_block(path: Path, frames: int = 6, size: int = SIZE) -> Block:
    ep = read_demo(path)
    meta = ep["meta"]
    task, emb, seed = meta["task"], meta["embodiment"], int(meta["seed"])
    n = len(ep["t"])
    if n == 0 or task not in OBJECTS or emb not in ROBOT_ANSWER:
        return Block(np.zeros((0, size, size, 3), np.uint8), np.zeros((0, size, size, 3), np.uint8), [], [])
    from blm_sim.scene import spawn_frame_for

    fr = spawn_frame_for(emb)
    rng = _rng("demo", VERSION, emb, task, seed)
    # frames spread over the episode (stratified, jittered); the first (objects where the seed put
    # them) and the last (the task done) always
    k = min(frames, n)
    edges = np.linspace(0, n, k + 1)
    idx = sorted({0, n - 1} | {int(min(n - 1, math.floor(rng.uniform(edges[i], edges[i + 1])))) for i in range(1, k - 1)})
    t0, t1 = ep["t"][0], max(ep["t"][-1], ep["t"][0] + 1e-6)
    js_t = np.array([a for a, _ in ep["js"]]) if ep["js"] else np.zeros(0)
    js_w = np.array([b for _, b in ep["js"]]) if ep["js"] else np.zeros(0)
    st_t = np.array([s[0] for s in ep["status"]])
    fronts, wrists, qa, metas = [], [], [], []
    for i in idx:
        t = ep["t"][i]
        frac = (t - t0) / (t1 - t0)
        lab = {
            "task": task, "embodiment": emb, "seed": seed, "instruction": meta.get("instruction", ""),
            "frame": (fr.center_x, fr.scale), "max_goal_height": fr.max_goal_height,
            "progress": "beginning" if frac < 1 / 3 else "end" if frac > 2 / 3 else "middle",
        }
        if len(js_w):
            lab["gripper_open"] = bool(np.interp(t, js_t, js_w) >= 0.5)
        else:
            continue
        if len(st_t):
            j = int(np.searchsorted(st_t, t + 1e-6, side="right")) - 1
            if j >= 0:
                _, ok, vals = ep["status"][j]
                lab["success"] = ok
                lab["grasped"] = {o.key: bool(vals[o.grasp_flag]) for o in OBJECTS[task]
                                  if o.grasp_flag and o.grasp_flag in vals}
        if i == 0:  # before the expert touched anything: the objects are where the seed put them
            from blm_sim.tasks import make_task
            from blm_sim.tasks.base import object_rng

            poses = make_task(task, spawn=fr).sample(object_rng(seed))
            lab["objects"] = {k2: list(v.pos) for k2, v in poses.items()}
        if not lab["instruction"]:
            continue
        fronts.append(_resize(ep["front"][i], size))
        wrists.append(_resize(ep["wrist"][i], size))
        qa.append(questions(lab, rng))
        metas.append({"source": "demo", "embodiment": emb, "task": task, "seed": seed,
                      "instruction": lab["instruction"], "progress": lab["progress"]})
    if not qa:
        return Block(np.zeros((0, size, size, 3), np.uint8), np.zeros((0, size, size, 3), np.uint8), [], [])
    return Block(np.stack(fronts), np.stack(wrists), qa, metas)


# -- cache --------------------------------------------------------------------------------------
def _save(path: Path, b: Block) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    qa = [[[q.qtype, q.question, q.answer] for q in qs] for qs in b.qa]
    extra = {"seg": b.seg} if b.seg is not None else {}
    np.savez_compressed(tmp, front=b.front, wrist=b.wrist, qa=json.dumps(qa), meta=json.dumps(b.meta), **extra)
    os.replace(tmp, path)


def _load(path: Path) -> Block:
    z = np.load(path)
    qa = [[QA(*q) for q in qs] for qs in json.loads(str(z["qa"]))]
    return Block(z["front"], z["wrist"], qa, json.loads(str(z["meta"])), z["seg"] if "seg" in z.files else None)


def sim_seeds(split: str, n: int) -> list[int]:
    return [(TRAIN_SEED0 if split == "train" else EVAL_SEED0) + i for i in range(n)]


def cached_sim_block(cache: Path, emb: str, task: str, split: str, n: int) -> Block:
    path = cache / "sim" / f"v{VERSION}.{SIM_CACHE_VERSION}_{emb}_{task}_{split}_{n}.npz"
    if path.exists():
        return _load(path)
    b = sim_block(emb, task, sim_seeds(split, n))
    _save(path, b)
    return b


def cached_demo_block(cache: Path, mcap: Path, frames: int) -> Block:
    st = mcap.stat()
    key = hashlib.sha256(f"{mcap.resolve()}|{st.st_size}|{int(st.st_mtime)}|{frames}|{VERSION}".encode()).hexdigest()[:12]
    path = cache / "demos" / f"{mcap.parent.parent.name}_{mcap.parent.name}_{mcap.stem}_{key}.npz"
    if path.exists():
        return _load(path)
    try:
        b = demo_block(mcap, frames)
    except Exception as e:  # a damaged file must not stop the run
        print(f"qa: skipping {mcap}: {e}", flush=True)
        b = Block(np.zeros((0, SIZE, SIZE, 3), np.uint8), np.zeros((0, SIZE, SIZE, 3), np.uint8), [], [])
    _save(path, b)
    return b


def build(
    split: str,
    per_pair: int,
    cache: Path = DEFAULT_DATA,
    demos: Optional[Path] = DEFAULT_DEMOS,
    demo_frames: int = 6,
    arms: Iterable[str] = ARMS,
    tasks: Iterable[str] = TASKS,
    log=print,
    demo_files: Optional[Sequence[str]] = None,
) -> Dataset:
    """The split's scenes: per_pair sim scenes per (arm, task), plus the demo episodes of this split
    (those under ``demos`` now, or exactly ``demo_files``, paths relative to it: a resumed run
    keeps the episodes it started with while the demo generator adds more)."""
    blocks = []
    t0 = time.time()
    pairs = [(e, t) for e in arms for t in tasks]
    for k, (e, t) in enumerate(pairs):
        blocks.append(cached_sim_block(cache, e, t, split, per_pair))
        log(f"qa: {split} sim {k + 1}/{len(pairs)} {e} {t} ({time.time() - t0:.0f} s)")
    arms, tasks = set(arms), set(tasks)
    eps: list[Path] = []
    if demos is not None and demo_files is not None:
        eps = [Path(demos) / f for f in demo_files]
        missing = [str(p) for p in eps if not p.exists()]
        if missing:
            raise FileNotFoundError(f"demo episodes gone: {missing[:3]}")
    elif demos is not None and Path(demos).exists():
        eps = [p for p in find_demos(Path(demos)) if demo_split(p) == split
               and p.parent.parent.name in arms and p.parent.name in tasks]
    if eps:
        for k, p in enumerate(eps):
            blocks.append(cached_demo_block(cache, p, demo_frames))
            if (k + 1) % 20 == 0 or k + 1 == len(eps):
                log(f"qa: {split} demos {k + 1}/{len(eps)} ({time.time() - t0:.0f} s)")
    d = Dataset.concat(blocks)
    d.demo_files = [str(p.relative_to(demos)) for p in eps] if eps else []
    return d


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m blm_tiny.qa", description="Generate and cache Stage I QA data.")
    ap.add_argument("--train-per-pair", type=int, default=120)
    ap.add_argument("--eval-per-pair", type=int, default=12)
    ap.add_argument("--cache", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--demos", type=Path, default=DEFAULT_DEMOS)
    ap.add_argument("--show", type=int, default=0, help="print the QA of this many scenes")
    a = ap.parse_args(argv)
    for split, n in (("train", a.train_per_pair), ("eval", a.eval_per_pair)):
        d = build(split, n, a.cache, a.demos)
        print(json.dumps({"split": split, "scenes": len(d.meta), "questions": len(d.items), "by_type": d.counts}))
        for i in range(min(a.show, len(d.meta))):
            print(d.meta[i], [(q, ans) for s, _, q, ans in d.items if s == i])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
