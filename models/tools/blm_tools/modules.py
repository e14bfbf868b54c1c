"""PyTorch modules: stand-in backbone, Perceiver intent bridge, DiT flow-matching policy head.

Attention is written out (matmul + softmax) rather than through scaled_dot_product_attention so the
ONNX graphs are plain opset ops that onnxruntime runs the same on every provider.

Flow-matching convention (GR00T N1.5): x_t = (1 - t) * noise + t * action, t in [0, 1]; the head
predicts the velocity v = action - noise; sampling integrates dx/dt = v from t = 0 (noise) to 1.
With HeadConfig.prediction = "sample" the decoder predicts the clean action chunk instead and the
exported graph returns the equivalent velocity (a - x_t) / (1 - t).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from .config import BackboneConfig, BridgeConfig, HeadConfig

MASK_NEG = -1e9  # additive bias for masked keys
POS_MODES = 4  # cosine modes of the policy head's initial position table
SAMPLE_MIN_REMAINING = 0.01  # prediction = "sample": smallest 1 - t the velocity divides by


def mask_bias(mask: torch.Tensor) -> torch.Tensor:
    """[B, L] int64 (1 = keep) -> [B, 1, 1, L] additive float bias."""
    return ((1.0 - mask.to(torch.float32)) * MASK_NEG)[:, None, None, :]


class Attention(nn.Module):
    def __init__(self, d_q: int, d_kv: int, d: int, n_heads: int) -> None:
        super().__init__()
        assert d % n_heads == 0
        self.h = n_heads
        self.dh = d // n_heads
        self.q = nn.Linear(d_q, d)
        self.k = nn.Linear(d_kv, d)
        self.v = nn.Linear(d_kv, d)
        self.o = nn.Linear(d, d_q)

    def forward(self, x: torch.Tensor, ctx: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
        b = x.shape[0]
        q = self.q(x).reshape(b, -1, self.h, self.dh).transpose(1, 2)
        k = self.k(ctx).reshape(b, -1, self.h, self.dh).transpose(1, 2)
        v = self.v(ctx).reshape(b, -1, self.h, self.dh).transpose(1, 2)
        att = torch.matmul(q, k.transpose(-1, -2)) * (1.0 / math.sqrt(self.dh))
        if bias is not None:
            att = att + bias
        att = torch.softmax(att, dim=-1)
        out = torch.matmul(att, v).transpose(1, 2).reshape(b, -1, self.h * self.dh)
        return self.o(out)


class Mlp(nn.Module):
    def __init__(self, d: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(d, hidden)
        self.fc2 = nn.Linear(hidden, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x), approximate="tanh"))


class EncoderLayer(nn.Module):
    """Pre-norm transformer layer (the stand-in backbone's)."""

    def __init__(self, d: int, n_heads: int, ffn: int) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(d)
        self.attn = Attention(d, d, d, n_heads)
        self.ln2 = nn.LayerNorm(d)
        self.mlp = Mlp(d, ffn)

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        h = self.ln1(x)
        x = x + self.attn(h, h, bias)
        return x + self.mlp(self.ln2(x))


class StandInBackbone(nn.Module):
    """A small vision-language encoder with the real backbone's output contract.

    In:  pixel_values [B, n_cameras, 3, S, S] float32 (preprocessed), input_ids [B, T] int64,
         attention_mask [B, T] int64.
    Out: hidden_states [B, L, D] (after layer_k layers), hidden_mask [B, L] int64, with
         L = n_cameras * patches + T (image tokens first, then text).
    """

    def __init__(self, cfg: BackboneConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.patch_embed = nn.Conv2d(3, cfg.d, kernel_size=cfg.patch, stride=cfg.patch)
        self.tok_embed = nn.Embedding(cfg.vocab_size, cfg.d)
        self.cam_embed = nn.Parameter(torch.randn(cfg.n_cameras, cfg.d) * 0.02)
        self.pos_embed = nn.Parameter(torch.randn(cfg.seq_len, cfg.d) * 0.02)
        self.layers = nn.ModuleList(EncoderLayer(cfg.d, cfg.n_heads, cfg.ffn) for _ in range(cfg.n_layers))

    def forward(
        self, pixel_values: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        c = self.cfg
        b = pixel_values.shape[0]
        p = self.patch_embed(pixel_values.reshape(-1, 3, c.image_size, c.image_size))  # [B*C, D, s, s]
        p = p.flatten(2).transpose(1, 2).reshape(b, c.n_cameras, c.tokens_per_camera, c.d)
        p = (p + self.cam_embed[None, :, None, :]).reshape(b, c.n_cameras * c.tokens_per_camera, c.d)
        x = torch.cat([p, self.tok_embed(input_ids)], dim=1) + self.pos_embed[None]
        image_mask = (attention_mask[:, :1] * 0 + 1).repeat(1, c.n_cameras * c.tokens_per_camera)
        mask = torch.cat([image_mask, attention_mask], dim=1)
        bias = mask_bias(mask)
        for layer in self.layers[: c.layer_k]:
            x = layer(x, bias)
        return x, mask


class PerceiverLayer(nn.Module):
    def __init__(self, d: int, n_heads: int, ffn: int) -> None:
        super().__init__()
        self.ln_lat = nn.LayerNorm(d)
        self.ln_ctx = nn.LayerNorm(d)
        self.attn = Attention(d, d, d, n_heads)
        self.ln_ff = nn.LayerNorm(d)
        self.mlp = Mlp(d, ffn)

    def forward(self, lat: torch.Tensor, ctx: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        q = self.ln_lat(lat)
        kv = torch.cat([self.ln_ctx(ctx), q], dim=1)  # Flamingo: latents also attend to themselves
        lat = lat + self.attn(q, kv, bias)
        return lat + self.mlp(self.ln_ff(lat))


class IntentBridge(nn.Module):
    """Perceiver resampler: [B, L, D] hidden states + [B, L] mask -> [B, n_intent, d_intent]."""

    def __init__(self, d_backbone: int, cfg: BridgeConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.latents = nn.Parameter(torch.randn(cfg.n_intent, cfg.d_latent) * 0.5)
        self.in_proj = nn.Linear(d_backbone, cfg.d_latent)
        self.layers = nn.ModuleList(PerceiverLayer(cfg.d_latent, cfg.n_heads, cfg.ffn) for _ in range(cfg.n_layers))
        self.ln_out = nn.LayerNorm(cfg.d_latent)
        self.out_proj = nn.Linear(cfg.d_latent, cfg.d_intent)

    def forward(self, hidden_states: torch.Tensor, hidden_mask: torch.Tensor) -> torch.Tensor:
        ctx = self.in_proj(hidden_states)
        lat = self.latents[None].expand(hidden_states.shape[0], -1, -1)
        # keys are [ctx (masked), latents (always kept)]
        latent_keep = (hidden_mask[:, :1] * 0 + 1).repeat(1, self.cfg.n_intent)
        bias = mask_bias(torch.cat([hidden_mask, latent_keep], dim=1))
        for layer in self.layers:
            lat = layer(lat, ctx, bias)
        return self.out_proj(self.ln_out(lat))


def sinusoidal(t: torch.Tensor, dim: int) -> torch.Tensor:
    """[B] -> [B, dim]: [sin(t w_i), cos(t w_i)], w_i = 10000^(-i / (dim/2))."""
    half = dim // 2
    freqs = torch.exp(torch.arange(half, dtype=torch.float32) * (-math.log(10000.0) / half))
    args = t[:, None].to(torch.float32) * freqs[None]
    return torch.cat([torch.sin(args), torch.cos(args)], dim=-1)


class CategorySpecificLinear(nn.Module):
    """One weight matrix per embodiment, gathered by index so one graph serves all embodiments."""

    def __init__(self, n_cat: int, d_in: int, d_out: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(n_cat, d_in, d_out) / math.sqrt(d_in))
        self.bias = nn.Parameter(torch.zeros(n_cat, d_out))

    def forward(self, x: torch.Tensor, cat: torch.Tensor) -> torch.Tensor:
        """x [B, N, d_in], cat [B] int64 -> [B, N, d_out]."""
        return torch.bmm(x, self.weight[cat]) + self.bias[cat][:, None, :]


class CategorySpecificMlp(nn.Module):
    def __init__(self, n_cat: int, d_in: int, hidden: int, d_out: int) -> None:
        super().__init__()
        self.l1 = CategorySpecificLinear(n_cat, d_in, hidden)
        self.l2 = CategorySpecificLinear(n_cat, hidden, d_out)

    def forward(self, x: torch.Tensor, cat: torch.Tensor) -> torch.Tensor:
        return self.l2(F.relu(self.l1(x, cat)), cat)


class ActionEncoder(nn.Module):
    """GR00T's multi-embodiment action encoder: W3(swish(W2([W1 a, tau(t)])))."""

    def __init__(self, cfg: HeadConfig) -> None:
        super().__init__()
        self.cfg = cfg
        d = cfg.d_model
        self.w1 = CategorySpecificLinear(cfg.n_embodiments, cfg.action_dim, d)
        self.w2 = CategorySpecificLinear(cfg.n_embodiments, 2 * d, d)
        self.w3 = CategorySpecificLinear(cfg.n_embodiments, d, d)

    def forward(self, actions: torch.Tensor, t: torch.Tensor, cat: torch.Tensor) -> torch.Tensor:
        a = self.w1(actions, cat)
        tau = sinusoidal(t * self.cfg.time_scale, self.cfg.d_model)[:, None, :].expand(-1, actions.shape[1], -1)
        x = F.silu(self.w2(torch.cat([a, tau], dim=-1), cat))
        return self.w3(x, cat)


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return x * (1.0 + scale[:, None, :]) + shift[:, None, :]


class DiTBlock(nn.Module):
    """AdaLN on the flow-time embedding; self-attention over [state, actions]; cross-attention to intent."""

    def __init__(self, cfg: HeadConfig) -> None:
        super().__init__()
        d = cfg.d_model
        self.ln1 = nn.LayerNorm(d, elementwise_affine=False)
        self.self_attn = Attention(d, d, d, cfg.n_heads)
        self.ln2 = nn.LayerNorm(d, elementwise_affine=False)
        self.cross_attn = Attention(d, d, d, cfg.n_heads)
        self.ln3 = nn.LayerNorm(d, elementwise_affine=False)
        self.mlp = Mlp(d, cfg.ffn)
        self.ada = nn.Linear(d, 9 * d)  # shift/scale/gate for each of the three sub-layers

    def forward(self, x: torch.Tensor, ctx: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        s1, c1, g1, s2, c2, g2, s3, c3, g3 = self.ada(F.silu(temb)).chunk(9, dim=-1)
        h = modulate(self.ln1(x), s1, c1)
        x = x + g1[:, None, :] * self.self_attn(h, h)
        x = x + g2[:, None, :] * self.cross_attn(modulate(self.ln2(x), s2, c2), ctx)
        return x + g3[:, None, :] * self.mlp(modulate(self.ln3(x), s3, c3))


def pooled_positions(query: nn.Linear, project: nn.Linear, h: torch.Tensor) -> torch.Tensor:
    """[rows, tokens, D] -> [rows, classes, 3]: per class, attention pooling over the tokens (``query``
    gives each class's logit on each token), then that class's position (``project``: D -> 3 x classes)."""
    c = query.out_features
    w = torch.softmax(query(h), dim=1)  # [R, T, C]
    pooled = torch.einsum("rtc,rtd->rcd", w, h)
    out = project(pooled).view(h.shape[0], c, c, 3)
    return torch.diagonal(out, dim1=1, dim2=2).permute(0, 2, 1)  # class c's own outputs


# First padded state slot of the object offsets (HeadConfig.object_offsets): 3 per class, above every
# slot an action maps (the identity state -> action map covers slots below action_dim).
OBJECT_SLOT = 32
# The first padded slot of the TCP position in an ee_pose model's state (blm_tools.embodiments.TCP_SLOT).
_TCP_SLOT = 16


class PolicyHead(nn.Module):
    """Flow-matching DiT action head. `forward` is the one-step denoiser that is exported.

    The future-prediction head (`predict_future`) is an auxiliary training output: from the
    state token's final hidden state it predicts the normalized state at the end of the chunk.
    It only shapes the shared trunk during training and is not part of the exported denoiser.
    """

    def __init__(self, cfg: HeadConfig, d_intent: int) -> None:
        super().__init__()
        self.cfg = cfg
        d = cfg.d_model
        self.state_encoder = CategorySpecificMlp(cfg.n_embodiments, cfg.state_dim, cfg.enc_hidden, d)
        self.action_encoder = ActionEncoder(cfg)
        self.action_decoder = CategorySpecificMlp(cfg.n_embodiments, d, cfg.enc_hidden, cfg.action_dim)
        self.time_mlp = nn.Sequential(nn.Linear(d, d), nn.SiLU(), nn.Linear(d, d))
        # Learned position table, initialized N(0, 1)-sized (like GR00T's nn.Embedding) but smooth along
        # the horizon (random mixes of the lowest cosine modes): the action tokens are told apart from
        # the start without per-token jitter that training would have to remove.
        k = torch.arange(cfg.horizon + 1, dtype=torch.float32)[:, None] / cfg.horizon
        basis = torch.cos(math.pi * k * torch.arange(POS_MODES, dtype=torch.float32)[None, :])
        self.pos_embed = nn.Parameter(basis @ torch.randn(POS_MODES, d) / math.sqrt(POS_MODES) * math.sqrt(2.0))
        self.intent_norm = nn.LayerNorm(d_intent)
        self.intent_proj = nn.Linear(d_intent, d)
        self.blocks = nn.ModuleList(DiTBlock(cfg) for _ in range(cfg.n_layers))
        self.ln_out = nn.LayerNorm(d, elementwise_affine=False)
        self.ada_out = nn.Linear(d, 2 * d)
        self.future_head = nn.Sequential(nn.Linear(d, cfg.enc_hidden), nn.GELU(), nn.Linear(cfg.enc_hidden, cfg.state_dim))
        if cfg.prediction == "sample":
            # state -> action skip, initialized to the shared padded layout (state slot i = action slot i)
            self.state_skip = CategorySpecificLinear(cfg.n_embodiments, cfg.state_dim, cfg.action_dim)
            self.reset_state_skip()
            if cfg.state_skip == "identity":
                self.state_skip.requires_grad_(False)
            elif cfg.state_skip != "learned":
                raise ValueError(f"state_skip must be 'learned' or 'identity', got {cfg.state_skip!r}")
        elif cfg.prediction != "velocity":
            raise ValueError(f"prediction must be 'velocity' or 'sample', got {cfg.prediction!r}")
        if cfg.object_offsets:
            if cfg.action_space != "ee_pose":
                raise ValueError("object_offsets needs action_space = 'ee_pose' (offsets from the TCP in the state)")
            if OBJECT_SLOT + 3 * cfg.n_objects > cfg.state_dim or OBJECT_SLOT < cfg.action_dim:
                raise ValueError(f"object offsets need state slots {OBJECT_SLOT}..{OBJECT_SLOT + 3 * cfg.n_objects} "
                                 f"above action_dim {cfg.action_dim} and inside state_dim {cfg.state_dim}")
            self.locate_query = nn.Linear(d_intent, cfg.n_objects)
            self.locate = nn.Linear(d_intent, 3 * cfg.n_objects)
            # per embodiment, locate units -> normalized TCP position units: x * frame[0] + frame[1]
            self.object_frame = nn.Parameter(torch.stack([torch.ones(cfg.n_embodiments, 3),
                                                          torch.zeros(cfg.n_embodiments, 3)], dim=1),
                                             requires_grad=False)
        if cfg.offset_scale:
            if cfg.prediction != "sample":
                raise ValueError("offset_scale needs prediction = 'sample' (it scales the offset from the state)")
            # a frozen parameter rather than a buffer: exported as a named initializer, imported back by name
            self.offset_scale = nn.Parameter(torch.ones(cfg.n_embodiments, cfg.horizon, cfg.action_dim),
                                             requires_grad=False)
        if cfg.state_blind:
            # which state slots the trunk reads, per embodiment (set by training from the arms'
            # layout: ``set_state_view``); frozen, exported as a named initializer like the scale
            self.state_view = nn.Parameter(torch.ones(cfg.n_embodiments, cfg.state_dim), requires_grad=False)
        if cfg.goal_intent:
            if cfg.object_offsets:
                raise ValueError("goal_intent and object_offsets: the offsets' places are read from one intent")
            # which half of the context a token came from; random, so the two halves differ from the start
            self.intent_segment = nn.Parameter(torch.randn(2, d) * 0.1)

    @torch.no_grad()
    def reset_state_skip(self) -> None:
        """The state -> action map back to the identity of the shared padded layout."""
        k = min(self.cfg.state_dim, self.cfg.action_dim)
        self.state_skip.weight.zero_()
        self.state_skip.weight[:, range(k), range(k)] = 1.0
        self.state_skip.bias.zero_()

    @torch.no_grad()
    def set_offset_scale(self, scale: torch.Tensor, keep_output: bool = False) -> None:
        """Sets the offset scale [n_embodiments, horizon, action_dim]. With keep_output, the decoder's
        last layer is divided by each dimension's scale averaged over the horizon, so a decoder trained
        without it (scale 1) starts from nearly the same chunks: exactly where the scale is flat along
        the horizon (the decoder is shared by the horizon's tokens, so a per-step profile cannot be
        folded into it)."""
        old = self.offset_scale.clone()
        self.offset_scale.copy_(scale)
        if keep_output:
            ratio = (old / self.offset_scale).mean(dim=1)  # [n_embodiments, action_dim]
            self.action_decoder.l2.weight.mul_(ratio[:, None, :])
            self.action_decoder.l2.bias.mul_(ratio)

    @torch.no_grad()
    def set_state_view(self, view: torch.Tensor) -> None:
        """[n_embodiments, state_dim] of 0/1: the state slots the trunk reads (HeadConfig.state_blind)."""
        if view.shape != self.state_view.shape or not bool(((view == 0) | (view == 1)).all()):
            raise ValueError(f"state view must be 0/1 of shape {tuple(self.state_view.shape)}, got {tuple(view.shape)}")
        self.state_view.copy_(view)

    def mark_goal_and_current(self, ctx: torch.Tensor) -> torch.Tensor:
        """[B, 2n, D]: the goal's n tokens, then the current n, each plus its segment vector."""
        if ctx.shape[1] % 2:
            raise ValueError(f"a goal-intent head takes the goal's and the current tokens, got {ctx.shape[1]} tokens")
        n = ctx.shape[1] // 2
        return torch.cat([ctx[:, :n] + self.intent_segment[0], ctx[:, n:] + self.intent_segment[1]], dim=1)

    def objects(self, intent: torch.Tensor) -> torch.Tensor:
        """[B, n_objects, 3]: where the intent places each object class, in locate units."""
        return pooled_positions(self.locate_query, self.locate, intent)

    def with_object_offsets(self, state: torch.Tensor, embodiment_id: torch.Tensor, intent: torch.Tensor) -> torch.Tensor:
        """The state with each object's offset from the TCP at slots OBJECT_SLOT..; the places are
        detached, so the policy loss does not bend what the locate loss teaches."""
        frame = self.object_frame[embodiment_id]  # [B, 2, 3]
        places = self.objects(intent).detach() * frame[:, None, 0] + frame[:, None, 1]
        offsets = (places - state[:, None, _TCP_SLOT : _TCP_SLOT + 3]).flatten(1)
        end = OBJECT_SLOT + offsets.shape[1]
        return torch.cat([state[:, :OBJECT_SLOT], offsets, state[:, end:]], dim=1)

    def trunk(
        self,
        noisy_actions: torch.Tensor,
        flow_time: torch.Tensor,
        state: torch.Tensor,
        embodiment_id: torch.Tensor,
        intent: torch.Tensor,
        places_from: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``places_from``: the intent the object places are read from (training only: the context
        intent may then be another scene's; the exported graph reads both from one)."""
        temb = self.time_mlp(sinusoidal(flow_time * self.cfg.time_scale, self.cfg.d_model))
        if self.cfg.object_offsets:
            state = self.with_object_offsets(state, embodiment_id, intent if places_from is None else places_from)
        if self.cfg.state_blind:
            state = state * self.state_view[embodiment_id]  # the skip in decode() still sees all of it
        s = self.state_encoder(state[:, None, :], embodiment_id)
        if self.cfg.prediction == "sample":
            noisy_actions = noisy_actions * flow_time[:, None, None]
        a = self.action_encoder(noisy_actions, flow_time, embodiment_id)
        x = torch.cat([s, a], dim=1) + self.pos_embed[None]
        ctx = self.intent_proj(self.intent_norm(intent))
        if self.cfg.goal_intent:
            ctx = self.mark_goal_and_current(ctx)
        for block in self.blocks:
            x = block(x, ctx, temb)
        shift, scale = self.ada_out(F.silu(temb)).chunk(2, dim=-1)
        return modulate(self.ln_out(x), shift, scale), temb

    def forward(
        self,
        noisy_actions: torch.Tensor,
        flow_time: torch.Tensor,
        state: torch.Tensor,
        embodiment_id: torch.Tensor,
        intent: torch.Tensor,
    ) -> torch.Tensor:
        h, _ = self.trunk(noisy_actions, flow_time, state, embodiment_id, intent)
        out = self.decode(h, state, embodiment_id)
        if self.cfg.prediction == "sample":
            return self.sample_to_velocity(out, noisy_actions, flow_time)
        return out

    def decode(self, h: torch.Tensor, state: torch.Tensor, embodiment_id: torch.Tensor) -> torch.Tensor:
        """The action tokens' decoder output: the velocity, or with prediction = "sample" the clean chunk."""
        out = self.action_decoder(h[:, 1:], embodiment_id)
        if self.cfg.offset_scale:
            out = out * self.offset_scale[embodiment_id]
        if self.cfg.prediction == "sample":
            out = out + self.state_skip(state[:, None, :], embodiment_id)
        return out

    @staticmethod
    def sample_to_velocity(sample: torch.Tensor, noisy_actions: torch.Tensor, flow_time: torch.Tensor) -> torch.Tensor:
        """v = (a - x_t) / (1 - t); 1 - t is kept >= SAMPLE_MIN_REMAINING (t <= 0.99 for <= 100 Euler steps).

        An Euler step of size 1 - t then lands exactly on the predicted sample, so the last step of
        any step count returns the network's clean-chunk estimate.
        """
        rest = torch.clamp(1.0 - flow_time, min=SAMPLE_MIN_REMAINING)[:, None, None]
        return (sample - noisy_actions) / rest

    def forward_train(self, noisy_actions, flow_time, state, embodiment_id, intent, places_from=None):
        """(decoder output, predicted future state): the second output exists only in training.

        The decoder output is the velocity or, with prediction = "sample", the clean chunk.
        """
        h, _ = self.trunk(noisy_actions, flow_time, state, embodiment_id, intent, places_from)
        return self.decode(h, state, embodiment_id), self.future_head(h[:, 0])


def euler_sample(
    head: PolicyHead,
    noise: torch.Tensor,
    state: torch.Tensor,
    embodiment_id: torch.Tensor,
    intent: torch.Tensor,
    steps: int,
    prefix: torch.Tensor | None = None,
) -> torch.Tensor:
    """Reference Euler integration (the TypeScript sampler mirrors it step for step).

    noise [B, H, A]; prefix [B, P, A] (normalized, padded) is inpainted: before each step the first
    P rows are set to the forward-noised prefix (1 - t) * noise + t * prefix, and to the prefix at the end.
    """
    x = noise.clone()
    dt = 1.0 / steps
    p = 0 if prefix is None else prefix.shape[1]
    with torch.no_grad():
        for i in range(steps):
            t = i / steps
            if p:
                x[:, :p] = (1.0 - t) * noise[:, :p] + t * prefix
            tt = torch.full((x.shape[0],), t, dtype=torch.float32)
            v = head(x, tt, state, embodiment_id, intent)
            x = x + dt * v
        if p:
            x[:, :p] = prefix
    return x
