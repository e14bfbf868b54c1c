"""A short, seeded flow-matching training of the policy head on a synthetic task.

The task gives the test model small, smooth, state-conditioned motion that a real executor
accepts (DESIGN decision 15: the arm must actually move in the agent tests): from the current
state s, every joint ramps (smoothstep over the 16-step horizon) toward an intent-dependent goal g
near home, by d = D · tanh((g − s) / D), i.e. at most D per chunk (D = 0.15 rad for the arm
joints, 15 % of the range for the gripper, which so opens or closes slowly). The chunk's first
point is within a few hundredths of a radian of the state and its per-step changes are at most
1.5 · D / 16 ≈ 0.014 rad (≈ 0.28 rad/s at 0.05 s), far inside every arm's velocity and
acceleration limits. The targets are a deterministic function of (state, intent), so the
residual of a sampled chunk is only the network's error in cancelling the sampler's noise; the
flow times of 1-, 4- and 10-step Euler sampling are over-weighted in training and the learning
rate decays to zero, which keeps that residual small; with prediction = "sample" the loss also
weights the second differences of the chunk's error, so what error remains is an offset rather
than jitter. It is not a robot policy.
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F

from .config import ModelConfig
from .embodiments import ARMS, stats_range
from .modules import PolicyHead

# Largest motion of one chunk (rad) for an arm joint, and for the gripper as a fraction of its range.
JOINT_STEP = 0.15
GRIPPER_STEP = 0.15
# The pull toward the goal saturates over this distance (in units of JOINT_STEP / GRIPPER_STEP):
# move = D * tanh((g - s) / (PULL_WIDTH * D)), smooth enough for a tiny network to learn precisely.
PULL_WIDTH = 2.0
# Goals: home + GOAL_REACH * tanh(.) per joint (rad). Base yaw and the last (wrist roll) joint
# move the TCP sideways or not at all, so they get the larger share; the others stay close to
# home so the TCP stays well inside the workspace and above the table.
GOAL_REACH_ROLL = 0.35
GOAL_REACH_OTHER = 0.15
# Weight of the squared second differences of the predicted chunk's error (prediction = "sample").
SMOOTH_WEIGHT = 4.0
# Flow times the Euler sampler visits with 1, 4 and 10 steps; half of every batch trains on them.
SAMPLER_TIMES = sorted({i / n for n in (1, 4, 10) for i in range(n)})


class Task:
    """Per-arm tensors of the synthetic task, in normalized units (the manifest's statistics)."""

    def __init__(self, cfg: ModelConfig) -> None:
        h = cfg.head
        n = len(ARMS)
        self.dims = max(a.dims for a in ARMS)
        k = self.dims
        self.s_idx = torch.zeros(n, k, dtype=torch.int64)
        self.a_idx = torch.zeros(n, k, dtype=torch.int64)
        self.used = torch.zeros(n, k)  # 1 for the arm's joints + gripper, 0 for padding slots
        self.lo = torch.zeros(n, k)
        self.hi = torch.ones(n, k)
        self.home = torch.zeros(n, k)  # embodiment units; gripper: mid-range
        self.step = torch.zeros(n, k)  # D, embodiment units
        self.reach = torch.zeros(n, k)  # goal reach around home, embodiment units
        for e, arm in enumerate(ARMS):
            d = arm.dims
            lo, hi = stats_range(arm)
            self.s_idx[e, :d] = torch.tensor(arm.state_indices)
            self.a_idx[e, :d] = torch.tensor(arm.action_indices)
            self.used[e, :d] = 1
            self.lo[e, :d] = torch.tensor(lo, dtype=torch.float64).float()
            self.hi[e, :d] = torch.tensor(hi, dtype=torch.float64).float()
            nj = d - 1
            self.home[e, :nj] = torch.tensor(arm.home)
            self.home[e, nj] = 0.5 * (lo[-1] + hi[-1])
            self.step[e, :nj] = JOINT_STEP
            self.step[e, nj] = GRIPPER_STEP * (hi[-1] - lo[-1])
            self.reach[e, :nj] = GOAL_REACH_OTHER
            self.reach[e, 0] = GOAL_REACH_ROLL
            self.reach[e, nj - 1] = GOAL_REACH_ROLL
            self.reach[e, nj] = 0.5 * (hi[-1] - lo[-1])
        self.state_dim, self.action_dim, self.horizon = h.state_dim, h.action_dim, h.horizon

    def norm(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        lo, hi = self.lo[emb], self.hi[emb]
        if x.dim() == 3:
            lo, hi = lo[:, None], hi[:, None]
        return 2 * (x - lo) / (hi - lo) - 1

    def denorm(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        lo, hi = self.lo[emb], self.hi[emb]
        if x.dim() == 3:
            lo, hi = lo[:, None], hi[:, None]
        return (x + 1) * 0.5 * (hi - lo) + lo

    def goal(self, intent: torch.Tensor, emb: torch.Tensor, goal_proj: torch.Tensor) -> torch.Tensor:
        """Intent-dependent goal near home, embodiment units [B, dims] (inside the statistics)."""
        z = F.layer_norm(intent, intent.shape[-1:]).mean(1)  # scale-free summary of the intent
        p = torch.tanh(torch.einsum("bd,bdk->bk", z, goal_proj[emb]))
        g = self.home[emb] + self.reach[emb] * p
        return torch.minimum(torch.maximum(g, self.lo[emb]), self.hi[emb])

    def chunk(self, state_units: torch.Tensor, goal: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        """[B, dims] state, goal -> [B, horizon, dims] target chunk, embodiment units."""
        D = self.step[emb].clamp_min(1e-9)
        move = D * torch.tanh((goal - state_units) / (PULL_WIDTH * D))
        s = torch.arange(1, self.horizon + 1, dtype=torch.float32) / self.horizon
        s = 3 * s**2 - 2 * s**3  # smoothstep: starts and ends at rest
        return state_units[:, None, :] + move[:, None, :] * s[None, :, None]

    def scatter(self, x: torch.Tensor, idx: torch.Tensor, emb: torch.Tensor, width: int) -> torch.Tensor:
        """[B, (H,) dims] -> [B, (H,) width], padding slots 0."""
        used = self.used[emb]
        if x.dim() == 3:
            i = idx[emb][:, None, :].expand(-1, x.shape[1], -1)
            out = torch.zeros(x.shape[0], x.shape[1], width)
            # padding slots of idx point at slot 0 with value 0: write them first, real slots last
            return out.scatter(2, i, x * used[:, None, :]).scatter(2, i[..., :1], x[..., :1])
        i = idx[emb]
        out = torch.zeros(x.shape[0], width)
        return out.scatter(1, i, x * used).scatter(1, i[:, :1], x[:, :1])


def synthetic_batch(
    task: Task,
    cfg: ModelConfig,
    batch: int,
    g: torch.Generator,
    goal_proj: torch.Tensor,
    intent_bank: torch.Tensor | None = None,
):
    n_int, d_int = cfg.bridge.n_intent, cfg.bridge.d_intent
    emb = torch.randint(0, len(ARMS), (batch,), generator=g)
    used = task.used[emb]
    # states: half uniform over the statistics' range, half near home (where the agent runs)
    u = torch.rand(batch, task.dims, generator=g) * 2 - 1
    near = task.norm(task.home[emb] + 0.15 * torch.randn(batch, task.dims, generator=g), emb).clamp(-1, 1)
    pick = (torch.rand(batch, 1, generator=g) < 0.5).float()
    s_norm = (pick * near + (1 - pick) * u) * used
    s_units = task.denorm(s_norm, emb)
    intent = torch.randn(batch, n_int, d_int, generator=g)
    if intent_bank is not None:
        # half the intents are what the exported bridge really produces
        j = torch.randint(0, intent_bank.shape[0], (batch,), generator=g)
        real = (torch.rand(batch, generator=g) < 0.5)[:, None, None]
        intent = torch.where(real, intent_bank[j], intent)
    goal = task.goal(intent, emb, goal_proj)
    a_norm = task.norm(task.chunk(s_units, goal, emb), emb) * used[:, None, :]
    state = task.scatter(s_norm, task.s_idx, emb, task.state_dim)
    actions = task.scatter(a_norm, task.a_idx, emb, task.action_dim)
    used_a = task.scatter(used, task.a_idx, emb, task.action_dim)
    future = task.scatter(a_norm[:, -1], task.s_idx, emb, task.state_dim)
    return emb, state, intent, actions, used_a, future


def flow_times(batch: int, g: torch.Generator) -> torch.Tensor:
    """Half uniform in [0, 1), half at the flow times the runtime's Euler sampler visits."""
    t = torch.rand(batch, generator=g)
    grid = torch.tensor(SAMPLER_TIMES)
    on_grid = grid[torch.randint(0, len(grid), (batch,), generator=g)]
    return torch.where(torch.arange(batch) % 2 == 0, t, on_grid)


def train_head(
    head: PolicyHead,
    cfg: ModelConfig,
    steps: int,
    seed: int,
    batch: int = 64,
    log=print,
    intent_bank: torch.Tensor | None = None,
    lr: float = 2e-3,
) -> list[float]:
    """Trains `head` in place; `intent_bank` [N, n_intent, d_intent]: real bridge outputs to mix in."""
    g = torch.Generator().manual_seed(seed)
    task = Task(cfg)
    goal_proj = torch.randn(len(ARMS), cfg.bridge.d_intent, task.dims, generator=g) * 0.5
    opt = torch.optim.AdamW(head.parameters(), lr=lr, weight_decay=1e-4)
    warm = max(1, steps // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda i: min(1.0, (i + 1) / warm) * 0.5 * (1 + math.cos(math.pi * min(i, steps) / steps))
    )
    sample_pred = cfg.head.prediction == "sample"
    losses: list[float] = []
    head.train()
    for step in range(steps):
        emb, state, intent, actions, used, future = synthetic_batch(task, cfg, batch, g, goal_proj, intent_bank)
        noise = torch.randn(actions.shape, generator=g)
        t = flow_times(batch, g)
        xt = (1 - t)[:, None, None] * noise + t[:, None, None] * actions
        out, fut = head.forward_train(xt, t, state, emb, intent)
        target = actions if sample_pred else actions - noise
        mask = used[:, None, :].expand_as(out)
        loss_fm = ((out - target) ** 2 * mask).sum() / mask.sum()
        loss_future = F.mse_loss(fut, future)  # auxiliary future prediction (training only)
        loss = loss_fm + 0.1 * loss_future
        if sample_pred:
            # the chunk's error should be an offset, not jitter: weight its second differences
            # (acceleration; WidowX AI allows only 3.14 rad/s², 0.008 rad per step² at 0.05 s)
            err = (out - target) * mask
            d2 = err[:, 2:] - 2 * err[:, 1:-1] + err[:, :-2]
            loss = loss + SMOOTH_WEIGHT * (d2**2).sum() / mask[:, 2:].sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss_fm.item())
        if step % 500 == 0 or step == steps - 1:
            log(f"step {step:5d}  flow-matching {loss_fm.item():.6f}  future {loss_future.item():.6f}")
    head.eval()
    return losses
