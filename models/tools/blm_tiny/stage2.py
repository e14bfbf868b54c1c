"""Stage II of blm-tiny: the Perceiver intent bridge and the DiT flow-matching head, trained on the
expert's demonstrations for all four arms and six tasks (one model), with the Stage I backbone frozen.

  cd models/tools
  python -m blm_tiny.stage2 features --demos ../../out/train/demos --backbone ../../out/train/stage1/backbone
  python -m blm_tiny.stage2 train [--steps 6000] [--resume]
  python -m blm_tiny.stage2 export --out ../blm-tiny

`features` runs the frozen backbone once per camera frame pair (the prompt the runtime builds: two
images + the episode's instruction) and caches the layer-k hidden states with the episode's
samples (demos.py) per episode, so reruns skip what is done. `train` checkpoints every few hundred
steps and resumes from the last checkpoint (DESIGN decision 12); everything is seeded. The loss is
flow matching on the normalized, padded action chunk (prediction = "sample": the clean chunk) plus
the auxiliary future-prediction loss (the normalized state at the chunk's end, from the state
token). Batches are balanced over (embodiment, task) pairs, so the short tasks do not drown the
long ones; the image behind each sample is 0-3 frames staler than its state (the brain refreshes
the intent on a period), and the state carries a little noise (tracking error in closed loop).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from blm_tools.config import BackboneConfig, BridgeConfig, HeadConfig, ModelConfig  # noqa: E402
from blm_tools.embodiments import ARMS, LIMIT_MARGIN, TCP_SLOT, VELOCITY_SLOT, velocity_scale  # noqa: E402
from blm_tools.kinematics import POSE_DIMS, tcp_pose9  # noqa: E402
from blm_tools.modules import IntentBridge, PolicyHead, euler_sample  # noqa: E402

from .demos import DT, HORIZON, anchors, find_episodes, read_episode  # noqa: E402

REPO = Path(__file__).resolve().parents[3]
OUT = REPO / "out" / "train" / "stage2"
ARM_BY_NAME = {a.name: a for a in ARMS}
STALE_FRAMES = 3  # extra image staleness in training, frames (10 Hz): up to 0.3 s
STATE_NOISE = 0.01  # normalized units, arm joints
CORRECTIVE_ROWS = 0.5  # the fraction of training rows --corrective-noise moves off the demonstrated path
FUTURE_WEIGHT = 0.1
STAT_PAD = 0.05  # statistics widen the data's range by this fraction of it on each side...
STAT_MIN_PAD = 0.02  # ...and at least this much (rad, or m for the jaw)
SAMPLER_TIMES = (0.0, 0.25, 0.5, 0.75)  # the flow times of the default 4-step sampler
LOCATE_WEIGHT = 0.0  # default off: at 0.1 the intent locates held-out objects to 1.8 cm, closed loop no better (README)
LOCATE_BETA = 0.05  # smooth-L1 knee, locate units (stage1.LOC_UNIT: 5 mm at the Panda's scale)
WIDTH = 96  # the committed blm-tiny's bridge and head; `train --width` tries others (README: capacity)
CONTACT_Z = 0.05  # m: once the TCP has been this low, the expert may have moved an object


def blm_tiny_config(d_backbone: int, state_skip: str = "learned", offset_scale: bool = False,
                    state_motion: bool = False, action_space: str = "absolute_joint",
                    object_offsets: bool = False, width: int = WIDTH, state_blind: bool = False,
                    goal_intent: bool = False) -> ModelConfig:
    """The policy side of blm-tiny; the backbone entry only carries the Qwen hidden size. ``width``
    is the bridge's and the head's model dimension (their feed-forward layers twice that)."""
    if width <= 0 or width % 4:
        raise ValueError(f"width {width}: a positive multiple of the 4 attention heads")
    return ModelConfig(
        backbone=BackboneConfig(d=d_backbone),
        bridge=BridgeConfig(n_intent=16, d_latent=width, d_intent=width, n_heads=4, ffn=2 * width, n_layers=2),
        head=HeadConfig(d_model=width, n_heads=4, ffn=2 * width, n_layers=3, enc_hidden=width, prediction="sample",
                        state_skip=state_skip, offset_scale=offset_scale, state_motion=state_motion,
                        action_space=action_space, object_offsets=object_offsets, state_blind=state_blind,
                        goal_intent=goal_intent),
    )


def blind_state_view(cfg: HeadConfig) -> torch.Tensor:
    """[n_embodiments, state_dim]: 1 where a state-blind trunk reads the state (HeadConfig.state_blind):
    everything but each arm's joint positions, their velocities and the TCP position."""
    view = torch.ones(cfg.n_embodiments, cfg.state_dim)
    for arm in ARMS:
        joints = list(arm.state_indices[:-1])
        view[arm.model_id, joints] = 0.0
        view[arm.model_id, VELOCITY_SLOT : VELOCITY_SLOT + len(joints)] = 0.0
        view[arm.model_id, TCP_SLOT : TCP_SLOT + 3] = 0.0
    return view


# ---- features -------------------------------------------------------------------------------


def cache_features(demos: Path, backbone_dir: Path, cache: Path, layer_k: int | None, batch: int = 32,
                   shard: tuple[int, int] = (0, 1)) -> int:
    """Writes <cache>/<embodiment>/<task>/seed_<n>.npz per episode (skipping those present; `shard`
    (i, n) takes every n-th episode from the i-th, so n processes can share the work); returns how
    many it wrote. Only the frames a sample can see (its latest, up to STALE_FRAMES older) are encoded;
    `fidx` [samples, STALE_FRAMES + 1] points into `feats` for each staleness."""
    from . import backbone as bb

    model, processor = bb.load(backbone_dir)
    k = layer_k or model.config.text_config.num_hidden_layers
    written = 0
    # seed-major: any prefix of the work covers every (embodiment, task) pair alike
    paths = sorted(find_episodes(demos), key=lambda p: (int(p.stem.split("_")[1]), p.parts[-3], p.parts[-2]))
    paths = paths[shard[0] :: shard[1]]
    for i, path in enumerate(paths):
        out = cache / path.relative_to(demos).with_suffix(".npz")
        if out.exists():
            continue
        t0 = time.monotonic()
        ep = read_episode(path)
        ts = anchors(ep)
        if not len(ts):
            continue
        seen = np.array([[max(ep.frame_index(t) - s, 0) for s in range(STALE_FRAMES + 1)] for t in ts])
        needed = np.unique(seen)
        frames = [(ep.front[f], ep.wrist[f]) for f in needed]
        hidden: list[np.ndarray] = []
        for j in range(0, len(frames), batch):
            part = frames[j : j + batch]
            hidden += bb.encode(model, processor, part, [ep.instruction] * len(part), k)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(".tmp.npz")
        np.savez(
            tmp,
            feats=np.stack(hidden).astype(np.float16),
            states=np.stack([ep.state_at(t) for t in ts]).astype(np.float32),
            velocities=np.stack([ep.velocity_at(t) for t in ts]).astype(np.float32),
            chunks=np.stack([ep.action_chunk(t) for t in ts]).astype(np.float32),
            future=np.stack([ep.state_at(t + HORIZON * DT) for t in ts]).astype(np.float32),
            fidx=np.searchsorted(needed, seen).astype(np.int64),
            meta=np.array(json.dumps({"embodiment": ep.embodiment, "task": ep.task, "seed": ep.seed,
                                      "instruction": ep.instruction, "layer_k": k})),
        )
        os.replace(tmp, out)
        written += 1
        print(f"features {i + 1}/{len(paths)} {path.relative_to(demos)}: {len(frames)} of {len(ep.front)} frames, "
              f"{len(ts)} samples, {time.monotonic() - t0:.1f} s", flush=True)
    return written


# ---- data -----------------------------------------------------------------------------------


class Demos:
    """Every cached episode in memory, with per-arm statistics and balanced sampling."""

    def __init__(self, files: list[Path]) -> None:
        if not files:
            raise FileNotFoundError("no cached episodes: run `features` first")
        self.eps = []
        for f in files:
            z = np.load(f)
            meta = json.loads(str(z["meta"]))
            self.eps.append({**meta, "feats": z["feats"], "states": z["states"], "chunks": z["chunks"],
                             "future": z["future"], "fidx": z["fidx"], "arm": ARM_BY_NAME[meta["embodiment"]],
                             "velocities": z["velocities"] if "velocities" in z else None, "file": f})
        self._object_places()
        pairs: dict[tuple[str, str], int] = {}
        for e in self.eps:
            key = (e["embodiment"], e["task"])
            pairs[key] = pairs.get(key, 0) + len(e["states"])
        self.pairs = sorted(pairs)
        self.episodes_of: dict[tuple[str, str], list[int]] = {}
        for i, e in enumerate(self.eps):
            self.episodes_of.setdefault((e["embodiment"], e["task"]), []).append(i)
        self.index = np.array([(i, j) for i, e in enumerate(self.eps) for j in range(len(e["states"]))])
        w = np.array([1.0 / pairs[(self.eps[i]["embodiment"], self.eps[i]["task"])] for i, _ in self.index])
        self.p = w / w.sum()
        self.d = int(self.eps[0]["feats"].shape[-1])
        ks = {e["layer_k"] for e in self.eps}
        if len(ks) != 1:
            raise ValueError(f"cached features come from different backbone layers {sorted(ks)}: re-run `features`")
        self.layer_k = ks.pop()

    def _object_places(self) -> None:
        """Per episode, where its seed put the task's objects (stage1.object_targets: ``loc``
        [classes, 3] in locate units, ``has_loc`` [classes]) and per sample whether they are still
        there (``untouched``: the TCP has not yet come within CONTACT_Z of the table)."""
        sys.path.insert(0, str(REPO / "sim"))
        from blm_sim.expert.planning import PlanningWorld

        from . import stage1

        worlds: dict[tuple[str, str], PlanningWorld] = {}
        for e in self.eps:
            e["loc"], e["has_loc"] = stage1.object_targets("sim", e["embodiment"], e["task"], int(e["seed"]))
            key = (e["task"], e["embodiment"])
            world = worlds.get(key) or worlds.setdefault(key, PlanningWorld(*key))
            low = np.array([world.fk(np.asarray(s[:-1], dtype=float))[0][2] < CONTACT_Z for s in e["states"]])
            e["untouched"] = np.cumsum(low) == 0

    def ranges(self) -> dict[str, tuple[list[float], list[float]]]:
        """min/max per arm over its states and chunk targets, widened, inside the limits less the margin."""
        out = {}
        for arm in ARMS:
            vals = [np.concatenate([e["states"], e["chunks"].reshape(-1, arm.dims)]) for e in self.eps if e["arm"] is arm]
            if not vals:
                raise ValueError(f"no demonstrations for {arm.name}")
            v = np.concatenate(vals)
            lo, hi = v.min(0), v.max(0)
            pad = np.maximum(STAT_PAD * (hi - lo), STAT_MIN_PAD)
            g0, g1 = arm.gripper_range
            lim_lo = np.array([a + LIMIT_MARGIN for a in arm.lower] + [g0 + 0.01 * (g1 - g0)])
            lim_hi = np.array([b - LIMIT_MARGIN for b in arm.upper] + [g1 - 0.01 * (g1 - g0)])
            out[arm.name] = ([round(float(x), 6) for x in np.maximum(lo - pad, lim_lo)],
                             [round(float(x), 6) for x in np.minimum(hi + pad, lim_hi)])
        return out


    def with_tcp_poses(self) -> "Demos":
        """Adds each episode's TCP poses of its states, chunk targets and future states (an ee_pose
        model's inputs and targets), once; joint-space training never pays for them."""
        for e in self.eps:
            if "tcp_states" in e:
                continue
            name, n = e["embodiment"], e["arm"].dims - 1
            e["tcp_states"] = tcp_pose9(name, e["states"][:, :n]).astype(np.float32)
            e["tcp_chunks"] = tcp_pose9(name, e["chunks"][..., :n]).astype(np.float32)
            e["tcp_future"] = tcp_pose9(name, e["future"][:, :n]).astype(np.float32)
        return self

    def tcp_ranges(self) -> dict[str, tuple[list[float], list[float]]]:
        """min/max per arm of the TCP pose (kinematics.tcp_pose9) over its states and chunk targets, widened."""
        self.with_tcp_poses()
        out = {}
        for arm in ARMS:
            vals = [np.concatenate([e["tcp_states"], e["tcp_chunks"].reshape(-1, POSE_DIMS)]) for e in self.eps
                    if e["arm"] is arm]
            if not vals:
                raise ValueError(f"no demonstrations for {arm.name}")
            v = np.concatenate(vals)
            lo, hi = v.min(0), v.max(0)
            pad = np.maximum(STAT_PAD * (hi - lo), STAT_MIN_PAD)
            out[arm.name] = ([round(float(x), 6) for x in lo - pad], [round(float(x), 6) for x in hi + pad])
        return out


TCP_SLOTS = list(range(TCP_SLOT, TCP_SLOT + POSE_DIMS))
INTENT_FRAMES = ("current", "first", "goal")


class Batcher:
    """Normalized, padded tensors for a batch of (episode, sample) indices."""

    def __init__(self, demos: Demos, ranges: dict, cfg: ModelConfig, state_noise: float = STATE_NOISE,
                 tcp_ranges: dict | None = None, context_swap: float = 0.0, intent_frame: str = "current",
                 corrective_noise: float = 0.0) -> None:
        """``corrective_noise``: see ``corrective``.
        ``intent_frame="first"``: every sample's intent comes from its episode's first frame pair, the
        scene before the arm moves, as the runtime's is when the brain encodes once per goal
        (``intent_period_s`` longer than the episode); "current": from the sample's own, 0-3 frames stale;
        "goal": both, for a goal-intent head (``hidden_goal``: the first frame pair, beside the current)."""
        if intent_frame not in INTENT_FRAMES:
            raise ValueError(f"intent_frame {intent_frame!r}: one of {', '.join(INTENT_FRAMES)}")
        self.demos, self.cfg, self.state_noise, self.context_swap = demos, cfg, state_noise, context_swap
        if corrective_noise < 0:
            raise ValueError(f"corrective_noise {corrective_noise}: a standard deviation, rad")
        if corrective_noise and cfg.head.action_space == "ee_pose":
            raise ValueError("--corrective-noise moves the arm joints: a joint-space model's (not ee_pose)")
        self.corrective_noise = corrective_noise
        self.first_frame = intent_frame == "first"
        if (intent_frame == "goal") != cfg.head.goal_intent:
            raise ValueError(f"intent_frame {intent_frame!r} with a head whose goal_intent is {cfg.head.goal_intent}: "
                             "a goal-intent head trains on the goal's frames and the current ones, and only it does")
        self.goal_frames = intent_frame == "goal"
        self.lo = {n: np.array(r[0]) for n, r in ranges.items()}
        self.hi = {n: np.array(r[1]) for n, r in ranges.items()}
        self.ee = cfg.head.action_space == "ee_pose"
        if self.ee and not tcp_ranges:
            raise ValueError("an ee_pose model needs TCP statistics (tcp_ranges)")
        if self.ee:
            demos.with_tcp_poses()
        self.tlo = {n: np.array(r[0]) for n, r in (tcp_ranges or {}).items()}
        self.thi = {n: np.array(r[1]) for n, r in (tcp_ranges or {}).items()}
        self.vscale = {n: velocity_scale(self.lo[n], self.hi[n]) for n in ranges}

    def norm(self, arm, x: np.ndarray) -> np.ndarray:
        lo, hi = self.lo[arm.name], self.hi[arm.name]
        return 2.0 * (x - lo) / (hi - lo) - 1.0

    def norm_tcp(self, arm, x: np.ndarray) -> np.ndarray:
        lo, hi = self.tlo[arm.name], self.thi[arm.name]
        return 2.0 * (x - lo) / (hi - lo) - 1.0

    def motion(self, arm, e: dict, j: int) -> np.ndarray:
        """The arm joints' velocities the driver reported at sample j (JointState.velocity, rad/s),
        in normalized units per second: ``velocity_scale`` times rad/s, as the runtime feeds them."""
        v = e["velocities"]
        if v is None or not np.isfinite(v[j]).all():
            raise ValueError(f"{e['file']}: no joint velocities for sample {j} (a cache from before they were "
                             "recorded, or joint states without velocity): re-run `features` on demonstrations "
                             "whose /joint_states carry velocities")
        return v[j] * self.vscale[arm.name]

    def make(self, idx: np.ndarray, rng: np.random.Generator, stale: bool) -> dict[str, torch.Tensor]:
        h = self.cfg.head
        b = len(idx)
        eps = [self.demos.eps[i] for i, _ in idx]
        lmax = max(e["feats"].shape[1] for e in eps)
        hidden = np.zeros((b, lmax, self.demos.d), np.float32)
        mask = np.zeros((b, lmax), np.int64)
        state = np.zeros((b, h.state_dim), np.float32)
        future = np.zeros((b, h.state_dim), np.float32)
        actions = np.zeros((b, h.horizon, h.action_dim), np.float32)
        s_used = np.zeros((b, h.state_dim), np.float32)
        a_used = np.zeros((b, h.action_dim), np.float32)
        emb = np.zeros(b, np.int64)
        n_cls = len(eps[0]["has_loc"])
        loc = np.zeros((b, n_cls, 3), np.float32)
        has_loc = np.zeros((b, n_cls), bool)
        for r, ((_, j), e) in enumerate(zip(idx, eps)):
            arm = e["arm"]
            # feats holds the frames in time order: row 0 is the episode's first
            frame = 0 if self.first_frame else e["fidx"][j, int(rng.integers(0, STALE_FRAMES + 1)) if stale else 0]
            feats = e["feats"][frame]
            hidden[r, : len(feats)] = feats
            mask[r, : len(feats)] = 1
            si, ai = list(arm.state_indices), list(arm.action_indices)
            state[r, si] = self.norm(arm, e["states"][j])
            if self.cfg.head.state_motion:
                state[r, VELOCITY_SLOT : VELOCITY_SLOT + arm.dims - 1] = self.motion(arm, e, j)
            future[r, si] = self.norm(arm, e["future"][j])
            s_used[r, si] = 1.0
            if self.ee:
                g = ai[-1]
                state[r, TCP_SLOTS] = self.norm_tcp(arm, e["tcp_states"][j])
                future[r, TCP_SLOTS] = self.norm_tcp(arm, e["tcp_future"][j])
                s_used[r, TCP_SLOTS] = 1.0
                actions[r][:, TCP_SLOTS] = self.norm_tcp(arm, e["tcp_chunks"][j])
                actions[r][:, g] = self.norm(arm, e["chunks"][j])[:, -1]
                a_used[r, TCP_SLOTS + [g]] = 1.0
            else:
                actions[r][:, ai] = self.norm(arm, e["chunks"][j])
                a_used[r, ai] = 1.0
            emb[r] = arm.model_id
            loc[r] = e["loc"]
            has_loc[r] = e["has_loc"] & e["untouched"][j]
        if stale:
            state += s_used * rng.normal(0.0, self.state_noise, state.shape).astype(np.float32)
        if stale and self.corrective_noise:  # drawn last: the rows, frames and noise stay the control run's
            for r, e in enumerate(eps):
                if rng.random() < CORRECTIVE_ROWS:
                    self.corrective(e["arm"], state[r], actions[r], rng)
        t = {k: torch.from_numpy(v) for k, v in dict(hidden=hidden, mask=mask, state=state, future=future,
                                                      actions=actions, s_used=s_used, a_used=a_used, emb=emb,
                                                      loc=loc, has_loc=has_loc).items()}
        if stale and self.context_swap > 0:
            t.update(self._swapped_context(eps, rng))
        if self.goal_frames:
            t.update(self._goal_frames(eps))
        return t

    def corrective(self, arm, state: np.ndarray, chunk: np.ndarray, rng: np.random.Generator) -> None:
        """Moves one row off the demonstrated path, in place: the arm joints' state by a draw of
        ``corrective_noise`` (rad, each joint: 0.03 moves the TCP about 3 cm on the Panda and the
        xArms, 2 cm on the WidowX), and the chunk by the same offset fading
        linearly to none at its last point, so the label is the way back onto the demonstration, not
        a jump to it. The demonstrations alone pair every state with its own scene's path, so a head
        fitted to many scenes can tell from the state which path it is on and follow it (the copycat
        shortcut); off the path the state no longer names the scene and the intent has to. The jaw,
        the images and the future target stay the demonstration's."""
        h, n = chunk.shape[0], arm.dims - 1
        s_joints, a_joints = list(arm.state_indices)[:n], list(arm.action_indices)[:n]
        lo, hi = self.lo[arm.name][:n], self.hi[arm.name][:n]
        delta = (rng.normal(0.0, self.corrective_noise, n) * 2.0 / (hi - lo)).astype(np.float32)  # normalized
        state[s_joints] += delta
        chunk[:, a_joints] += (1.0 - np.arange(1, h + 1, dtype=np.float32) / h)[:, None] * delta[None, :]

    def _padded(self, feats: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
        """One frame pair's features per row, zero-padded to the longest, and the mask of the real tokens."""
        lmax = max(len(f) for f in feats)
        hidden = np.zeros((len(feats), lmax, self.demos.d), np.float32)
        mask = np.zeros((len(feats), lmax), np.int64)
        for r, f in enumerate(feats):
            hidden[r, : len(f)] = f
            mask[r, : len(f)] = 1
        return torch.from_numpy(hidden), torch.from_numpy(mask)

    def _goal_frames(self, eps: list[dict]) -> dict[str, torch.Tensor]:
        """Each row's episode's first frame pair (feats row 0): the scene when the goal arrived."""
        hidden, mask = self._padded([e["feats"][0] for e in eps])
        return {"hidden_goal": hidden, "mask_goal": mask}

    def _swapped_context(self, eps: list[dict], rng: np.random.Generator) -> dict[str, torch.Tensor]:
        """For a ``context_swap`` fraction of the rows, the features of a frame of another episode of
        the same pair (``swap`` marks them): the head then sees another scene's intent beside this
        scene's object offsets and can only place the chunk from the offsets."""
        b = len(eps)
        picked = []
        for e in eps:
            others = [i for i in self.demos.episodes_of[(e["embodiment"], e["task"])] if self.demos.eps[i] is not e]
            o = self.demos.eps[others[int(rng.integers(len(others)))]] if others else e
            picked.append(o["feats"][o["fidx"][int(rng.integers(len(o["fidx"]))), 0]])
        hidden, mask = self._padded(picked)
        swap = rng.random(b) < self.context_swap
        return {"hidden_swap": hidden, "mask_swap": mask, "swap": torch.from_numpy(swap)}


# ---- training -------------------------------------------------------------------------------


class Policy(torch.nn.Module):
    """The bridge and the head (exported), and ``locate_query``/``locate``: a training-only head that
    reads the objects' places from the intent tokens (``stage1.pooled_positions``), so the intent
    carries them for the head to act on."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        from .qa import SEG_CLASSES

        self.bridge = IntentBridge(cfg.backbone.d, cfg.bridge)
        self.head = PolicyHead(cfg.head, cfg.bridge.d_intent)
        d, c = cfg.bridge.d_intent, len(SEG_CLASSES)
        with torch.random.fork_rng():  # the global stream after construction is what it was without them
            self.locate_query = torch.nn.Linear(d, c)
            self.locate = torch.nn.Linear(d, 3 * c)

    def intents(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """(the current frames' intent, the head's context): the same tensor, or for a goal-intent head
        the goal's intent followed by the current one, as the runtime composes them."""
        intent = self.bridge(batch["hidden"], batch["mask"])
        if not self.head.cfg.goal_intent:
            return intent, intent
        return intent, torch.cat([self.bridge(batch["hidden_goal"], batch["mask_goal"]), intent], dim=1)

    def locate_objects(self, intent: torch.Tensor) -> torch.Tensor:
        if self.head.cfg.object_offsets:  # the head's own locate layers, exported with it
            return self.head.objects(intent)
        from .stage1 import pooled_positions

        return pooled_positions(self.locate_query, self.locate, intent)


def load_policy(ck: dict) -> tuple[Policy, ModelConfig]:
    """The policy (eval mode) and its config from a training checkpoint. Checkpoints from before the
    locate head load without it (the exported graphs never had it)."""
    c = ck["config"]
    cfg = ModelConfig(BackboneConfig(**c["backbone"]), BridgeConfig(**c["bridge"]), HeadConfig(**c["head"]))
    policy = Policy(cfg).eval()
    _load_weights(policy, ck)
    return policy, cfg


def _load_weights(policy: Policy, ck: dict) -> None:
    missing, unexpected = policy.load_state_dict(ck["policy"], strict=False)
    # a checkpoint from before the offset scale has none: train() sets it from the data
    if unexpected or any(not (k.startswith(("locate", "head.locate")) or k in ("head.offset_scale", "head.object_frame", "head.state_view",
                                                                                "head.intent_segment"))
                         for k in missing):
        raise ValueError(f"checkpoint does not match the policy: missing {missing}, unexpected {unexpected}")


def losses(policy: Policy, batch: dict, rng: torch.Generator, locate: bool = True,
           first_step: float = 0.0) -> tuple[torch.Tensor, ...]:
    """``first_step``: the fraction of the rows put at flow time 0, the only time the agent's one-step
    sampler (``denoise_steps: 1``) evaluates; the rest keep the usual mix of times."""
    x1 = batch["actions"]
    b = x1.shape[0]
    noise = torch.randn(x1.shape, generator=rng)
    t = torch.rand(b, generator=rng)
    pick = torch.rand(b, generator=rng) < 0.5
    grid = torch.tensor(SAMPLER_TIMES)[torch.randint(len(SAMPLER_TIMES), (b,), generator=rng)]
    t = torch.where(pick, grid, t)
    if first_step > 0:  # drawn only then, so the runs before it keep their random streams
        t = torch.where(torch.rand(b, generator=rng) < first_step, torch.zeros_like(t), t)
    xt = (1.0 - t[:, None, None]) * noise + t[:, None, None] * x1
    intent, context = policy.intents(batch)
    if "swap" in batch:
        other = policy.bridge(batch["hidden_swap"], batch["mask_swap"])
        context = torch.where(batch["swap"][:, None, None], other, intent)
    pred, fut = policy.head.forward_train(xt, t, batch["state"], batch["emb"], context, places_from=intent)
    used = batch["a_used"][:, None, :]
    flow = ((pred - x1) ** 2 * used).sum() / (used.sum() * x1.shape[1])
    s_used = batch["s_used"]
    # a trunk that cannot see where the arm is predicts where it goes from here instead
    target = batch["future"] - batch["state"] if policy.head.cfg.state_blind else batch["future"]
    future = ((fut - target) ** 2 * s_used).sum() / s_used.sum()
    m = batch["has_loc"]
    loc = (F.smooth_l1_loss(policy.locate_objects(intent)[m], batch["loc"][m], beta=LOCATE_BETA)
           if locate and bool(m.any()) else intent.sum() * 0.0)
    return flow, future, loc


@torch.no_grad()
def validate(policy: Policy, batcher: Batcher, idx: np.ndarray, steps: int = 4, locate: bool = False) -> dict:
    """Sampled chunks (fixed noise, the runtime's Euler steps) against the demonstrations, normalized
    units; with locate (a policy trained with the locate loss), the locate head's error in cm."""
    from .stage1 import loc_unit

    policy.eval()
    errs, firsts, where = [], [], []
    for k in range(0, len(idx), 256):
        part = idx[k : k + 256]
        batch = batcher.make(part, np.random.default_rng(0), stale=False)
        noise = torch.randn(batch["actions"].shape, generator=torch.Generator().manual_seed(k))
        intent, context = policy.intents(batch)
        x = euler_sample(policy.head, noise, batch["state"], batch["emb"], context, steps)
        used = batch["a_used"][:, None, :]
        err = ((x - batch["actions"]).abs() * used).amax(dim=2)  # [B, H]
        errs.append(err.mean(dim=1))
        firsts.append(err[:, 0])
        if locate:
            off = (policy.locate_objects(intent) - batch["loc"]).norm(dim=-1)  # [B, classes], locate units
            for r, c in zip(*np.nonzero(batch["has_loc"].numpy())):
                where.append(100 * loc_unit(batcher.demos.eps[part[r][0]]["embodiment"]) * float(off[r, c]))
    policy.train()
    e, f = torch.cat(errs), torch.cat(firsts)
    out = {"chunk_max_abs_err_mean": float(e.mean()), "first_point_max_abs_err_mean": float(f.mean())}
    if where:
        out["objects_from_intent"] = {"objects": len(where), "median_cm": round(float(np.median(where)), 2),
                                      "p90_cm": round(float(np.percentile(where, 90)), 2)}
    return out


@torch.no_grad()
def diagnose(cache: Path, ckpt_path: Path, near_z: float = 0.06, seed: int = 0, on: str = "held_out") -> dict:
    """Where the policy sends the TCP near the table, on the held-out demonstrations (``on="train"``:
    on as many samples of each pair's training episodes, to tell a policy that does not generalize
    from one that does not fit). Per pair: the
    horizontal distance (cm) between the TCP at the end of the sampled chunk (one Euler step, the
    agent's default) and at the end of the expert's, over samples where either is below near_z (m),
    where grasps and pushes are won or lost; once with each sample's own intent and once with the
    intent of another held-out sample of the same pair: the gap is what the policy reads about the
    objects' places from the images."""
    if on not in ("held_out", "train"):
        raise ValueError(f"diagnose on {on!r}: held_out or train")
    sys.path.insert(0, str(REPO / "sim"))
    from blm_sim.expert.planning import PlanningWorld

    ck = torch.load(ckpt_path, weights_only=False)
    policy, cfg = load_policy(ck)
    demos = Demos(sorted(cache.glob("*/*/seed_*.npz")))
    train_rows, val_rows = split(demos)
    batcher = Batcher(demos, ck["ranges"], cfg, tcp_ranges=ck.get("tcp_ranges"),
                      intent_frame=ck.get("intent_frame", "current"))
    rng = np.random.default_rng(seed)
    out: dict = {}
    # each sample's pair, once (the training pool is ~100k rows)
    pair_of_ep = np.array([demos.pairs.index((e["embodiment"], e["task"])) for e in demos.eps])
    row_pair = pair_of_ep[demos.index[:, 0]]
    for p, pair in enumerate(demos.pairs):
        rows = val_rows[row_pair[val_rows] == p]
        if on == "train":
            pool = train_rows[row_pair[train_rows] == p]
            rows = np.sort(rng.choice(pool, size=min(len(pool), max(len(rows), 64)), replace=False)) if len(pool) else pool
        if not len(rows):
            continue
        idx = demos.index[rows]
        batch = batcher.make(idx, np.random.default_rng(0), stale=False)
        _, intent = policy.intents(batch)  # the head's whole context: shuffled below as one
        arm = ARM_BY_NAME[pair[0]]
        ai = list(arm.action_indices)
        lo, hi = batcher.lo[arm.name], batcher.hi[arm.name]
        world = PlanningWorld(pair[1], pair[0])
        tcp = lambda q: world.fk(np.asarray(q[:-1], dtype=float))[0]  # noqa: E731
        res = {}
        for name, it in (("own_intent", intent), ("shuffled_intent", intent[torch.from_numpy(rng.permutation(len(rows)))])):
            x = euler_sample(policy.head, torch.zeros_like(batch["actions"]), batch["state"], batch["emb"], it, 1)
            d = []
            for r, (ei, j) in enumerate(idx):
                if batcher.ee:
                    tlo, thi = batcher.tlo[arm.name], batcher.thi[arm.name]
                    p = ((x[r][-1, TCP_SLOTS].numpy() + 1) / 2 * (thi - tlo) + tlo)[:3]
                else:
                    p = tcp((x[r][-1, ai].numpy() + 1) / 2 * (hi - lo) + lo)
                e = tcp(demos.eps[ei]["chunks"][j][-1])
                if min(p[2], e[2]) < near_z:
                    d.append(100 * float(np.linalg.norm(p[:2] - e[:2])))
            res[name] = {"samples": len(d), "median_cm": round(float(np.median(d)), 2) if d else None}
        out["/".join(pair)] = res
        print(pair, res, flush=True)
    own = [v["own_intent"]["median_cm"] for v in out.values() if v["own_intent"]["median_cm"] is not None]
    shuf = [v["shuffled_intent"]["median_cm"] for v in out.values() if v["shuffled_intent"]["median_cm"] is not None]
    return {"near_z_m": near_z, "on": on, "pairs": out, "mean_of_medians_cm": {"own_intent": round(float(np.mean(own)), 2),
                                                                     "shuffled_intent": round(float(np.mean(shuf)), 2)}}


def held_out_files(cache: Path) -> list[Path]:
    """The cached episodes of the last seed of every pair (the held-out split), without loading the rest."""
    last: dict[Path, Path] = {}
    for f in cache.glob("*/*/seed_*.npz"):
        cur = last.get(f.parent)
        if cur is None or int(f.stem.split("_")[1]) > int(cur.stem.split("_")[1]):
            last[f.parent] = f
    return sorted(last.values())


@torch.no_grad()
def offset_sensitivity(cache: Path, ckpt_path: Path, shift_m: float = 0.03, every: int = 5) -> dict:
    """How much an object-offset model places its chunks from the offsets: on held-out samples, every
    object place is moved ``shift_m`` along the world y axis (in the locate layers' output) and the
    chunk's last TCP position (one Euler step from zero noise) is compared with the unmoved one. A
    model that places chunks from the offsets follows by about ``shift_m``; one that ignores them by 0."""
    from .stage1 import loc_unit

    ck = torch.load(ckpt_path, weights_only=False)
    policy, cfg = load_policy(ck)
    if not cfg.head.object_offsets:
        raise ValueError(f"{ckpt_path}: not an object-offset model (train --object-offsets)")
    demos = Demos(held_out_files(cache))
    batcher = Batcher(demos, ck["ranges"], cfg, tcp_ranges=ck["tcp_ranges"])
    rows = demos.index[::every]
    batch = batcher.make(rows, np.random.default_rng(0), stale=False)
    intent = policy.bridge(batch["hidden"], batch["mask"])
    head = policy.head
    out = {}
    for arm in ARMS:
        mine = (batch["emb"] == arm.model_id).numpy()
        if not mine.any():
            continue
        part = {k: v[torch.from_numpy(mine)] for k, v in batch.items()}

        def chunk_end_y(dy_m: float) -> np.ndarray:
            old = head.locate.bias.clone()
            head.locate.bias.add_(torch.tensor([0.0, dy_m / loc_unit(arm.name), 0.0] * cfg.head.n_objects))
            x = euler_sample(head, torch.zeros_like(part["actions"]), part["state"], part["emb"],
                             intent[torch.from_numpy(mine)], 1)
            head.locate.bias.copy_(old)
            return x[:, -1, TCP_SLOTS[1]].numpy()

        lo, hi = ck["tcp_ranges"][arm.name][0][1], ck["tcp_ranges"][arm.name][1][1]
        dy = (chunk_end_y(shift_m) - chunk_end_y(0.0)) / 2 * (hi - lo)
        out[arm.name] = {"samples": int(mine.sum()), "chunk_end_moves_cm": round(100 * float(np.median(dy)), 2)}
    return {"objects_moved_cm": round(100 * shift_m, 2), "arms": out}


def split(demos: Demos) -> tuple[np.ndarray, np.ndarray]:
    """Held out: the last seed of every pair (whole episodes)."""
    by_pair: dict[tuple[str, str], list[int]] = {}
    for e in demos.eps:
        by_pair.setdefault((e["embodiment"], e["task"]), []).append(e["seed"])
    held_ep = np.array([len(by_pair[(e["embodiment"], e["task"])]) > 1 and e["seed"] == max(by_pair[(e["embodiment"], e["task"])])
                        for e in demos.eps])
    held = held_ep[demos.index[:, 0]]
    return np.nonzero(~held)[0], np.nonzero(held)[0]


def train(cache: Path, out: Path, steps: int, batch_size: int, lr: float, seed: int, resume: bool,
          threads: int, ckpt_every: int = 250, locate_weight: float = LOCATE_WEIGHT,
          init: Path | None = None, state_skip: str = "learned", state_noise: float = STATE_NOISE,
          offset_scale: bool = False, state_motion: bool = False, action_space: str = "absolute_joint",
          object_offsets: bool = False, context_swap: float = 0.0, width: int = WIDTH,
          intent_frame: str = "current", state_blind: bool = False, first_step: float = 0.0,
          corrective_noise: float = 0.0) -> dict:
    """``init``: start from another run's checkpoint (its weights and statistics, widened to cover
    this cache's data; a fresh optimizer and schedule over ``steps``), e.g. to go on with more
    demonstrations. With ``state_skip="identity"`` the checkpoint's state -> action map is reset to
    the identity and frozen. With ``offset_scale`` the head's offsets are scaled by their RMS over
    the training samples (``fit_offset_scale``); a checkpoint without a scale starts from nearly its
    own chunks (``PolicyHead.set_offset_scale(keep_output=True)``), one with a scale keeps it."""
    torch.set_num_threads(threads)
    demos = Demos(sorted(cache.glob("*/*/seed_*.npz")))
    train_rows, val_rows = split(demos)
    if object_offsets and locate_weight <= 0:
        raise ValueError("object offsets are read by the locate head: train it (--locate-weight > 0)")
    if not 0.0 <= first_step <= 1.0:
        raise ValueError(f"first_step {first_step}: a fraction of the training rows, in [0, 1]")
    if intent_frame == "goal" and context_swap:
        raise ValueError("--context-swap swaps one intent; a goal-intent head reads two (--intent-frame goal)")
    if context_swap and not object_offsets:
        raise ValueError("--context-swap trains the head to place chunks from the object offsets: it needs --object-offsets")
    cfg = blm_tiny_config(demos.d, state_skip, offset_scale, state_motion, action_space, object_offsets, width,
                          state_blind, goal_intent=intent_frame == "goal")
    out.mkdir(parents=True, exist_ok=True)
    ckpt_path = out / "ckpt.pt"
    torch.manual_seed(seed)
    policy = Policy(cfg)
    opt = torch.optim.AdamW(policy.parameters(), lr=lr, weight_decay=1e-4)
    step, ranges, history = 0, demos.ranges(), []
    tcp_ranges = demos.tcp_ranges() if action_space == "ee_pose" else None
    scale_from_data = offset_scale
    if init is not None and not (resume and ckpt_path.exists()):
        ck = torch.load(init, weights_only=False)
        if ck["config"]["head"]["d_model"] != cfg.head.d_model:
            raise ValueError(f"--init {init} is {ck['config']['head']['d_model']} wide, this run {cfg.head.d_model}: "
                             "a different width trains from scratch")
        _load_weights(policy, ck)
        scale_from_data = offset_scale and "head.offset_scale" not in ck["policy"]
        if state_skip == "identity":
            policy.head.reset_state_skip()
        ranges = union_ranges(ck["ranges"], ranges)
        if tcp_ranges and ck.get("tcp_ranges"):
            tcp_ranges = union_ranges(ck["tcp_ranges"], tcp_ranges)
        print(f"initialized from {init} (its step {ck['step']})", flush=True)
    if resume and ckpt_path.exists():
        ck = torch.load(ckpt_path, weights_only=False)
        policy.load_state_dict(ck["policy"])
        opt.load_state_dict(ck["opt"])
        step, ranges, history = ck["step"], ck["ranges"], ck["history"]
        tcp_ranges = ck.get("tcp_ranges")
        print(f"resumed at step {step}", flush=True)
    batcher = Batcher(demos, ranges, cfg, state_noise, tcp_ranges, context_swap, intent_frame, corrective_noise)
    if object_offsets:
        with torch.no_grad():
            policy.head.object_frame.copy_(object_frame(tcp_ranges))
    if state_blind:
        policy.head.set_state_view(blind_state_view(cfg.head))
    if scale_from_data and step == 0:
        # a stream no training step draws from (those are [seed, step])
        scale = fit_offset_scale(policy.head, batcher, demos.index[train_rows], np.random.default_rng([seed, 2**32 - 1]))
        policy.head.set_offset_scale(scale, keep_output=init is not None)
    p = demos.p[train_rows] / demos.p[train_rows].sum()
    print(f"{len(demos.eps)} episodes, {len(demos.pairs)} pairs, {len(train_rows)} train / {len(val_rows)} held-out samples; "
          f"{sum(x.numel() for x in policy.parameters()) / 1e6:.2f} M parameters", flush=True)
    warmup = max(1, min(200, steps // 10))  # a run of under ten steps has no warm-up to divide by
    t0 = time.monotonic()
    while step < steps:
        # the step's data and noise come from (seed, step): a resumed run continues the same stream
        rng = np.random.default_rng([seed, step])
        trng = torch.Generator().manual_seed(seed * 1_000_003 + step)
        idx = demos.index[rng.choice(train_rows, size=batch_size, p=p)]
        batch = batcher.make(idx, rng, stale=True)
        scale = min(1.0, (step + 1) / warmup) * 0.5 * (1.0 + math.cos(math.pi * step / steps))
        for g in opt.param_groups:
            g["lr"] = lr * scale
        flow, future, loc = losses(policy, batch, trng, locate=locate_weight > 0, first_step=first_step)
        loss = flow + FUTURE_WEIGHT * future + locate_weight * loc
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(policy.parameters(), 1.0)
        opt.step()
        step += 1
        if step % 50 == 0:
            rate = (time.monotonic() - t0) / 50
            t0 = time.monotonic()
            history.append({"step": step, "flow": flow.item(), "future": future.item(), "locate": loc.item()})
            print(f"step {step}/{steps} flow {flow.item():.4f} future {future.item():.4f} locate {loc.item():.4f} "
                  f"({rate:.2f} s/step)", flush=True)
        if step % ckpt_every == 0 or step == steps:
            _save(ckpt_path, policy, opt, step, ranges, history, cfg, seed, demos.layer_k, tcp_ranges, intent_frame)
    report = {"steps": steps, "batch": batch_size, "lr": lr, "seed": seed, "locate_weight": locate_weight,
              "state_skip": state_skip, "state_noise": state_noise, "corrective_noise": corrective_noise,
              "offset_scale": offset_scale,
              "state_motion": state_motion, "action_space": action_space, "object_offsets": object_offsets,
              "context_swap": context_swap, "width": width, "intent_frame": intent_frame, "state_blind": state_blind,
              "first_step": first_step,
              "init": str(init) if init else None,
              "episodes": len(demos.eps),
              "pairs": [list(k) for k in demos.pairs], "train_samples": int(len(train_rows)),
              "held_out_samples": int(len(val_rows)), "final": history[-1] if history else None}
    if len(val_rows):
        report["held_out"] = validate(policy, batcher, demos.index[val_rows], locate=locate_weight > 0)
    (out / "report.json").write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report.get("held_out", {})), flush=True)
    return report


@torch.no_grad()
def fit_offset_scale(head, batcher: Batcher, rows: np.ndarray, rng: np.random.Generator,
                     per_embodiment: int = 4000, floor: float = 1e-3) -> torch.Tensor:
    """[n_embodiments, horizon, action_dim]: the RMS over (up to ``per_embodiment``) training samples of
    each arm of the normalized chunk's offset from the head's state -> action map, at each horizon
    step and dimension, kept in [floor, 1] (never coarser than the statistics); 1 where an arm has no
    data or a dimension is padding."""
    h = head.cfg
    scale = torch.ones(h.n_embodiments, h.horizon, h.action_dim)
    emb_of = np.array([batcher.demos.eps[i]["arm"].model_id for i, _ in rows])
    for e in np.unique(emb_of):
        mine = rows[emb_of == e]
        pick = mine[rng.choice(len(mine), size=min(per_embodiment, len(mine)), replace=False)]
        sq = torch.zeros(h.horizon, h.action_dim)
        for k in range(0, len(pick), 512):
            b = batcher.make(pick[k : k + 512], rng, stale=False)
            off = b["actions"] - head.state_skip(b["state"][:, None, :], b["emb"])
            sq += (off**2 * b["a_used"][:, None, :]).sum(dim=0)
        used = b["a_used"][0] > 0
        rms = (sq / len(pick)).sqrt().clamp(floor, 1.0)
        scale[int(e)][:, used] = rms[:, used]
    return scale


def object_frame(tcp_ranges: dict) -> torch.Tensor:
    """[n_embodiments, 2, 3]: per arm, the scale and shift from the locate head's units (stage1:
    metres from the spawn frame's centre over loc_unit) to the TCP position's normalized units."""
    from blm_sim.scene import spawn_frame_for

    from .stage1 import loc_unit

    frame = torch.zeros(len(ARMS), 2, 3)
    for arm in ARMS:
        lo, hi = np.array(tcp_ranges[arm.name][0][:3]), np.array(tcp_ranges[arm.name][1][:3])
        centre = np.array([spawn_frame_for(arm.name).center_x, 0.0, 0.0])
        frame[arm.model_id, 0] = torch.from_numpy(2.0 * loc_unit(arm.name) / (hi - lo))
        frame[arm.model_id, 1] = torch.from_numpy(2.0 * (centre - lo) / (hi - lo) - 1.0)
    return frame


def union_ranges(a: dict, b: dict) -> dict:
    """Per arm, the smallest min/max that covers both (a checkpoint's statistics stay where the
    new data fits in them, so its weights keep their meaning)."""
    return {n: ([min(x, y) for x, y in zip(a[n][0], b[n][0])], [max(x, y) for x, y in zip(a[n][1], b[n][1])])
            for n in a}


def _save(path: Path, policy, opt, step, ranges, history, cfg, seed, layer_k, tcp_ranges=None,
          intent_frame: str = "current") -> None:
    tmp = path.with_suffix(".tmp")
    torch.save({"policy": policy.state_dict(), "opt": opt.state_dict(), "step": step, "ranges": ranges,
                "tcp_ranges": tcp_ranges, "history": history, "config": asdict(cfg), "seed": seed,
                "layer_k": layer_k, "intent_frame": intent_frame}, tmp)
    os.replace(tmp, path)


# ---- export ---------------------------------------------------------------------------------


def export(ckpt_path: Path, backbone_dir: Path, out: Path, layer_k: int | None) -> dict:
    """The bridge and head from the checkpoint, the Stage I backbone (its layer k) beside them, one manifest."""
    from blm_tools.export import Model, export_graphs, write_manifest

    from . import stage1

    ck = torch.load(ckpt_path, weights_only=False)
    policy, cfg = load_policy(ck)
    model = Model(cfg)
    model.bridge, model.head = policy.bridge, policy.head
    out.mkdir(parents=True, exist_ok=True)
    paths = export_graphs(model, out, names=("intent_bridge", "denoiser"))
    manifest = out / "manifest.json"
    write_manifest(model, out, paths, "blm-tiny", DESCRIPTION, ranges=ck["ranges"], tcp_ranges=ck.get("tcp_ranges"),
                   created_by="models/tools/blm_tiny (stage1.py, stage2.py)")
    stage1.export(backbone_dir, out, layer_k or ck.get("layer_k"), "float32", manifest, ["front", "wrist"])
    return json.loads(manifest.read_text())


DESCRIPTION = (
    "blm-tiny: a small Qwen2.5-VL-architecture backbone trained on the simulator's embodied QA (Stage I), "
    "a Perceiver intent bridge and a DiT flow-matching head trained on the expert's demonstrations of all "
    "four arms and six tasks with the backbone frozen (Stage II)."
)


# ---- fixtures -------------------------------------------------------------------------------


def _enc(x: np.ndarray) -> dict:
    import base64

    dtype = {np.dtype(np.float32): "float32", np.dtype(np.uint8): "uint8", np.dtype(np.int64): "int64"}[x.dtype]
    return {"dtype": dtype, "shape": list(x.shape), "data": base64.b64encode(np.ascontiguousarray(x).tobytes()).decode()}


@torch.no_grad()
def write_fixtures(model_dir: Path, ckpt_path: Path, backbone_dir: Path, demos: Path, steps: int = 4) -> Path:
    """models/<name>/fixtures/episodes.json: per arm, frames from a held-out demonstration (the last
    seed of its PickCube episodes) with the state (and the joint velocities, for a model that reads
    them), the instruction, the PyTorch intent and sampled
    chunk (fixed noise) and the expert's chunk: the runtime's parity on real frames, and whether
    the model moves the way the expert did (tests/unit/models/blm-tiny.test.ts)."""
    from blm_tools.export import denormalize, normalize

    from . import backbone as bb

    ck = torch.load(ckpt_path, weights_only=False)
    policy, cfg = load_policy(ck)
    if cfg.head.goal_intent:
        raise ValueError(f"{ckpt_path}: fixtures hold one intent per frame; a goal-intent model's are not written yet")
    qwen, proc = bb.load(backbone_dir)
    manifest = json.loads((model_dir / "manifest.json").read_text())
    cases = []
    for arm in ARMS:
        eps = sorted((demos / arm.name / "PickCube").glob("seed_*.mcap"), key=lambda p: int(p.stem.split("_")[1]))
        ep = read_episode(eps[-1])
        ts = anchors(ep)
        for t in (ts[len(ts) // 5], ts[len(ts) // 2]):
            f = ep.frame_index(float(t))
            hidden = bb.encode(qwen, proc, [(ep.front[f], ep.wrist[f])], [ep.instruction], ck["layer_k"])[0]
            h = torch.from_numpy(hidden[None].astype(np.float32))
            intent = policy.bridge(h, torch.ones(1, h.shape[1], dtype=torch.int64))
            ent = manifest["embodiments"][arm.name]
            state = ep.state_at(float(t)).astype(np.float32)
            s = torch.zeros(1, cfg.head.state_dim)
            s[0, ent["state"]["indices"]] = torch.from_numpy(normalize(state, ent["state"]["normalization"]))
            moving = ent["state"].get("velocity")
            velocity = ep.velocity_at(float(t)).astype(np.float32)
            if moving:
                s[0, moving["indices"]] = torch.from_numpy(velocity * np.asarray(moving["scale"], np.float32))
            tcp = ent["state"].get("tcp")
            if tcp:  # an ee_pose model reads the measured joints' TCP pose, as the runtime feeds it
                pose = tcp_pose9(arm.name, state[:-1].astype(np.float64)).astype(np.float32)
                s[0, tcp["indices"]] = torch.from_numpy(normalize(pose, tcp["normalization"]))
            g = torch.Generator().manual_seed(1000 + len(cases))
            noise = torch.randn(1, cfg.head.horizon, cfg.head.action_dim, generator=g)
            x = euler_sample(policy.head, noise, s, torch.tensor([arm.model_id]), intent, steps)[0].numpy()
            chunk = denormalize(x[:, ent["action"]["indices"]], ent["action"]["normalization"])
            cases.append({
                "embodiment": arm.name, "episode": str(eps[-1].relative_to(demos)), "t": float(t),
                "instruction": ep.instruction, "steps": steps,
                "front": _enc(ep.front[f]), "wrist": _enc(ep.wrist[f]), "state": _enc(state),
                **({"velocity": _enc(velocity)} if moving else {}),
                "intent": _enc(intent[0].numpy()), "noise": _enc(noise[0].numpy()),
                "chunk": _enc(chunk.astype(np.float32)),
                "expert_chunk": _enc(ep.action_chunk(float(t)).astype(np.float32)),
            })
    out = model_dir / "fixtures" / "episodes.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"torch": torch.__version__.split("+")[0], "cases": cases}) + "\n")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m blm_tiny.stage2")
    sub = ap.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("features")
    f.add_argument("--demos", type=Path, default=REPO / "out" / "train" / "demos")
    f.add_argument("--backbone", type=Path, default=REPO / "out" / "train" / "stage1" / "backbone")
    f.add_argument("--cache", type=Path, default=OUT / "cache")
    f.add_argument("--layer-k", type=int, default=None)
    f.add_argument("--shard", default="0/1", help="i/n: every n-th episode from the i-th")
    t = sub.add_parser("train")
    t.add_argument("--cache", type=Path, default=OUT / "cache")
    t.add_argument("--out", type=Path, default=OUT)
    t.add_argument("--steps", type=int, default=6000)
    t.add_argument("--batch", type=int, default=64)
    t.add_argument("--lr", type=float, default=3e-4)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--threads", type=int, default=1)
    t.add_argument("--resume", action="store_true")
    t.add_argument("--init", type=Path, default=None, help="start from this checkpoint's weights and statistics")
    t.add_argument("--state-skip", choices=["learned", "identity"], default="learned",
                   help="the head's state -> action map: trained, or the identity (the decoder predicts offsets)")
    t.add_argument("--offset-scale", action="store_true",
                   help="scale the head's offsets by their RMS in the data (HeadConfig.offset_scale)")
    t.add_argument("--state-motion", action="store_true",
                   help="the state also carries the arm joints' measured velocities (HeadConfig.state_motion; the "
                        "manifest's state.velocity tells the runtime to feed them)")
    t.add_argument("--state-noise", type=float, default=STATE_NOISE,
                   help="std of the noise added to the training states (normalized units); with the identity "
                        "state map the target chunk stays the demonstration's, so the head learns to steer back")
    t.add_argument("--corrective-noise", type=float, default=0.0,
                   help="std (rad) by which half the rows' arm joints move off the demonstrated "
                        "path, their chunks fading back onto it (Batcher.corrective; 0: off)")
    t.add_argument("--locate-weight", type=float, default=LOCATE_WEIGHT,
                   help="the intent's training-only locate loss (0: off)")
    t.add_argument("--object-offsets", action="store_true",
                   help="ee_pose: feed the head each object's offset from the TCP, placed by its locate layers "
                        "(HeadConfig.object_offsets; needs --locate-weight > 0)")
    t.add_argument("--context-swap", type=float, default=0.0,
                   help="with --object-offsets: the fraction of training rows whose head sees another episode's "
                        "intent (same robot and task) beside this scene's object offsets, so it places chunks from them")
    t.add_argument("--width", type=int, default=WIDTH,
                   help="the bridge's and the head's model dimension (feed-forward twice that)")
    t.add_argument("--intent-frame", choices=list(INTENT_FRAMES), default="current",
                   help="each sample's intent from its own frames; from the episode's first (for an agent that "
                        "encodes the scene once per goal: intent_period_s longer than the episode); or goal: both, "
                        "the head reads the goal's intent and the current one (HeadConfig.goal_intent)")
    t.add_argument("--state-blind", action="store_true",
                   help="the head's trunk reads no arm position (joints, their velocities, the TCP position): each "
                        "chunk's offset from the state comes from the images (HeadConfig.state_blind)")
    t.add_argument("--first-step", type=float, default=0.0,
                   help="the fraction of training rows at flow time 0, where the agent's one-step sampler evaluates")
    t.add_argument("--action-space", choices=["absolute_joint", "ee_pose"], default="absolute_joint",
                   help="what an action row is: the joints, or the TCP pose the runtime's IK reaches (HeadConfig.action_space)")
    e = sub.add_parser("export")
    e.add_argument("--ckpt", type=Path, default=OUT / "ckpt.pt")
    e.add_argument("--backbone", type=Path, default=REPO / "out" / "train" / "stage1" / "backbone")
    e.add_argument("--out", type=Path, default=REPO / "models" / "blm-tiny")
    e.add_argument("--layer-k", type=int, default=None)
    x = sub.add_parser("fixtures")
    x.add_argument("--ckpt", type=Path, default=OUT / "ckpt.pt")
    x.add_argument("--backbone", type=Path, default=REPO / "out" / "train" / "stage1" / "backbone")
    x.add_argument("--model", type=Path, default=REPO / "models" / "blm-tiny")
    x.add_argument("--demos", type=Path, default=REPO / "out" / "train" / "demos")
    x.add_argument("--steps", type=int, default=1, help="Euler steps (the agent's denoise_steps)")
    i = sub.add_parser("import", help="a training checkpoint from an exported model folder (for train --init)")
    i.add_argument("--model", type=Path, default=REPO / "models" / "blm-tiny")
    i.add_argument("--out", type=Path, default=OUT / "imported" / "ckpt.pt")
    o = sub.add_parser("sensitivity", help="how far an object-offset model's chunks follow moved objects -> JSON")
    o.add_argument("--cache", type=Path, default=OUT / "cache")
    o.add_argument("--ckpt", type=Path, default=OUT / "ckpt.pt")
    o.add_argument("--shift-cm", type=float, default=3.0)
    g = sub.add_parser("diagnose", help="held-out TCP placement near the table, own vs shuffled intent -> JSON")
    g.add_argument("--cache", type=Path, default=OUT / "cache")
    g.add_argument("--ckpt", type=Path, default=OUT / "ckpt.pt")
    g.add_argument("--out", type=Path, default=None, help="JSON file (default: beside the checkpoint)")
    g.add_argument("--on", choices=["held_out", "train"], default="held_out",
                   help="the held-out episodes, or as many samples of the training episodes")
    a = ap.parse_args(argv)
    if a.cmd == "sensitivity":
        torch.set_num_threads(1)
        r = offset_sensitivity(a.cache, a.ckpt, a.shift_cm / 100)
        (a.ckpt.parent / "sensitivity.json").write_text(json.dumps(r, indent=1) + "\n")
        print(json.dumps(r))
        return 0
    if a.cmd == "diagnose":
        torch.set_num_threads(1)
        r = diagnose(a.cache, a.ckpt, on=a.on)
        path = a.out or a.ckpt.parent / ("diagnose.json" if a.on == "held_out" else f"diagnose-{a.on}.json")
        path.write_text(json.dumps(r, indent=1) + "\n")
        print(json.dumps(r["mean_of_medians_cm"]), f"-> {path}")
        return 0
    if a.cmd == "import":
        from .policy_import import import_policy

        r = import_policy(a.model, a.out)
        print(f"wrote {a.out} from {a.model} (not imported: {', '.join(r['not_imported'])})")
        return 0
    if a.cmd == "fixtures":
        print(f"wrote {write_fixtures(a.model, a.ckpt, a.backbone, a.demos, a.steps)}")
    elif a.cmd == "features":
        torch.set_num_threads(1)
        i, n = (int(x) for x in a.shard.split("/"))
        print(f"wrote {cache_features(a.demos, a.backbone, a.cache, a.layer_k, shard=(i, n))} episode caches")
    elif a.cmd == "train":
        train(a.cache, a.out, a.steps, a.batch, a.lr, a.seed, a.resume, a.threads, locate_weight=a.locate_weight,
              init=a.init, state_skip=a.state_skip, state_noise=a.state_noise, offset_scale=a.offset_scale,
              state_motion=a.state_motion, action_space=a.action_space, object_offsets=a.object_offsets,
              context_swap=a.context_swap, width=a.width, intent_frame=a.intent_frame,
              state_blind=a.state_blind, first_step=a.first_step, corrective_noise=a.corrective_noise)
    else:
        m = export(a.ckpt, a.backbone, a.out, a.layer_k)
        print(f"exported {a.out}: {sorted(m['graphs'])} + backbone {m['backbone']['kind']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
