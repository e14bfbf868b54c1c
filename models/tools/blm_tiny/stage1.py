"""Stage I: embodied knowledge into blm-tiny's backbone (next-token prediction on simulator QA).

    cd models/tools
    ../../.ros/venv/bin/python -m blm_tiny.stage1 data              # generate + cache the QA scenes
    ../../.ros/venv/bin/python -m blm_tiny.stage1 train [--resume]  # train, save backbone/, evaluate
    ../../.ros/venv/bin/python -m blm_tiny.stage1 eval              # held-out accuracy -> report.json
    ../../.ros/venv/bin/python -m blm_tiny.stage1 export --out DIR --layer-k 4

Training: prompt = the chat template with the front and wrist images and a question (exactly the
prompt ``backbone.encode`` and the runtime build, with the question in the instruction's place), the
answer as the assistant turn ending in <|im_end|>; cross-entropy on the answer tokens only. Each step
takes ``--scenes`` scenes and ``--questions`` questions of each (types balanced): the vision tower
runs once per image and its embeddings go into every question's sequence, which is the same
computation as one full forward per (scene, question) and several times cheaper.

Auxiliary loss on the visual tokens (``--aux-weight``, default 1; 0 = next-token prediction only): a
linear head on each merged visual token (the language model's input) predicts which object classes
its image region shows (``qa.SEG_CLASSES``, from MuJoCo's segmentation render of sim scenes; binary
cross-entropy, positives weighted 10x). Objects are a few pixels wide in a 128 x 128 image and one
token in ~90; with the answer's gradient alone the small vision tower does not learn to see them in
this budget (measured: the next-token-only run answers at the text-only baseline). The head is a
training device only: it is not saved with the model nor exported. AdamW, linear
warm-up then cosine decay, seeded; a checkpoint every ``--ckpt-every`` steps in ``out/train/stage1/
ckpt`` and ``--resume`` continues from the last one bit for bit (model, optimizer, sampler state;
DESIGN decision 12). Evaluation: greedy decoding of held-out scenes' questions, exact match, overall
and per question type (plus per arm, task and source), next to a text-only baseline (the training
set's most frequent answer to the same question text), written to ``out/train/stage1/report.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import functools
import time
import types
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from blm_tiny import backbone as B  # noqa: E402
from blm_tools.modules import pooled_positions  # noqa: E402,F401  (stage2 and tests use it from here too)
from blm_tiny import qa as Q  # noqa: E402

OUT = Q.REPO / "out" / "train" / "stage1"
IM_END = "<|im_end|>"
AUX_POS_WEIGHT = 10.0


# -- batches ------------------------------------------------------------------------------------
class Batcher:
    """Turns (scene pairs, [(scene, question, answer)]) into the tensors of one shared-vision batch."""

    def __init__(self, model, proc) -> None:
        self.model, self.proc = model, proc
        self.tok = proc.tokenizer
        self.pad_id = int(model.config.pad_token_id if model.config.pad_token_id is not None else 0)
        self.image_pad = "<|image_pad|>"
        self._answers: dict[str, list[int]] = {}
        self._prompts: dict[str, list[int]] = {}

    def answer_ids(self, answer: str) -> list[int]:
        ids = self._answers.get(answer)
        if ids is None:
            ids = self._answers[answer] = self.tok(answer + IM_END, add_special_tokens=False)["input_ids"]
        return ids

    def prompt_ids(self, question: str, n_tokens: Sequence[int]) -> list[int]:
        """Token ids of the templated prompt with each image's pads expanded (as the processor does)."""
        key = f"{tuple(n_tokens)}|{question}"
        ids = self._prompts.get(key)
        if ids is None:
            text = B.prompt(self.proc, question)
            parts = text.split(self.image_pad)
            assert len(parts) == len(n_tokens) + 1
            text = parts[0] + "".join(self.image_pad * n + p for n, p in zip(n_tokens, parts[1:]))
            ids = self._prompts[key] = self.tok(text, add_special_tokens=False)["input_ids"]
        return ids

    def images(self, frames: Sequence[tuple[np.ndarray, np.ndarray]]) -> tuple[torch.Tensor, torch.Tensor]:
        ims = [im for pair in frames for im in pair]
        out = self.proc.image_processor(images=ims, return_tensors="pt")
        return out["pixel_values"], out["image_grid_thw"]

    def tokens(self, grid: torch.Tensor, rows: Sequence[tuple[int, str, Optional[str]]]) -> dict:
        """rows: (local scene index, question, answer or None) -> input_ids, attention_mask, labels, scene."""
        merge = self.model.config.vision_config.spatial_merge_size
        n_img = (grid.prod(-1) // merge**2).tolist()
        seqs, labels = [], []
        for s, q, a in rows:
            p = self.prompt_ids(q, n_img[2 * s : 2 * s + 2])
            ans = self.answer_ids(a) if a is not None else []
            seqs.append(p + ans)
            labels.append([-100] * len(p) + ans)
        T = max(len(x) for x in seqs)
        ids = torch.full((len(seqs), T), self.pad_id, dtype=torch.long)
        lab = torch.full((len(seqs), T), -100, dtype=torch.long)
        mask = torch.zeros((len(seqs), T), dtype=torch.long)
        for i, (x, y) in enumerate(zip(seqs, labels)):
            ids[i, : len(x)] = torch.tensor(x)
            lab[i, : len(y)] = torch.tensor(y)
            mask[i, : len(x)] = 1
        return {"input_ids": ids, "attention_mask": mask, "labels": lab,
                "scene": torch.tensor([s for s, _, _ in rows], dtype=torch.long)}


def _fast_patch_embed(self, x: torch.Tensor) -> torch.Tensor:
    """Qwen2_5_VisionPatchEmbed.forward as a matmul: the Conv3d's kernel equals its stride and its
    input, so it is a linear map of the flattened patch (same weights; much faster backward on CPU)."""
    w = self.proj.weight
    return F.linear(x.to(w.dtype).reshape(-1, w[0].numel()), w.reshape(w.shape[0], -1))


def use_fast_patch_embed(model) -> None:
    pe = model.model.visual.patch_embed
    pe.forward = types.MethodType(_fast_patch_embed, pe)


def hidden_shared(model, pixel_values, grid, input_ids, attention_mask, scene, with_image: bool = False):
    """Last hidden states (after the final norm) for sequences whose two images are scene[i]'s
    (images 2s, 2s+1 of pixel_values): the vision tower runs once per image. with_image: also
    return the visual tokens (the merger's output, [merged tokens of all images, D]) and the
    hidden states after decoder block k = the last ([B, T, D], what Stage II reads)."""
    inner = model.model
    got: list[torch.Tensor] = []
    hook = None
    if with_image:
        layer = inner.language_model.layers[model.config.text_config.num_hidden_layers - 1]
        hook = layer.register_forward_hook(lambda _m, _i, o: got.append(o[0] if isinstance(o, tuple) else o))
    merge = inner.visual.spatial_merge_size
    img = inner.visual(pixel_values.to(inner.visual.dtype), grid_thw=grid)
    per = torch.split(img, (grid.prod(-1) // merge**2).tolist())
    seq_img = torch.cat([t for s in scene.tolist() for t in (per[2 * s], per[2 * s + 1])])
    emb = inner.get_input_embeddings()(input_ids)
    where = (input_ids == model.config.image_token_id).unsqueeze(-1).expand_as(emb)
    emb = emb.masked_scatter(where, seq_img.to(emb.dtype))
    seq_grid = grid.view(-1, 2, 3)[scene].reshape(-1, 3)
    pos, _ = inner.get_rope_index(input_ids, seq_grid, None, None, attention_mask)
    try:
        out = inner.language_model(inputs_embeds=emb, position_ids=pos, attention_mask=attention_mask, use_cache=False)
    finally:
        if hook is not None:
            hook.remove()
    return (out.last_hidden_state, img, got[0]) if with_image else out.last_hidden_state


class AuxHeads(torch.nn.Module):
    """Training-only heads (not part of the model, not exported): ``seg`` on each visual token (the
    merger's output), ``where`` on each image token's hidden state after block k, and ``locate``: per
    object class, attention pooling over those image-token states, then its 3-D position."""

    def __init__(self, d: int, grid: int) -> None:
        super().__init__()
        c = len(Q.SEG_CLASSES)
        self.grid = grid  # merged visual tokens per image side
        self.seg = torch.nn.Linear(d, c)
        self.where = torch.nn.Linear(d, 2 + 2 * grid)  # camera, row, column
        self.locate_query = torch.nn.Linear(d, c)  # each class's attention logit on each token
        self.locate = torch.nn.Linear(d, 3 * c)

    def locate_objects(self, h_img: torch.Tensor) -> torch.Tensor:
        """[rows, image tokens, D] -> [rows, classes, 3]: each class's position, pooled from the tokens."""
        return pooled_positions(self.locate_query, self.locate, h_img)


# The locate head's targets: metres from the arm's spawn frame centre, over this many metres of
# spawn-frame scale (so every arm's table spans about the same range).
LOC_UNIT = 0.1


def loc_unit(embodiment: str) -> float:
    """Metres per locate-target unit for an arm."""
    from blm_sim.scene import spawn_frame_for

    return LOC_UNIT * spawn_frame_for(embodiment).scale


@functools.lru_cache(maxsize=None)
def object_targets(source: str, embodiment: str, task: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Where a sim scene's seed put the task's objects ([classes, 3] in LOC_UNIT, and which classes
    are present). The scene maker moves only the arm (qa.SceneMaker), so the seed's placement is the
    truth; demo frames (objects moved by the expert) have none."""
    from blm_sim.scene import spawn_frame_for

    xyz = np.zeros((len(Q.SEG_CLASSES), 3), np.float32)
    has = np.zeros(len(Q.SEG_CLASSES), bool)
    if source != "sim" or task not in Q.OBJECTS:
        return xyz, has
    fr = spawn_frame_for(embodiment)
    places = Q.seeded_places(embodiment, task, seed)
    unit = loc_unit(embodiment)
    for o in Q.OBJECTS[task]:
        p = places[o.key]
        xyz[o.seg_class] = [(p[0] - fr.center_x) / unit, p[1] / unit, p[2] / unit]
        has[o.seg_class] = True
    return xyz, has


def scene_targets(meta: Sequence[dict]) -> tuple[torch.Tensor, torch.Tensor]:
    t = [object_targets(m.get("source", ""), m["embodiment"], m["task"], int(m["seed"])) for m in meta]
    return torch.from_numpy(np.stack([a for a, _ in t])), torch.from_numpy(np.stack([b for _, b in t]))


def loss_shared(model, pixel_values, grid, batch: dict, aux_head: Optional[AuxHeads] = None, aux_weight: float = 0.0):
    """Next-token cross-entropy on the answer tokens; with aux_head, plus aux_weight x the auxiliary
    losses (``aux_loss``). Returns the total (and the next-token and auxiliary parts with aux_head)."""
    h, img, hk = hidden_shared(model, pixel_values, grid, batch["input_ids"], batch["attention_mask"], batch["scene"],
                               with_image=True)
    lab = batch["labels"][:, 1:]
    sel = lab != -100
    logits = model.lm_head(h[:, :-1][sel])  # only where an answer token is predicted
    ntp = F.cross_entropy(logits.float(), lab[sel])
    if aux_head is None:
        return ntp
    aux = aux_loss(aux_head, img, hk, batch, model.config.image_token_id)
    return ntp + aux_weight * aux, float(ntp.detach()), float(aux.detach())


def aux_loss(head: AuxHeads, img: torch.Tensor, hk: torch.Tensor, batch: dict, image_token_id: int) -> torch.Tensor:
    """(1) What each visual token shows: binary cross-entropy of ``head.seg`` on each merged visual
    token against the object classes (qa.SEG_CLASSES) in its image region (sim scenes; demo frames have
    no labels), positives weighted AUX_POS_WEIGHT. (2) Where each image token is: cross-entropy of
    ``head.where`` on its hidden state after block k against its camera, row and column in the token
    grid (so that the states Stage II reads carry the token's place; the vision tower has no absolute
    position embedding and the language model sees the place only through M-RoPE). (3) Where each of
    the task's objects is (sim scenes): smooth L1 of ``head.locate_objects`` on those states against
    ``object_targets``: Stage II's policy must read positions finer than a token's 13 cm cell from them."""
    total = img.sum() * 0.0
    g = head.grid
    seg, has = batch.get("seg"), batch.get("has_seg")
    if seg is not None and bool(has.any()):
        n = seg.shape[0]
        tok = img.view(n, 2 * g * g, -1)[has]
        target = seg[has].reshape(tok.shape[0], tok.shape[1], -1).float()
        pw = torch.full((target.shape[-1],), AUX_POS_WEIGHT)  # objects cover few tokens: weigh them up
        total = total + F.binary_cross_entropy_with_logits(head.seg(tok), target, pos_weight=pw)
    per_seq = 2 * g * g
    where = batch["input_ids"] == image_token_id
    if seg is not None and bool((where.sum(1) == per_seq).all()):
        j = torch.arange(per_seq)
        cam, row, col = j // (g * g), (j % (g * g)) // g, j % g
        out = head.where(hk[where]).view(-1, per_seq, 2 + 2 * g)
        n = out.shape[0]
        total = total + (F.cross_entropy(out[..., :2].reshape(-1, 2), cam.repeat(n))
                         + F.cross_entropy(out[..., 2 : 2 + g].reshape(-1, g), row.repeat(n))
                         + F.cross_entropy(out[..., 2 + g :].reshape(-1, g), col.repeat(n))) / 3
        loc, has_loc = batch.get("loc"), batch.get("has_loc")
        if loc is not None:
            m = has_loc[batch["scene"]]
            if bool(m.any()):
                pred = head.locate_objects(hk[where].view(n, per_seq, -1))
                total = total + F.smooth_l1_loss(pred[m], loc[batch["scene"]][m])
    return total


@torch.no_grad()
def greedy(model, batcher: Batcher, pixel_values, grid, rows: Sequence[tuple[int, str]], max_new: int = 8) -> list[str]:
    """Greedy answers (text before <|im_end|>) for (local scene, question) rows of one image batch.
    No KV cache: each step re-runs the prompt plus the answer so far (short answers)."""
    eos = batcher.tok.convert_tokens_to_ids(IM_END)
    b = batcher.tokens(grid, [(s, q, None) for s, q in rows])
    seqs = [b["input_ids"][i, : int(b["attention_mask"][i].sum())].tolist() for i in range(len(rows))]
    done = [False] * len(rows)
    outs: list[list[int]] = [[] for _ in rows]
    merge = model.model.visual.spatial_merge_size
    img = model.model.visual(pixel_values.to(model.model.visual.dtype), grid_thw=grid)
    per = torch.split(img, (grid.prod(-1) // merge**2).tolist())
    for _ in range(max_new):
        live = [i for i in range(len(rows)) if not done[i]]
        if not live:
            break
        T = max(len(seqs[i]) for i in live)
        ids = torch.full((len(live), T), batcher.pad_id, dtype=torch.long)
        mask = torch.zeros((len(live), T), dtype=torch.long)
        for j, i in enumerate(live):
            ids[j, : len(seqs[i])] = torch.tensor(seqs[i])
            mask[j, : len(seqs[i])] = 1
        scene = torch.tensor([rows[i][0] for i in live])
        inner = model.model
        seq_img = torch.cat([t for s in scene.tolist() for t in (per[2 * s], per[2 * s + 1])])
        emb = inner.get_input_embeddings()(ids)
        where = (ids == model.config.image_token_id).unsqueeze(-1).expand_as(emb)
        emb = emb.masked_scatter(where, seq_img.to(emb.dtype))
        pos, _ = inner.get_rope_index(ids, grid.view(-1, 2, 3)[scene].reshape(-1, 3), None, None, mask)
        h = inner.language_model(inputs_embeds=emb, position_ids=pos, attention_mask=mask, use_cache=False).last_hidden_state
        last = h[torch.arange(len(live)), mask.sum(1) - 1]
        nxt = model.lm_head(last).argmax(-1).tolist()
        for j, i in enumerate(live):
            if nxt[j] == eos:
                done[i] = True
            else:
                outs[i].append(nxt[j])
                seqs[i].append(nxt[j])
    return [batcher.tok.decode(o, skip_special_tokens=False).strip() for o in outs]


# -- sampling -----------------------------------------------------------------------------------
class Sampler:
    """Seeded: scenes uniformly, then questions of each scene with weights 1 / (count of its type)."""

    def __init__(self, data: Q.Dataset, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.by_scene: dict[int, list[int]] = {}
        for k, (s, _, _, _) in enumerate(data.items):
            self.by_scene.setdefault(s, []).append(k)
        self.scenes = np.array(sorted(self.by_scene))
        self.w = np.array([1.0 / data.counts[t] for _, t, _, _ in data.items])

    def draw(self, n_scenes: int, n_questions: int) -> list[tuple[int, list[int]]]:
        scenes = self.rng.choice(self.scenes, size=min(n_scenes, len(self.scenes)), replace=False)
        out = []
        for s in scenes.tolist():
            ks = self.by_scene[s]
            w = self.w[ks] / self.w[ks].sum()
            pick = self.rng.choice(len(ks), size=min(n_questions, len(ks)), replace=False, p=w)
            out.append((s, [ks[i] for i in pick]))
        return out


def make_batch(batcher: Batcher, data: Q.Dataset, draw) -> tuple[torch.Tensor, torch.Tensor, dict]:
    frames = [(data.front[s], data.wrist[s]) for s, _ in draw]
    pv, grid = batcher.images(frames)
    rows = [(j, data.items[k][2], data.items[k][3]) for j, (_, ks) in enumerate(draw) for k in ks]
    batch = batcher.tokens(grid, rows)
    merge = batcher.model.config.vision_config.spatial_merge_size
    side = int(grid[0, 1]) // merge
    if data.seg is not None and bool((grid == torch.tensor([1, side * merge, side * merge])).all()):
        idx = [s for s, _ in draw]
        batch["seg"] = torch.from_numpy(Q.token_labels(data.seg[idx], side))
        batch["has_seg"] = torch.from_numpy(data.has_seg[idx])
    batch["loc"], batch["has_loc"] = scene_targets([data.meta[s] for s, _ in draw])
    return pv, grid, batch


# -- training -----------------------------------------------------------------------------------
def lr_at(step: int, total: int, peak: float, warmup: int) -> float:
    if step < warmup:
        return peak * (step + 1) / warmup
    p = min(1.0, (step - warmup) / max(1, total - warmup))
    return peak * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * p)))


def _ckpts(folder: Path) -> list[Path]:
    return sorted(folder.glob("step_*.pt"))


def save_ckpt(folder: Path, step: int, model, opt, sampler: Sampler, args: dict, keep: int = 2, aux_head=None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"step_{step:06d}.pt"
    tmp = path.with_suffix(".tmp")
    torch.save({"step": step, "model": model.state_dict(), "opt": opt.state_dict(),
                "aux": aux_head.state_dict() if aux_head is not None else None,
                "sampler": sampler.rng.bit_generator.state, "torch_rng": torch.get_rng_state(), "args": args}, tmp)
    os.replace(tmp, path)
    for old in _ckpts(folder)[:-keep]:
        old.unlink()
    return path


def train(
    train_data: Q.Dataset,
    out: Path,
    steps: int,
    scenes: int = 8,
    questions: int = 4,
    lr: float = 2e-3,
    warmup: int = 100,
    weight_decay: float = 0.01,
    seed: int = 0,
    ckpt_every: int = 200,
    resume: bool = False,
    sizes: Optional[dict] = None,
    log=print,
    log_every: int = 10,
    aux_weight: float = 1.0,
    pixels: Optional[dict] = None,
    init: Optional[Path] = None,
):
    """Trains from scratch (or the last checkpoint with resume); returns (model, processor, losses).
    aux_weight > 0 adds the visual tokens' auxiliary loss (``aux_loss``) on scenes that have labels.
    ``pixels``: the processor's pixel budget (default B.PIXELS; B.pixels_for_side for finer tokens).
    ``init``: start from that backbone folder's weights (same sizes and tokenizer) instead of random
    ones; the vision tower has no absolute positions, so a backbone trained at another pixel budget
    carries over (the auxiliary heads start fresh)."""
    torch.manual_seed(seed)
    tok_dir = out / "tokenizer"
    model, proc = B.build(tok_dir, seed=seed, sizes=sizes, pixels=pixels)
    if init is not None:
        init_weights(model, proc, Path(init))
    use_fast_patch_embed(model)
    model.train()
    aux_head = AuxHeads(model.config.text_config.hidden_size, B.tokens_per_side(proc)) if aux_weight > 0 else None
    params = list(model.named_parameters()) + (list(aux_head.named_parameters(prefix="aux")) if aux_head else [])
    decay = [p for n, p in params if p.ndim >= 2 and "embed" not in n]
    no_decay = [p for n, p in params if not (p.ndim >= 2 and "embed" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=lr, betas=(0.9, 0.98), eps=1e-8)
    sampler = Sampler(train_data, seed)
    args = {"steps": steps, "scenes": scenes, "questions": questions, "lr": lr, "warmup": warmup,
            "weight_decay": weight_decay, "seed": seed, "sizes": sizes or B.SIZES,
            "train_scenes": len(train_data.meta), "demo_files": list(train_data.demo_files),
            "aux_weight": aux_weight, "pixels": dict(proc.pixels), "init": str(init) if init else None}
    start = 0
    ck = out / "ckpt"
    if resume and _ckpts(ck):
        last = _ckpts(ck)[-1]
        st = torch.load(last, weights_only=False)
        model.load_state_dict(st["model"])
        if aux_head is not None:
            aux_head.load_state_dict(st["aux"])
        opt.load_state_dict(st["opt"])
        sampler.rng.bit_generator.state = st["sampler"]
        torch.set_rng_state(st["torch_rng"])
        start = int(st["step"])
        if st["args"].get("train_scenes", len(train_data.meta)) != len(train_data.meta):
            raise ValueError(f"{last} was trained on {st['args']['train_scenes']} scenes, this data has "
                             f"{len(train_data.meta)}: resume with the same data")
        log(f"stage1: resumed from {last} at step {start}")
    batcher = Batcher(model, proc)
    losses: list[float] = []
    t0, c0 = time.time(), time.process_time()
    window: list[float] = []
    for step in range(start, steps):
        for g in opt.param_groups:
            g["lr"] = lr_at(step, steps, lr, warmup)
        pv, grid, batch = make_batch(batcher, train_data, sampler.draw(scenes, questions))
        if aux_head is not None:
            loss, lv, av = loss_shared(model, pv, grid, batch, aux_head, aux_weight)
        else:
            loss = loss_shared(model, pv, grid, batch)
            lv, av = float(loss.detach()), 0.0
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_([p for g in opt.param_groups for p in g["params"]], 1.0)
        opt.step()
        losses.append(lv)  # the next-token loss
        window.append((lv, av))
        if (step + 1) % log_every == 0 or step + 1 == steps:
            n = step + 1 - start
            per, cpu = (time.time() - t0) / n, (time.process_time() - c0) / n
            w = np.mean(window, axis=0)
            log(f"stage1: step {step + 1}/{steps} loss {w[0]:.4f} aux {w[1]:.4f} lr {opt.param_groups[0]['lr']:.2e} "
                f"{per:.2f} s/step wall, {cpu:.2f} s/step cpu, eta {per * (steps - step - 1) / 60:.1f} min")
            window = []
        if ckpt_every and ((step + 1) % ckpt_every == 0 or step + 1 == steps):
            save_ckpt(ck, step + 1, model, opt, sampler, args, aux_head=aux_head)
    n = max(1, steps - start)
    model.stage1_timing = {"steps_this_session": steps - start, "wall_s": round(time.time() - t0, 1),
                           "cpu_s": round(time.process_time() - c0, 1),
                           "wall_s_per_step": round((time.time() - t0) / n, 3),
                           "cpu_s_per_step": round((time.process_time() - c0) / n, 3)}
    log(f"stage1: trained {steps - start} steps: {model.stage1_timing}")
    model.eval()
    return model, proc, losses


# -- evaluation ---------------------------------------------------------------------------------
def eval_items(data: Q.Dataset, max_per_type: int, seed: int = 0) -> list[int]:
    """A deterministic subset: at most max_per_type items of each question type."""
    rng = np.random.default_rng(seed)
    by: dict[str, list[int]] = {}
    for k, (_, t, _, _) in enumerate(data.items):
        by.setdefault(t, []).append(k)
    keep = []
    for t, ks in sorted(by.items()):
        keep += sorted(rng.choice(ks, size=min(max_per_type, len(ks)), replace=False).tolist())
    return sorted(keep)


def text_baseline(train_data: Q.Dataset) -> dict:
    """The most frequent training answer for each question text, and for each type (fallback)."""
    from collections import Counter

    by_q: dict[str, Counter] = {}
    by_t: dict[str, Counter] = {}
    for _, t, q, a in train_data.items:
        by_q.setdefault(q, Counter())[a] += 1
        by_t.setdefault(t, Counter())[a] += 1
    return {"q": {q: c.most_common(1)[0][0] for q, c in by_q.items()},
            "t": {t: c.most_common(1)[0][0] for t, c in by_t.items()}}


@torch.no_grad()
def evaluate(model, proc, data: Q.Dataset, keep: Sequence[int], baseline: Optional[dict] = None,
             scenes_per_batch: int = 16, log=print) -> dict:
    model.eval()
    batcher = Batcher(model, proc)
    by_scene: dict[int, list[int]] = {}
    for k in keep:
        by_scene.setdefault(data.items[k][0], []).append(k)
    scene_ids = sorted(by_scene)
    preds: dict[int, str] = {}
    t0 = time.time()
    for b in range(0, len(scene_ids), scenes_per_batch):
        chunk = scene_ids[b : b + scenes_per_batch]
        pv, grid = batcher.images([(data.front[s], data.wrist[s]) for s in chunk])
        rows, ks = [], []
        for j, s in enumerate(chunk):
            for k in by_scene[s]:
                rows.append((j, data.items[k][2]))
                ks.append(k)
        for k, p in zip(ks, greedy(model, batcher, pv, grid, rows)):
            preds[k] = p
        if (b // scenes_per_batch) % 10 == 0:
            log(f"stage1: eval {min(b + scenes_per_batch, len(scene_ids))}/{len(scene_ids)} scenes ({time.time() - t0:.0f} s)")

    def table(key) -> dict:
        acc: dict[str, list[int]] = {}
        base: dict[str, list[int]] = {}
        for k in keep:
            s, t, q, a = data.items[k]
            g = key(s, t)
            acc.setdefault(g, []).append(int(preds[k] == a))
            if baseline is not None:
                guess = baseline["q"].get(q, baseline["t"].get(t, ""))
                base.setdefault(g, []).append(int(guess == a))
        return {g: {"n": len(v), "accuracy": round(float(np.mean(v)), 4),
                    **({"text_only_baseline": round(float(np.mean(base[g])), 4)} if baseline is not None else {})}
                for g, v in sorted(acc.items())}

    per_type = table(lambda s, t: t)
    overall = table(lambda s, t: "all")["all"]
    report = {
        "overall": overall,
        "macro_over_types": round(float(np.mean([v["accuracy"] for v in per_type.values()])), 4),
        "per_type": per_type,
        "per_embodiment": table(lambda s, t: data.meta[s]["embodiment"]),
        "per_task": table(lambda s, t: data.meta[s]["task"]),
        "per_source": table(lambda s, t: data.meta[s]["source"]),
        "examples": [
            {"q": data.items[k][2], "answer": data.items[k][3], "predicted": preds[k], "type": data.items[k][1],
             **{m: data.meta[data.items[k][0]][m] for m in ("embodiment", "task", "source")}}
            for k in list(keep)[:: max(1, len(keep) // 40)]
        ],
        "eval_seconds": round(time.time() - t0, 1),
    }
    return report


@torch.no_grad()
def locate_error(model, proc, heads: AuxHeads, data: Q.Dataset, max_scenes: int = 400, batch_scenes: int = 16) -> dict:
    """The locate head on held-out sim scenes: distance between predicted and true object positions
    (cm, world), median and 90th percentile, with the spread of the objects around their mean as
    the no-vision reference: what the image-token states say about where things are."""
    model.eval()
    batcher = Batcher(model, proc)
    scenes = [i for i, m in enumerate(data.meta) if m.get("source") == "sim"][:max_scenes]
    err, ref_pts = [], []
    for b in range(0, len(scenes), batch_scenes):
        part = scenes[b : b + batch_scenes]
        pv, grid = batcher.images([(data.front[s], data.wrist[s]) for s in part])
        batch = batcher.tokens(grid, [(j, "where is the cube?", None) for j in range(len(part))])
        _, _, hk = hidden_shared(model, pv, grid, batch["input_ids"], batch["attention_mask"], batch["scene"], with_image=True)
        where = batch["input_ids"] == model.config.image_token_id
        pred = heads.locate_objects(hk[where].view(len(part), -1, hk.shape[-1])).numpy()
        for j, s in enumerate(part):
            m = data.meta[s]
            xyz, has = object_targets("sim", m["embodiment"], m["task"], int(m["seed"]))
            unit = loc_unit(m["embodiment"])
            for c in np.nonzero(has)[0]:
                err.append(100 * unit * float(np.linalg.norm(pred[j, c] - xyz[c])))
                ref_pts.append((m["embodiment"], m["task"], int(c), 100 * unit * xyz[c]))
    groups: dict = {}
    for e, t, c, p in ref_pts:
        groups.setdefault((e, t, c), []).append(p)
    ref = [float(np.linalg.norm(p - np.mean(ps, axis=0))) for ps in groups.values() for p in ps]
    e = np.array(err)
    return {"objects": int(len(e)), "median_cm": round(float(np.median(e)), 2), "p90_cm": round(float(np.percentile(e, 90)), 2),
            "mean_position_median_cm": round(float(np.median(ref)), 2)}


def init_weights(model, proc, folder: Path) -> None:
    """Loads a saved backbone's weights into ``model`` (built with ``proc``'s tokenizer)."""
    src, src_proc = B.load(folder)
    if src_proc.tokenizer.get_vocab() != proc.tokenizer.get_vocab():
        raise ValueError(f"{folder} has another tokenizer: its weights do not fit this model's token ids")
    try:
        model.load_state_dict(src.state_dict())
    except RuntimeError as e:
        raise ValueError(f"{folder} does not fit this model's sizes: {e}") from None


def load_aux_heads(out: Path, d: int, grid: int) -> Optional[AuxHeads]:
    """The auxiliary heads of the last checkpoint in out/ckpt (None without one that has them all,
    at this token grid)."""
    ck = _ckpts(out / "ckpt")
    if not ck:
        return None
    st = torch.load(ck[-1], weights_only=False).get("aux")
    heads = AuxHeads(d, grid)
    if not st or set(st) != set(heads.state_dict()) or any(st[k].shape != v.shape for k, v in heads.state_dict().items()):
        return None
    heads.load_state_dict(st)
    return heads.eval()


def format_table(report: dict) -> str:
    lines = ["| question type | n | accuracy | text-only baseline |", "|---|---|---|---|"]
    for t, v in report["per_type"].items():
        lines.append(f"| {t} | {v['n']} | {100 * v['accuracy']:.1f}% | {100 * v.get('text_only_baseline', float('nan')):.1f}% |")
    o = report["overall"]
    lines.append(f"| **all** | {o['n']} | {100 * o['accuracy']:.1f}% | {100 * o.get('text_only_baseline', float('nan')):.1f}% |")
    lines.append(f"\nmacro over types: {100 * report['macro_over_types']:.1f}%")
    for k in ("per_embodiment", "per_task", "per_source"):
        lines.append(k + ": " + ", ".join(f"{g} {100 * v['accuracy']:.1f}% (n={v['n']})" for g, v in report[k].items()))
    return "\n".join(lines)


# -- CLI ----------------------------------------------------------------------------------------
def _data(a, split: str, demo_files: Optional[list] = None) -> Q.Dataset:
    n = a.train_per_pair if split == "train" else a.eval_per_pair
    demos = None if a.no_demos else a.demos
    return Q.build(split, n, a.data, demos, a.demo_frames, log=lambda m: print(m, flush=True), demo_files=demo_files)


def _resumed_demo_files(a) -> Optional[list]:
    """The demo episodes the last checkpoint was trained on (resume: the same data)."""
    cks = _ckpts(a.out / "ckpt")
    if not (getattr(a, "resume", False) and cks):
        return None
    return torch.load(cks[-1], weights_only=False)["args"].get("demo_files")


def _log(msg: str) -> None:
    print(msg, flush=True)


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m blm_tiny.stage1", description="blm-tiny Stage I (backbone).")
    sub = ap.add_subparsers(dest="cmd", required=True)

    def common(p):
        p.add_argument("--out", type=Path, default=OUT)
        p.add_argument("--data", type=Path, default=Q.DEFAULT_DATA)
        p.add_argument("--demos", type=Path, default=Q.DEFAULT_DEMOS)
        p.add_argument("--no-demos", action="store_true")
        p.add_argument("--demo-frames", type=int, default=6)
        p.add_argument("--train-per-pair", type=int, default=120)
        p.add_argument("--eval-per-pair", type=int, default=12)
        p.add_argument("--eval-max-per-type", type=int, default=300)
        p.add_argument("--threads", type=int, default=1)

    p = sub.add_parser("data", help="generate and cache the QA scenes")
    common(p)
    p = sub.add_parser("train", help="train, save the backbone folder, evaluate")
    common(p)
    p.add_argument("--steps", type=int, default=800)
    p.add_argument("--scenes", type=int, default=16, help="scenes per step")
    p.add_argument("--questions", type=int, default=2, help="questions per scene per step")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--ckpt-every", type=int, default=200)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--aux-weight", type=float, default=1.0, help="visual tokens' auxiliary loss (0: next-token only)")
    p.add_argument("--image-side", type=int, default=None,
                   help="resize camera images to this square side (multiple of 28): (side/28)^2 tokens per image")
    p.add_argument("--init", type=Path, default=None, help="start from this backbone folder's weights")
    p.add_argument("--no-eval", action="store_true")
    p = sub.add_parser("eval", help="held-out accuracy of a saved backbone -> report.json")
    common(p)
    p.add_argument("--backbone", type=Path, default=None)
    p = sub.add_parser("export", help="ONNX export of the saved backbone (qwen_export.export_backbone)")
    p.add_argument("--backbone", type=Path, default=OUT / "backbone")
    p.add_argument("--out", type=Path, required=True, dest="export_out")
    p.add_argument("--layer-k", type=int, default=None)
    p.add_argument("--dtype", choices=["float32", "float16"], default="float32")
    p.add_argument("--manifest", type=Path, default=None)
    p.add_argument("--cameras", nargs="*", default=["front", "wrist"])
    p = sub.add_parser("import", help="rebuild a backbone folder from an exported model folder's graphs")
    p.add_argument("--model", type=Path, default=Q.REPO / "models" / "blm-tiny")
    p.add_argument("--out", type=Path, default=OUT / "backbone", dest="import_out")
    p.add_argument("--tiny", action="store_true", help="the test sizes (backbone.TINY_SIZES)")
    a = ap.parse_args(argv)

    torch.set_num_threads(getattr(a, "threads", 1))
    if a.cmd == "import":
        from .onnx_import import import_backbone

        meta = import_backbone(a.model, a.import_out, B.TINY_SIZES if a.tiny else None)
        print(json.dumps({"backbone": str(a.import_out), "layer_k": meta["layer_k"],
                          "not_imported": meta["not_imported"]}), flush=True)
        return 0
    if a.cmd == "export":
        return export(a.backbone, a.export_out, a.layer_k, a.dtype, a.manifest, a.cameras)
    a.out.mkdir(parents=True, exist_ok=True)
    if a.cmd == "data":
        for split in ("train", "eval"):
            d = _data(a, split)
            print(json.dumps({"split": split, "scenes": len(d.meta), "questions": len(d.items), "by_type": d.counts}), flush=True)
        return 0
    log = _log
    train_data = _data(a, "train", _resumed_demo_files(a) if a.cmd == "train" else None)
    log(f"stage1: train {len(train_data.meta)} scenes, {len(train_data.items)} questions {train_data.counts}")
    if a.cmd == "train":
        t0 = time.time()
        model, proc, losses = train(train_data, a.out, a.steps, a.scenes, a.questions, a.lr, a.warmup,
                                    seed=a.seed, ckpt_every=a.ckpt_every, resume=a.resume, log=log,
                                    aux_weight=a.aux_weight,
                                    pixels=B.pixels_for_side(a.image_side) if a.image_side else None, init=a.init)
        train_s = time.time() - t0
        B.save(model, proc, a.out / "backbone", {"stage1": {"steps": a.steps, "scenes": a.scenes,
                                                            "questions": a.questions, "lr": a.lr, "seed": a.seed,
                                                            "aux_weight": a.aux_weight,
                                                            "init": str(a.init) if a.init else None,
                                                            "train_scenes": len(train_data.meta),
                                                            "train_questions": len(train_data.items),
                                                            "timing": getattr(model, "stage1_timing", {})}})
        log(f"stage1: saved {a.out / 'backbone'} (train {train_s / 60:.1f} min this session)")
        if a.no_eval:
            return 0
        backbone = a.out / "backbone"
    else:
        backbone = a.backbone or a.out / "backbone"
    model, proc = B.load(backbone)
    eval_data = _data(a, "eval")
    keep = eval_items(eval_data, a.eval_max_per_type)
    log(f"stage1: eval {len(eval_data.meta)} held-out scenes, {len(keep)} questions")
    report = evaluate(model, proc, eval_data, keep, text_baseline(train_data), log=log)
    report["backbone"] = str(backbone)
    meta = json.loads((backbone / B.META_FILE).read_text())
    report["training"] = meta.get("stage1", {})
    report["pixels"] = meta.get("pixels")
    heads = load_aux_heads(a.out, model.config.text_config.hidden_size, B.tokens_per_side(proc))
    if heads is not None:
        report["locate"] = locate_error(model, proc, heads, eval_data)
        log(f"stage1: locate {report['locate']}")
    (a.out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    print(format_table(report), flush=True)
    return 0


def export(backbone: Path, out: Path, layer_k: Optional[int], dtype: str = "float32",
           manifest: Optional[Path] = None, cameras: Optional[list[str]] = None) -> int:
    """backbone.load(folder) -> qwen_export.export.export_backbone into out (+ tokenizer files)."""
    import shutil

    from qwen_export.export import export_backbone, merge_into_manifest

    model, proc = B.load(backbone)
    k = layer_k or B.default_layer_k(model)
    out.mkdir(parents=True, exist_ok=True)
    for f in ("tokenizer.json", "tokenizer_config.json"):
        if (backbone / f).resolve() != (out / f).resolve():
            shutil.copy(backbone / f, out / f)
    section = export_backbone(model, out, k, dtype, dict(proc.pixels), external="never")
    if manifest is not None:
        merge_into_manifest(manifest, section, cameras)
    print(json.dumps({k2: section[k2] for k2 in ("layer_k", "hidden_dim", "dtype")}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
