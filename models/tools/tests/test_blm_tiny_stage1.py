"""blm-tiny Stage I (issue 8) smoke test: simulator QA scenes, a few training steps on a tiny config,
checkpoint/resume, encode(), and the ONNX export's round trip against encode()."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from blm_tiny import backbone as B  # noqa: E402
from blm_tiny import qa as Q  # noqa: E402
from blm_tiny import stage1 as S  # noqa: E402
from qwen_export.pipeline import OnnxBackbone, max_rel_error  # noqa: E402
from qwen_export.reference import messages  # noqa: E402

TOL_REL = 1e-4


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    torch.set_num_threads(1)
    cache = tmp_path_factory.mktemp("qa")
    empty = tmp_path_factory.mktemp("no-demos")
    d = Q.build("train", 2, cache, empty, arms=["panda", "widowx_ai"], tasks=["PickCube", "StackCube"], log=lambda m: None)
    return d, cache


@pytest.fixture(scope="module")
def trained(data, tmp_path_factory):
    d, _ = data
    out = tmp_path_factory.mktemp("stage1")
    model, proc, losses = S.train(d, out, steps=6, scenes=2, questions=3, lr=3e-3, warmup=2, seed=0,
                                  ckpt_every=3, sizes=B.TINY_SIZES, log=lambda m: None)
    folder = out / "backbone"
    B.save(model, proc, folder)
    return out, folder, losses


def test_scenes_have_camera_images_and_canonical_answers(data):
    d, cache = data
    assert len(d.meta) == 8 and d.front.shape == (8, 128, 128, 3) and d.wrist.shape == (8, 128, 128, 3)
    assert d.front.dtype == np.uint8 and all(d.front[i].std() > 5 for i in range(8))
    assert not np.array_equal(d.front[0], d.front[1])  # different seeds, arm poses
    vocab = set(Q.answer_vocabulary())
    assert all(a in vocab for _, _, _, a in d.items)
    for t in ("colour", "position", "relation", "task", "instruction", "robot", "gripper", "height"):
        assert d.counts.get(t, 0) > 0, t
    tasks = {(m["embodiment"], m["task"]) for m in d.meta}
    assert tasks == {(e, t) for e in ("panda", "widowx_ai") for t in ("PickCube", "StackCube")}
    assert any(q == m["instruction"] and a == m["task"] for s, _, q, a in d.items for m in [d.meta[s]])
    # cached: a rerun reads the same blocks
    again = Q.build("train", 2, cache, None, arms=["panda", "widowx_ai"], tasks=["PickCube", "StackCube"], log=lambda m: None)
    assert again.items == d.items and np.array_equal(again.front, d.front)


def test_sim_scenes_label_what_each_visual_token_shows(data):
    d, _ = data
    assert d.seg.shape == (8, 2, 128, 128) and d.seg.dtype == np.int8 and d.has_seg.all()
    tokens = Q.token_labels(d.seg, 5)
    assert tokens.shape == (8, 2, 25, len(Q.SEG_CLASSES))
    present = tokens.any(axis=(1, 2))  # [scene, class]
    arm, finger = Q.SEG_CLASSES.index("arm"), Q.SEG_CLASSES.index("finger")
    assert present[:, arm].all() and tokens[:, 1, :, finger].any(axis=1).all()  # the wrist camera sees the fingers
    for s, m in enumerate(d.meta):
        objs = {o.seg_class for o in Q.OBJECTS[m["task"]]}
        others = set(range(2, len(Q.SEG_CLASSES))) - objs
        assert not present[s, sorted(others)].any(), m  # nothing of another task
    for task in ("PickCube", "StackCube"):  # every object of the task is seen somewhere
        rows = [s for s, m in enumerate(d.meta) if m["task"] == task]
        for o in Q.OBJECTS[task]:
            assert present[rows, o.seg_class].any(), (task, o.name)


def test_token_labels_count_each_cell_of_the_grid():
    m = np.full((1, 10, 10), -1, np.int8)
    m[0, 0, 0] = 3  # one pixel: below SEG_MIN_PIXELS
    m[0, 9, 8:10] = 4  # two pixels in the bottom-right cell
    m[0, 4:6, 4:6] = 2  # four pixels across the centre
    two = Q.token_labels(m, 2)[0]  # cells of 5 x 5 pixels, row-major
    assert not two[:, 3].any()
    assert two[3, 4] and not two[:3, 4].any()
    assert not two[:, 2].any()  # one pixel of class 2 in each cell
    one = Q.token_labels(m, 1)[0]
    assert one[0, 2] and one[0, 4] and not one[0, 3]
    five = Q.token_labels(m, 5)[0]  # cells of 2 x 2: the centre block is exactly the middle cell
    assert five[:, 2].sum() == 1 and five[2 * 5 + 2, 2] and two.shape == (4, len(Q.SEG_CLASSES))


def test_a_finer_pixel_budget_gives_more_tokens_and_trains_from_a_saved_backbone(data, trained, tmp_path):
    d, _ = data
    _, folder, _ = trained
    with pytest.raises(ValueError, match="multiple of 28"):
        B.pixels_for_side(250)
    coarse = B.processor(folder)
    fine = B.processor(folder, B.pixels_for_side(252))
    assert B.tokens_per_side(coarse) == 5 and B.tokens_per_side(fine) == 9
    model, proc, losses = S.train(d, tmp_path, steps=2, scenes=2, questions=2, lr=1e-3, warmup=1, seed=0, ckpt_every=0,
                                  sizes=B.TINY_SIZES, log=lambda m: None, pixels=B.pixels_for_side(252), init=folder)
    assert all(np.isfinite(losses)) and B.tokens_per_side(proc) == 9
    # the auxiliary loss saw the 9 x 9 grid: its heads are that size
    before, _ = B.load(folder)
    moved = [n for n, p in model.named_parameters() if not torch.equal(p, dict(before.named_parameters())[n])]
    assert moved, "init weights were not trained"
    B.save(model, proc, tmp_path / "fine")
    assert B.tokens_per_side(B.load(tmp_path / "fine")[1]) == 9
    with pytest.raises(ValueError, match="does not fit"):
        S.train(d, tmp_path / "other", steps=1, scenes=1, questions=1, seed=0, ckpt_every=0,
                sizes=dict(B.TINY_SIZES, hidden=32, mrope_section=(1, 2, 1)), log=lambda m: None, init=folder)


def test_held_out_seeds_are_disjoint():
    assert not set(Q.sim_seeds("train", 1000)) & set(Q.sim_seeds("eval", 1000))
    assert Q.demo_split(Path("x/PickCube/seed_4.mcap")) == "eval" and Q.demo_split(Path("x/PickCube/seed_3.mcap")) == "train"


def test_demo_labels_give_progress_success_and_holding_questions():
    lab = {"task": "PickCube", "embodiment": "xarm7", "instruction": "pick up the red cube", "frame": (0.0, 1.0),
           "gripper_open": False, "progress": "middle", "success": False, "grasped": {"cube": True}}
    qs = {q.qtype: q.answer for q in Q.questions(lab, np.random.default_rng(0))}
    assert qs["progress"] == "middle" and qs["success"] == "no" and qs["holding"] == "yes"
    assert qs["robot"] == "xarm7" and qs["task"] == "PickCube" and qs["gripper"] in ("closed", "no")


def test_answer_tokens_append_to_the_prompt_tokens(trained):
    _, folder, _ = trained
    proc = B.processor(folder)
    tok = proc.tokenizer
    p = B.prompt(proc, "where is the red cube?")
    for a in Q.answer_vocabulary():
        full = tok(p + a + S.IM_END, add_special_tokens=False)["input_ids"]
        assert full == tok(p, add_special_tokens=False)["input_ids"] + tok(a + S.IM_END, add_special_tokens=False)["input_ids"], a


def test_shared_vision_loss_is_the_full_forward_loss(data, trained):
    d, _ = data
    _, folder, _ = trained
    model, proc = B.load(folder)
    bat = S.Batcher(model, proc)
    frames = [(d.front[i], d.wrist[i]) for i in (0, 5)]
    rows = [(0, d.items[0][2], d.items[0][3]), (1, "which robot is this?", "widowx ai"), (0, "pick up the red cube", "PickCube")]
    pv, grid = bat.images(frames)
    batch = bat.tokens(grid, rows)
    with torch.no_grad():
        mine = S.loss_shared(model, pv, grid, batch)
        inp = B.inputs(proc, [frames[s] for s, _, _ in rows], [B.prompt(proc, q) + a + S.IM_END for _, q, a in rows])
        assert torch.equal(inp["input_ids"], batch["input_ids"])
        ref = model(**inp, labels=batch["labels"]).loss
        S.use_fast_patch_embed(model)
        fast = S.loss_shared(model, pv, grid, batch)
    assert abs(float(mine) - float(ref)) < 1e-5 and abs(float(fast) - float(ref)) < 1e-4


def _fresh_model_and_batch(data, tmp_path):
    """A seeded tiny model in training mode and one batch of 2 scenes x 4 questions."""
    d, _ = data
    model, proc = B.build(tmp_path, seed=0, sizes=B.TINY_SIZES)
    S.use_fast_patch_embed(model)
    model.train()
    pv, grid, batch = S.make_batch(S.Batcher(model, proc), d, S.Sampler(d, 0).draw(2, 4))
    return model, pv, grid, batch


def test_loss_is_finite_and_decreases_on_a_repeated_batch(data, tmp_path):
    model, pv, grid, batch = _fresh_model_and_batch(data, tmp_path)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(8):
        loss = S.loss_shared(model, pv, grid, batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert all(np.isfinite(losses))
    assert losses[-1] < 0.7 * losses[0], losses


def test_auxiliary_losses_train_what_and_where_each_image_token_and_object_is(data, tmp_path):
    model, pv, grid, batch = _fresh_model_and_batch(data, tmp_path)
    heads = S.AuxHeads(model.config.text_config.hidden_size, 5)
    opt = torch.optim.AdamW(list(model.parameters()) + list(heads.parameters()), lr=3e-3)
    assert bool(batch["has_seg"].any()) and bool(batch["has_loc"].any())
    aux = []
    for _ in range(20):
        total, ntp, a = S.loss_shared(model, pv, grid, batch, heads, 1.0)
        assert abs(float(total.detach()) - (ntp + a)) < 1e-4
        opt.zero_grad()
        total.backward()
        opt.step()
        aux.append(a)
    assert all(np.isfinite(aux)) and aux[-1] < 0.8 * aux[0], aux
    # the heads train the backbone: both reach the vision tower and the language model's blocks
    assert model.model.visual.blocks[0].attn.qkv.weight.grad.abs().sum() > 0
    assert heads.where.weight.grad.abs().sum() > 0 and heads.seg.weight.grad.abs().sum() > 0
    assert heads.locate.weight.grad.abs().sum() > 0 and heads.locate_query.weight.grad.abs().sum() > 0


def test_object_targets_are_where_the_sim_puts_the_seeds_objects():
    from blm_sim.scene import spawn_frame_for
    from blm_sim.world import SimConfig, Simulation

    xyz, has = S.object_targets("sim", "xarm6", "StackCube", 100_003)
    assert [Q.SEG_CLASSES[c] for c in np.nonzero(has)[0]] == ["red cube", "green cube"]
    sim = Simulation(SimConfig(task="StackCube", embodiment="xarm6", width=32, height=32))
    try:
        sim.reset(100_003)
        fr = spawn_frame_for("xarm6")
        unit = S.loc_unit("xarm6")
        for key, cls in (("cubeA", "red cube"), ("cubeB", "green cube")):
            p = np.asarray(sim.poses[key].pos)
            got = xyz[Q.SEG_CLASSES.index(cls)] * unit + np.array([fr.center_x, 0.0, 0.0])
            assert np.allclose(got, p, atol=1e-6), (key, got, p)
    finally:
        sim.close()
    # demo frames carry no positions (the expert moved the objects)
    assert not S.object_targets("demo", "xarm6", "StackCube", 3)[1].any()


def test_training_resumes_from_its_last_checkpoint(data, trained, tmp_path):
    d, _ = data
    out, _, losses = trained
    assert len(losses) == 6 and all(np.isfinite(losses))
    assert sorted(p.name for p in (out / "ckpt").glob("*.pt")) == ["step_000003.pt", "step_000006.pt"]
    # a run cut after 3 steps and resumed gives the same weights as the uninterrupted one
    (tmp_path / "ckpt").mkdir()
    import shutil

    shutil.copy(out / "ckpt" / "step_000003.pt", tmp_path / "ckpt" / "step_000003.pt")
    model, _, rest = S.train(d, tmp_path, steps=6, scenes=2, questions=3, lr=3e-3, warmup=2, seed=0,
                             ckpt_every=3, resume=True, sizes=B.TINY_SIZES, log=lambda m: None)
    assert len(rest) == 3 and np.allclose(rest, losses[3:], rtol=0, atol=1e-6)
    ref = torch.load(out / "ckpt" / "step_000006.pt", weights_only=False)["model"]
    for k, v in model.state_dict().items():
        assert torch.equal(v, ref[k]), k


def test_encode_shapes_and_scenes_differ(data, trained):
    d, _ = data
    _, folder, _ = trained
    model, proc = B.load(folder)
    frames = [(d.front[0], d.wrist[0]), (d.front[5], d.wrist[5]), (d.front[0], d.wrist[0])]
    instr = ["pick up the red cube", "pick up the red cube", "stack the red cube on top of the green cube"]
    hs = B.encode(model, proc, frames, instr, batch_size=2)
    D = model.config.text_config.hidden_size
    n = [len(proc.tokenizer(B.prompt(proc, i))["input_ids"]) - 2 + 2 * 25 for i in instr]  # pads expand 1 -> 25
    assert [h.shape for h in hs] == [(k, D) for k in n]
    assert all(h.dtype == np.float32 and np.isfinite(h).all() for h in hs)
    assert np.abs(hs[0] - hs[1]).max() > 1e-3  # two scenes, same instruction
    # batching changes nothing: one at a time gives the same states
    one = B.encode(model, proc, frames[1:2], instr[1:2])[0]
    assert np.abs(one - hs[1]).max() <= 1e-5 * max(1.0, np.abs(one).max())
    k1 = B.encode(model, proc, frames[:1], instr[:1], layer_k=1)[0]
    assert k1.shape == hs[0].shape and np.abs(k1 - hs[0]).max() > 1e-3
    with pytest.raises(ValueError, match="layer_k"):
        B.encode(model, proc, frames[:1], instr[:1], layer_k=model.config.text_config.num_hidden_layers + 1)


def test_greedy_decoding_matches_generate(data, trained):
    d, _ = data
    _, folder, _ = trained
    model, proc = B.load(folder)
    bat = S.Batcher(model, proc)
    frames = [(d.front[2], d.wrist[2])]
    q = "which task is this scene set up for?"
    pv, grid = bat.images(frames)
    mine = S.greedy(model, bat, pv, grid, [(0, q)], max_new=4)[0]
    inp = B.inputs(proc, frames, [B.prompt(proc, q)])
    with torch.no_grad():
        gen = model.generate(**inp, max_new_tokens=4, do_sample=False, eos_token_id=proc.tokenizer.convert_tokens_to_ids(S.IM_END))
    ref = proc.tokenizer.decode(gen[0, inp["input_ids"].shape[1]:], skip_special_tokens=False).split(S.IM_END)[0].strip()
    assert mine == ref


def test_export_round_trips_through_onnxruntime(data, trained, tmp_path):
    d, _ = data
    _, folder, _ = trained
    model, proc = B.load(folder)
    k = model.config.text_config.num_hidden_layers
    assert S.main(["export", "--backbone", str(folder), "--out", str(tmp_path), "--layer-k", str(k)]) == 0
    section = json.loads((tmp_path / "backbone.json").read_text())
    assert section["layer_k"] == k and section["image"]["max_pixels"] == B.PIXELS["max_pixels"]
    assert section["prompt"] == {"system": "You are a helpful assistant.", "add_generation_prompt": True}
    assert (tmp_path / "tokenizer.json").read_bytes() == (folder / "tokenizer.json").read_bytes()
    frames = [(d.front[1], d.wrist[1])]
    instr = "grasp the red cube and bring it to the green ball"
    want = B.encode(model, proc, frames, [instr])[0]
    text = proc.apply_chat_template(messages(2, instr), add_generation_prompt=True, tokenize=False)
    inputs = B.inputs(proc, frames, [text])
    got = OnnxBackbone(tmp_path).run(model, inputs)[0]
    assert got.shape == want.shape
    _, rel = max_rel_error(got, want)
    assert rel < TOL_REL


def test_import_rebuilds_the_backbone_folder_from_the_exported_graphs(data, trained, tmp_path):
    d, _ = data
    _, folder, _ = trained
    model, proc = B.load(folder)
    k = model.config.text_config.num_hidden_layers
    exported = tmp_path / "model"
    assert S.main(["export", "--backbone", str(folder), "--out", str(exported), "--layer-k", str(k)]) == 0
    rebuilt = tmp_path / "backbone"
    assert S.main(["import", "--model", str(exported), "--out", str(rebuilt), "--tiny"]) == 0
    again, proc2 = B.load(rebuilt)
    mine, theirs = again.state_dict(), model.state_dict()
    meta = json.loads((rebuilt / B.META_FILE).read_text())
    assert set(meta["not_imported"]) <= {"lm_head.weight", "model.language_model.norm.weight"}
    for name, w in theirs.items():
        if name not in meta["not_imported"]:
            assert torch.equal(mine[name], w), name
    assert proc2.pixels == proc.pixels
    frames = [(d.front[2], d.wrist[2])]
    want = B.encode(model, proc, frames, ["push the cube"])[0]
    got = B.encode(again, proc2, frames, ["push the cube"])[0]
    assert np.array_equal(got, want)
    # a model of other sizes does not fit the graphs
    with pytest.raises(ValueError, match="do not fit"):
        S.main(["import", "--model", str(exported), "--out", str(tmp_path / "wrong")])


def test_locate_error_reads_the_heads_saved_with_the_checkpoint(data, tmp_path):
    d, _ = data
    model, proc = B.build(tmp_path / "tok", seed=0, sizes=B.TINY_SIZES)
    S.use_fast_patch_embed(model)
    dim = model.config.text_config.hidden_size
    assert S.load_aux_heads(tmp_path, dim, 5) is None  # no checkpoint yet
    heads = S.AuxHeads(dim, 5)
    opt = torch.optim.AdamW(heads.parameters())
    S.save_ckpt(tmp_path / "ckpt", 1, model, opt, S.Sampler(d, 0), {}, aux_head=heads)
    loaded = S.load_aux_heads(tmp_path, dim, 5)
    assert loaded is not None and S.load_aux_heads(tmp_path, dim, 9) is None  # heads of another grid
    assert torch.equal(loaded.locate.weight, heads.locate.weight)
    r = S.locate_error(model, proc, loaded, d, max_scenes=4, batch_scenes=2)
    n_sim = sum(m.get("source") == "sim" for m in d.meta[:4])
    assert n_sim > 0 and r["objects"] >= n_sim
    assert 0 < r["median_cm"] <= r["p90_cm"] and np.isfinite(r["mean_position_median_cm"])
