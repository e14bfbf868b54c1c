"""A short, seeded flow-matching training of the policy head on a synthetic task.

It gives the test model non-trivial, bounded behaviour (chunks that move from the current state
toward a goal read from the intent tokens, inside [-1, 1] in normalized units) so that parity and
limit tests exercise a real denoising trajectory. It is not a robot policy.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from .config import ModelConfig
from .embodiments import ARMS
from .modules import PolicyHead


def synthetic_batch(cfg: ModelConfig, batch: int, g: torch.Generator, goal_proj: torch.Tensor):
    h = cfg.head
    n_int, d_int = cfg.bridge.n_intent, cfg.bridge.d_intent
    emb = torch.randint(0, len(ARMS), (batch,), generator=g)
    used_a = torch.zeros(batch, h.action_dim)
    used_s = torch.zeros(batch, h.state_dim)
    # state index -> action index of the same joint (joints then gripper, per the definitions)
    s_idx = torch.zeros(batch, max(a.dims for a in ARMS), dtype=torch.int64)
    a_idx = torch.zeros_like(s_idx)
    for b, e in enumerate(emb.tolist()):
        arm = ARMS[e]
        used_a[b, list(arm.action_indices)] = 1
        used_s[b, list(arm.state_indices)] = 1
        s_idx[b, : arm.dims] = torch.tensor(arm.state_indices)
        a_idx[b, : arm.dims] = torch.tensor(arm.action_indices)
    state = (torch.rand(batch, h.state_dim, generator=g) * 1.6 - 0.8) * used_s
    intent = torch.randn(batch, n_int, d_int, generator=g)
    goal = 0.8 * torch.tanh(torch.einsum("bd,bda->ba", intent.mean(1), goal_proj[emb])) * used_a
    # (padding slots of s_idx/a_idx are 0 = joint 1 in both vectors, so they rewrite the same value)
    start = torch.zeros(batch, h.action_dim).scatter(1, a_idx, torch.gather(state, 1, s_idx)) * used_a
    s = torch.arange(1, h.horizon + 1, dtype=torch.float32) / h.horizon
    s = (3 * s**2 - 2 * s**3)[None, :, None]  # smoothstep
    actions = (start[:, None, :] + (goal - start)[:, None, :] * s) * used_a[:, None, :]
    future = torch.zeros(batch, h.state_dim).scatter(1, s_idx, torch.gather(actions[:, -1], 1, a_idx)) * used_s
    return emb, state, intent, actions, used_a, future


def train_head(head: PolicyHead, cfg: ModelConfig, steps: int, seed: int, batch: int = 64, log=print) -> list[float]:
    g = torch.Generator().manual_seed(seed)
    goal_proj = torch.randn(len(ARMS), cfg.bridge.d_intent, cfg.head.action_dim, generator=g) * 2.0
    opt = torch.optim.AdamW(head.parameters(), lr=2e-3, weight_decay=1e-4)
    losses: list[float] = []
    head.train()
    for step in range(steps):
        emb, state, intent, actions, used, future = synthetic_batch(cfg, batch, g, goal_proj)
        noise = torch.randn(actions.shape, generator=g)
        t = torch.rand(batch, generator=g)
        xt = (1 - t)[:, None, None] * noise + t[:, None, None] * actions
        v, fut = head.forward_train(xt, t, state, emb, intent)
        mask = used[:, None, :].expand_as(v)
        loss_fm = ((v - (actions - noise)) ** 2 * mask).sum() / mask.sum()
        loss_future = F.mse_loss(fut, future)  # auxiliary future prediction (training only)
        loss = loss_fm + 0.1 * loss_future
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss_fm.item())
        if step % 100 == 0 or step == steps - 1:
            log(f"step {step:4d}  flow-matching {loss_fm.item():.4f}  future {loss_future.item():.4f}")
    head.eval()
    return losses
