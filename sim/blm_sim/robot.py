"""Plugging a generated robot MJCF into the scene.

The embodiments issue owns the robot models: ``npx tsx embodiments/description/generate.ts
--embodiment <name> --format mjcf --out FILE`` writes each arm's MJCF from its
``embodiment.yaml`` (kinematic tree, position actuators on the arm joints and the gripper,
finger bodies with pads, a ``wrist`` camera and a ``tcp`` site). The sim never writes robot
geometry of its own; it

1. obtains that file (:func:`generate_robot_mjcf`, or a path given by the caller),
2. attaches it to the scene spec with ``MjSpec.attach`` under the prefix ``robot/`` in a frame at
   the embodiment's base pose (``kinematics.base``, ManiSkill's (-0.615, 0, 0)) — unless the MJCF
   already places its root body there —, and
3. binds the compiled model (:class:`RobotBinding`): the arm joints' qpos/dof addresses and their
   actuators in the embodiment's joint order, the gripper joint and actuator, the two fingers'
   collision geoms and pads (for ``is_grasping``), the ``tcp`` site and the ``wrist`` camera.

What the binding expects of the MJCF (names after the ``robot/`` prefix):
- joints named as in ``embodiment.yaml`` (arm joints, ``gripper.joint`` and its mimic joints);
- one actuator per arm joint and one for the gripper, each acting on its joint (``trntype``
  joint) or, for the gripper, on a tendon that includes the gripper joint;
- pad geoms whose names contain ``pad`` or whose default class is ``pad`` (the generator's
  convention), on exactly two bodies (one per finger); without any, the finger bodies are the
  bodies of the gripper joint and its first mimic joint;
- a site named ``tcp`` and a camera named ``wrist`` (optional, reported when absent).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import mujoco
import numpy as np

from .checks import GraspResult, is_grasping
from .embodiment import Embodiment, repo_root

__all__ = ["ROBOT_PREFIX", "RobotModelError", "generate_robot_mjcf", "attach_robot", "RobotBinding"]

ROBOT_PREFIX = "robot/"


class RobotModelError(RuntimeError):
    """The robot MJCF is missing or lacks what the sim needs; the message says what."""


def _generator_command(name: str, out: Path, root: Path) -> list[str]:
    script = root / "embodiments" / "description" / "generate.ts"
    if not script.exists():
        raise RobotModelError(
            f"the robot generator {script} does not exist yet; pass robot_mjcf= explicitly"
        )
    tsx = root / "node_modules" / ".bin" / "tsx"
    runner = [str(tsx)] if tsx.exists() else [shutil.which("npx") or "npx", "tsx"]
    return [*runner, str(script), "--embodiment", name, "--format", "mjcf", "--out", str(out)]


def generate_robot_mjcf(name: str, out_dir: Optional[Path] = None, root: Optional[Path] = None) -> Path:
    """Run the embodiments' generator for one arm and return the MJCF path.

    The file is cached in ``out/sim/robots/<name>.xml`` and regenerated when the embodiment
    definition or the generator sources are newer.
    """
    root = root or repo_root()
    out_dir = out_dir or (root / "out" / "sim" / "robots")
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"{name}.xml"
    sources = [root / "embodiments" / name / "embodiment.yaml"]
    gen_dir = root / "embodiments" / "description"
    if gen_dir.exists():
        sources += [p for p in gen_dir.rglob("*.ts")]
    newest = max((p.stat().st_mtime for p in sources if p.exists()), default=0.0)
    if out.exists() and out.stat().st_mtime >= newest:
        return out
    cmd = _generator_command(name, out, root)
    res = subprocess.run(cmd, cwd=root, capture_output=True, text=True, timeout=300,
                         env={**os.environ})
    if res.returncode != 0 or not out.exists():
        raise RobotModelError(
            f"robot generator failed for {name} (exit {res.returncode}): {res.stderr.strip()[-2000:]}"
        )
    return out


def _rpy_quat(rpy: tuple[float, float, float]) -> list[float]:
    q = np.zeros(4)
    mujoco.mju_euler2Quat(q, np.asarray(rpy, dtype=float), "XYZ")
    return q.tolist()


def attach_robot(spec: mujoco.MjSpec, emb: Embodiment, mjcf: Path) -> None:
    """Attach the robot MJCF to the scene spec at the embodiment's base pose."""
    if not Path(mjcf).exists():
        raise RobotModelError(f"robot MJCF {mjcf} does not exist")
    child = mujoco.MjSpec.from_file(str(mjcf))
    _name_pads(child)
    root_body = child.worldbody.first_body()
    if root_body is None:
        raise RobotModelError(f"{mjcf} has no body under its worldbody")
    base = np.asarray(emb.base_xyz, dtype=float)
    already_placed = np.allclose(np.asarray(root_body.pos, dtype=float), base, atol=1e-6) and np.any(base != 0)
    frame = spec.worldbody.add_frame(
        pos=[0.0, 0.0, 0.0] if already_placed else base.tolist(),
        quat=[1.0, 0.0, 0.0, 0.0] if already_placed else _rpy_quat(emb.base_rpy),
    )
    spec.attach(child, prefix=ROBOT_PREFIX, frame=frame)


def _name_pads(child: mujoco.MjSpec) -> None:
    """Give the generator's unnamed pad geoms (default class ``pad``) names containing 'pad'."""
    i = 0
    for g in child.geoms:
        cls = getattr(g, "classname", None)
        cls_name = getattr(cls, "name", "") if cls is not None else ""
        if not g.name and cls_name == "pad":
            g.name = f"pad{i}"
            i += 1


def _id(model: mujoco.MjModel, kind: mujoco.mjtObj, name: str) -> int:
    return int(mujoco.mj_name2id(model, kind, ROBOT_PREFIX + name))


def _subtree_bodies(model: mujoco.MjModel, root: int) -> list[int]:
    out = [root]
    for b in range(model.nbody):
        p = b
        while p > 0 and p != root:
            p = int(model.body_parentid[p])
        if p == root and b != root:
            out.append(b)
    return out


def _collision_geoms(model: mujoco.MjModel, bodies: list[int]) -> list[int]:
    bs = set(bodies)
    return [
        g
        for g in range(model.ngeom)
        if int(model.geom_bodyid[g]) in bs and (model.geom_contype[g] or model.geom_conaffinity[g])
    ]


def _mimic_coef(model: mujoco.MjModel, mimic: int, leader: int) -> tuple[float, float]:
    """(c0, c1) of the joint equality that makes ``mimic`` follow ``leader``; (0, 1) if none."""
    for e in range(model.neq):
        if int(model.eq_type[e]) != mujoco.mjtEq.mjEQ_JOINT:
            continue
        a, b = int(model.eq_obj1id[e]), int(model.eq_obj2id[e])
        if a == mimic and b == leader:
            return float(model.eq_data[e, 0]), float(model.eq_data[e, 1])
        if a == leader and b == mimic and model.eq_data[e, 1] != 0:
            c0, c1 = float(model.eq_data[e, 0]), float(model.eq_data[e, 1])
            return -c0 / c1, 1.0 / c1
    return 0.0, 1.0


@dataclass
class RobotBinding:
    """Ids and addresses of one attached robot in a compiled model."""

    embodiment: Embodiment
    arm_joint_ids: np.ndarray
    arm_qpos_adr: np.ndarray
    arm_dof_adr: np.ndarray
    arm_actuators: np.ndarray
    gripper_joint_id: int
    gripper_qpos_adr: int
    gripper_dof_adr: int
    gripper_actuator: int
    mimic_qpos_adr: np.ndarray
    mimic_dof_adr: np.ndarray
    mimic_coef: np.ndarray  # (n, 2): q_mimic = c0 + c1 * q_gripper (joint equality polycoef)
    left_geoms: list[int]
    right_geoms: list[int]
    left_pads: list[int]
    right_pads: list[int]
    tcp_site: int
    wrist_camera: int
    warnings: list[str] = field(default_factory=list)

    @staticmethod
    def bind(model: mujoco.MjModel, emb: Embodiment) -> "RobotBinding":
        J = mujoco.mjtObj.mjOBJ_JOINT
        warnings: list[str] = []
        jids = []
        for n in emb.joint_names:
            j = _id(model, J, n)
            if j < 0:
                raise RobotModelError(f"robot MJCF has no joint {n!r} (embodiment {emb.name})")
            jids.append(j)
        gj = _id(model, J, emb.gripper.joint)
        if gj < 0:
            raise RobotModelError(f"robot MJCF has no gripper joint {emb.gripper.joint!r}")
        mimic = []
        for n in emb.gripper.mimic_joints:
            m = _id(model, J, n)
            if m < 0:
                warnings.append(f"mimic joint {n} not in the MJCF")
            else:
                mimic.append(m)

        # actuators by the joint (or tendon) they drive
        by_joint: dict[int, int] = {}
        gripper_act = -1
        for a in range(model.nu):
            trn = int(model.actuator_trntype[a])
            target = int(model.actuator_trnid[a, 0])
            if trn == mujoco.mjtTrn.mjTRN_JOINT:
                by_joint.setdefault(target, a)
            elif trn == mujoco.mjtTrn.mjTRN_TENDON:
                adr, num = int(model.tendon_adr[target]), int(model.tendon_num[target])
                for w in range(adr, adr + num):
                    if int(model.wrap_type[w]) == mujoco.mjtWrap.mjWRAP_JOINT and int(model.wrap_objid[w]) == gj:
                        gripper_act = a
        acts = []
        for n, j in zip(emb.joint_names, jids):
            if j not in by_joint:
                raise RobotModelError(f"robot MJCF has no actuator on joint {n!r}")
            acts.append(by_joint[j])
        if gj in by_joint:
            gripper_act = by_joint[gj]
        if gripper_act < 0:
            raise RobotModelError(f"robot MJCF has no actuator on the gripper joint {emb.gripper.joint!r}")

        # fingers: bodies holding 'pad' geoms, else the gripper joint's and first mimic's bodies
        pads_by_body: dict[int, list[int]] = {}
        for g in range(model.ngeom):
            nm = mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_GEOM, g) or ""
            if nm.startswith(ROBOT_PREFIX) and "pad" in nm[len(ROBOT_PREFIX):].lower():
                pads_by_body.setdefault(int(model.geom_bodyid[g]), []).append(g)
        if len(pads_by_body) == 2:
            (lb, lp), (rb, rp) = sorted(pads_by_body.items())
        else:
            if pads_by_body:
                warnings.append(f"pad geoms on {len(pads_by_body)} bodies, expected 2; using joint bodies")
            if not mimic:
                raise RobotModelError("cannot find the two fingers: no pad geoms and no mimic joint")
            lb, rb = int(model.jnt_bodyid[gj]), int(model.jnt_bodyid[mimic[0]])
            lp = _collision_geoms(model, [lb])
            rp = _collision_geoms(model, [rb])
        left = _collision_geoms(model, _subtree_bodies(model, lb))
        right = _collision_geoms(model, _subtree_bodies(model, rb))
        if not lp or not rp or not left or not right:
            raise RobotModelError("a finger has no collision geoms")

        tcp = _id(model, mujoco.mjtObj.mjOBJ_SITE, "tcp")
        if tcp < 0:
            warnings.append("no 'tcp' site")
        cam = _id(model, mujoco.mjtObj.mjOBJ_CAMERA, "wrist")
        if cam < 0:
            warnings.append("no 'wrist' camera")
        jids_a = np.asarray(jids, dtype=int)
        return RobotBinding(
            embodiment=emb,
            arm_joint_ids=jids_a,
            arm_qpos_adr=np.asarray(model.jnt_qposadr[jids_a], dtype=int),
            arm_dof_adr=np.asarray(model.jnt_dofadr[jids_a], dtype=int),
            arm_actuators=np.asarray(acts, dtype=int),
            gripper_joint_id=gj,
            gripper_qpos_adr=int(model.jnt_qposadr[gj]),
            gripper_dof_adr=int(model.jnt_dofadr[gj]),
            gripper_actuator=gripper_act,
            mimic_qpos_adr=np.asarray([model.jnt_qposadr[m] for m in mimic], dtype=int),
            mimic_dof_adr=np.asarray([model.jnt_dofadr[m] for m in mimic], dtype=int),
            mimic_coef=np.asarray([_mimic_coef(model, m, gj) for m in mimic], dtype=float).reshape(-1, 2),
            left_geoms=left,
            right_geoms=right,
            left_pads=list(lp),
            right_pads=list(rp),
            tcp_site=tcp,
            wrist_camera=cam,
            warnings=warnings,
        )

    # -- state -------------------------------------------------------------------------------
    def arm_positions(self, data: mujoco.MjData) -> np.ndarray:
        return np.array(data.qpos[self.arm_qpos_adr])

    def arm_velocities(self, data: mujoco.MjData) -> np.ndarray:
        return np.array(data.qvel[self.arm_dof_adr])

    def arm_efforts(self, data: mujoco.MjData) -> np.ndarray:
        return np.array(data.qfrc_actuator[self.arm_dof_adr])

    def gripper_position(self, data: mujoco.MjData) -> float:
        return float(data.qpos[self.gripper_qpos_adr])

    def gripper_velocity(self, data: mujoco.MjData) -> float:
        return float(data.qvel[self.gripper_dof_adr])

    def tcp_pose(self, data: mujoco.MjData) -> tuple[np.ndarray, np.ndarray]:
        if self.tcp_site < 0:
            raise RobotModelError("the robot has no 'tcp' site")
        return np.array(data.site_xpos[self.tcp_site]), np.array(data.site_xmat[self.tcp_site]).reshape(3, 3)

    def is_grasping(self, model: mujoco.MjModel, data: mujoco.MjData, object_body: int) -> GraspResult:
        return is_grasping(model, data, self.left_geoms, self.right_geoms, self.left_pads,
                           self.right_pads, object_body)

    # -- reset (the only place joint positions are written) -----------------------------------
    def set_initial_state(self, model: mujoco.MjModel, data: mujoco.MjData, arm_q: np.ndarray, gripper_q: float) -> None:
        data.qpos[self.arm_qpos_adr] = arm_q
        data.qvel[self.arm_dof_adr] = 0.0
        data.qpos[self.gripper_qpos_adr] = gripper_q
        data.qvel[self.gripper_dof_adr] = 0.0
        for adr, dadr, (c0, c1) in zip(self.mimic_qpos_adr, self.mimic_dof_adr, self.mimic_coef):
            data.qpos[adr] = c0 + c1 * gripper_q
            data.qvel[dadr] = 0.0
        data.ctrl[self.arm_actuators] = arm_q
        data.ctrl[self.gripper_actuator] = gripper_q
