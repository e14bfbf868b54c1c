"""Stage II data and training: an episode written by the expert's own MCAP recorder reads back as
the samples the policy is trained on (commanded targets at t + (k + 1) dt, the jaw's commanded
width, planning gaps dropped), and a few training steps on cached samples run, checkpoint and
resume. Run through scripts/with-env.sh (the recorder serializes with rclpy)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "sim"))

from blm_tiny import stage2  # noqa: E402
from blm_tiny.demos import DT, HORIZON, anchors, read_episode  # noqa: E402
from blm_tools.embodiments import ARMS  # noqa: E402

PANDA = ARMS[0]
MOVE_START, MOVE_END = 1.0, 2.0  # s: the arm's only trajectory
GAP_END = 3.0  # s: a planning gap until the gripper goal
GRIP_AT = 3.0
END = 4.0


def _q(t: float) -> np.ndarray:
    """The commanded arm position: home, a 1 s linear move of joint 1 by 0.5 rad, then held."""
    home = np.array(PANDA.home)
    s = np.clip((t - MOVE_START) / (MOVE_END - MOVE_START), 0.0, 1.0)
    return home + np.eye(len(home))[0] * 0.5 * s


def _bump(t: float, bend: float) -> np.ndarray:
    """A perturbed episode's bend of the move (expert/perturb.py's shape): joint 2 off by ``bend`` mid-move."""
    s = np.clip((t - MOVE_START) / (MOVE_END - MOVE_START), 0.0, 1.0)
    return np.eye(len(PANDA.home))[1] * bend * np.sin(np.pi * s) ** 2


def _record_episode(path: Path, bend: float = 0.0) -> Path:
    """A synthetic episode through the recorder. With ``bend`` the arm is sent (and follows) the bent move
    while the plan goes to the reference topic, as in a perturbed recording."""
    pytest.importorskip("rclpy")
    from rosbags.typesys import Stores, get_typestore

    from blm_sim.embodiment import load_embodiment
    from blm_sim.expert.recorder import REFERENCE_TOPIC, EpisodeRecorder

    ts = get_typestore(Stores.ROS2_HUMBLE)
    T = ts.types  # noqa: N806
    Time, Header = T["builtin_interfaces/msg/Time"], T["std_msgs/msg/Header"]  # noqa: N806
    Duration = T["builtin_interfaces/msg/Duration"]  # noqa: N806

    def header(t: float):
        return Header(stamp=Time(sec=int(t), nanosec=int(round((t - int(t)) * 1e9))), frame_id="")

    def put(topic: str, name: str, msg) -> None:
        # serialized by an independent CDR writer, as a raw subscription would deliver it
        rec.write_raw(topic, name, bytes(ts.serialize_cdr(msg, name)), has_header=True)

    def sent(t: float) -> np.ndarray:
        return _q(t) + _bump(t, bend)

    emb = load_embodiment("panda")
    rec = EpisodeRecorder(path, emb)
    rec.begin(path=path, task="PickCube", seed=7, embodiment="panda", instruction="pick up the red cube")
    for i in range(int(END / 0.01) + 1):
        t = i * 0.01
        # measured = commanded 0.05 s late; the jaw stalls at 0.04 m (the cube) after the goal of 0
        width = 0.08 if t < GRIP_AT else max(0.04, 0.08 - 0.2 * (t - GRIP_AT))
        pos = np.array([*sent(t - 0.05), width / 2])
        vel = np.array([*(sent(t - 0.05) - sent(t - 0.06)) / 0.01, 0.0])  # what a driver reports, rad/s
        put(emb.joint_states_topic, "sensor_msgs/msg/JointState",
            T["sensor_msgs/msg/JointState"](header=header(t), name=[*PANDA.joints, PANDA.gripper], position=pos,
                                             velocity=vel, effort=np.zeros(0)))
        if i % 10 == 0:
            for cam in ("front", "wrist"):
                put(f"/camera/{cam}/image_raw", "sensor_msgs/msg/Image",
                    T["sensor_msgs/msg/Image"](header=header(t), height=8, width=8, encoding="rgb8", is_bigendian=0,
                                               step=24, data=np.full(8 * 8 * 3, i % 256, np.uint8)))
    point = T["trajectory_msgs/msg/JointTrajectoryPoint"]

    def trajectory(q):
        points = [point(positions=q(MOVE_START + k * 0.1), velocities=np.zeros(0), accelerations=np.zeros(0),
                        effort=np.zeros(0), time_from_start=Duration(sec=0, nanosec=int(k * 0.1 * 1e9)))
                  for k in range(11)]
        return T["trajectory_msgs/msg/JointTrajectory"](header=header(MOVE_START), joint_names=list(PANDA.joints),
                                                        points=points)

    put(emb.trajectory_topic, "trajectory_msgs/msg/JointTrajectory", trajectory(sent))
    if bend:
        put(REFERENCE_TOPIC, "trajectory_msgs/msg/JointTrajectory", trajectory(_q))
    rec.note_gripper(0.0, 70.0, GRIP_AT)
    assert rec.end(keep=True) == path
    return path


@pytest.fixture(scope="module")
def episode(tmp_path_factory) -> Path:
    return _record_episode(tmp_path_factory.mktemp("demos") / "panda" / "PickCube" / "seed_7.mcap")


def test_episode_reads_back_with_commanded_targets(episode):
    ep = read_episode(episode)
    assert (ep.embodiment, ep.task, ep.seed, ep.instruction) == ("panda", "PickCube", 7, "pick up the red cube")
    assert ep.front.shape == (41, 8, 8, 3) and ep.wrist.shape == ep.front.shape
    assert ep.front[5, 0, 0, 0] == 50  # the frame at 0.5 s
    np.testing.assert_allclose(ep.state_at(1.55)[:7], _q(1.5), atol=1e-9)
    assert ep.state_at(1.0)[-1] == pytest.approx(0.08)  # jaw width = 2 x finger joint
    chunk = ep.action_chunk(1.2)
    assert chunk.shape == (HORIZON, 8)
    for k in range(HORIZON):
        np.testing.assert_allclose(chunk[k, :7], _q(1.2 + (k + 1) * DT), atol=1e-9)
    # the gripper target is the goal (closed), not the stalled measurement
    late = ep.action_chunk(GRIP_AT + 0.5)
    assert np.all(late[:, -1] == 0.0) and ep.state_at(GRIP_AT + 0.5)[-1] == pytest.approx(0.04, abs=1e-3)


def test_a_perturbed_episode_pairs_the_bent_states_with_the_plan_ahead(tmp_path):
    """DART-style demonstrations: the state is where the bent path took the arm, the chunk the plan, which
    leads back to it."""
    ep = read_episode(_record_episode(tmp_path / "panda" / "PickCube" / "seed_7.mcap", bend=0.04))
    mid = (MOVE_START + MOVE_END) / 2
    np.testing.assert_allclose(ep.state_at(mid + 0.05)[:7], _q(mid) + _bump(mid, 0.04), atol=1e-9)
    assert ep.state_at(mid + 0.05)[1] - _q(mid)[1] == pytest.approx(0.04)
    chunk = ep.action_chunk(mid)
    for k in range(HORIZON):
        np.testing.assert_allclose(chunk[k, :7], _q(mid + (k + 1) * DT), atol=1e-9)


def test_timeline_follows_the_measured_tcp_and_the_seeded_objects(episode):
    from blm_sim.expert.planning import PlanningWorld
    from blm_tiny import qa as Q
    from blm_tiny.timeline import format_timeline, timeline

    tl = timeline(episode, period=0.5)
    assert (tl["embodiment"], tl["task"], tl["seed"]) == ("panda", "PickCube", 7)
    places = Q.seeded_places("panda", "PickCube", 7)
    assert set(tl["objects"]) == set(places) and "cube" in places
    assert [r["t"] for r in tl["rows"]] == [0.5 * i for i in range(int(END / 0.5) + 1)]
    world = PlanningWorld("PickCube", "panda")
    for r in tl["rows"]:
        # measured joints lag the commanded ones by 0.05 s in this recording
        np.testing.assert_allclose(r["tcp"], world.fk(_q(r["t"] - 0.05))[0], atol=1e-3)
        cube = np.linalg.norm(places["cube"][:2] - np.array(r["tcp"][:2]))
        assert r["nearest_xy_cm"] <= 100 * cube + 0.01
    # the jaw: open, then stalled on the cube after the close goal
    assert tl["rows"][0]["jaw"] == pytest.approx(0.08, abs=1e-3) and tl["rows"][-1]["jaw"] == pytest.approx(0.04, abs=1e-3)
    # the arm's only move (joint 1 by 0.5 rad) swings the TCP sideways
    assert np.linalg.norm(np.subtract(tl["rows"][-1]["tcp"][:2], tl["rows"][0]["tcp"][:2])) > 0.1
    text = format_timeline(tl)
    assert text.splitlines()[0] == "panda PickCube seed 7: pick up the red cube" and len(text.splitlines()) == 2 + len(places) + 9
    with pytest.raises(ValueError, match="must be positive"):
        timeline(episode, period=0.0)


def test_timeline_cli_says_what_is_wrong_with_its_input(episode, tmp_path, capsys):
    from blm_tiny.timeline import main

    assert main([str(episode), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["seed"] == 7
    junk = tmp_path / "junk.mcap"
    junk.write_bytes(b"not an mcap")
    for argv, says in (([str(tmp_path / "none.mcap")], "no such file"), ([str(episode), "--period", "-1"], "must be positive"),
                       ([str(junk)], "cannot be read as an MCAP episode")):
        with pytest.raises(SystemExit) as e:
            main(argv)
        assert e.value.code == 2 and says in capsys.readouterr().err


def test_approach_reads_a_folder_of_demonstrations_through_the_timeline(episode):
    from blm_tiny.approach import first_descent, run_descents
    from blm_tiny.timeline import timeline

    found = run_descents(episode.parents[2], below=0.5)  # <root>/panda/PickCube/seed_7.mcap
    assert [d["episode"] for d in found] == ["panda/PickCube/seed_7.mcap"]
    expected = first_descent(timeline(episode, 0.1), below=0.5)
    assert expected["t"] is not None and found[0] == {"episode": "panda/PickCube/seed_7.mcap", **expected}
    assert run_descents(episode.parents[2], below=0.01) == [{"episode": "panda/PickCube/seed_7.mcap", "t": None}]


def test_anchors_drop_the_planning_gap_but_keep_the_finish(episode):
    ep = read_episode(episode)
    ts = anchors(ep)
    assert np.all(np.diff(ts) > 0)
    # chunks from [MOVE_END, GRIP_AT - HORIZON * DT) see neither the move nor the gripper goal
    gap = (ts > MOVE_END + 0.01) & (ts < GRIP_AT - HORIZON * DT - 0.01)
    assert not gap.any()
    assert np.any(ts < MOVE_END) and np.any(ts > GRIP_AT + 0.1)


def _fake_cache(root: Path, rng: np.random.Generator, velocities: bool = False) -> None:
    """Cached episodes for every arm: random features whose first token encodes a goal the chunk moves to
    (with ``velocities``, also the reported arm joint velocities, random)."""
    for arm in ARMS:
        for seed in range(2):
            n, f, L = 30, 10, 6
            states = np.tile(np.array([*arm.home, arm.gripper_range[1] * 0.9]), (n, 1))
            states[:, 0] += rng.uniform(-0.3, 0.3, n)
            goal = rng.uniform(-0.2, 0.2, n)
            chunks = np.repeat(states[:, None, :], HORIZON, axis=1)
            chunks[:, :, 0] += goal[:, None] * np.linspace(0.1, 1.0, HORIZON)[None]
            feats = rng.normal(size=(f, L, 16)).astype(np.float16)
            vel = rng.uniform(-1.0, 1.0, (n, len(arm.joints))) if velocities else None
            _write_cached(root, arm.name, seed, feats, states, chunks, rng.integers(0, f, (n, 4)), vel)


def test_training_states_carry_the_chosen_noise_and_the_targets_none(tmp_path):
    """--state-noise perturbs the state the head sees (its used slots only) while the target chunk
    stays the demonstration's: with the identity state map the head learns to steer back."""
    _fake_cache(tmp_path, np.random.default_rng(0))
    demos = stage2.Demos(sorted(tmp_path.glob("*/*/seed_*.npz")))
    cfg = stage2.blm_tiny_config(demos.d)
    idx = demos.index[:64]
    made = {sigma: stage2.Batcher(demos, demos.ranges(), cfg, state_noise=sigma).make(idx, np.random.default_rng(1), stale=True)
            for sigma in (0.0, 0.05)}
    d = (made[0.05]["state"] - made[0.0]["state"]).numpy()
    used = made[0.0]["s_used"].numpy() > 0
    assert abs(d[used].std() - 0.05) < 0.01 and not d[~used].any()
    assert torch.equal(made[0.05]["actions"], made[0.0]["actions"])


def _write_cached(root: Path, embodiment: str, seed: int, feats, states, chunks, fidx, velocities=None) -> Path:
    out = root / embodiment / "PickCube" / f"seed_{seed}.npz"
    out.parent.mkdir(parents=True, exist_ok=True)
    extra = {} if velocities is None else {"velocities": velocities.astype(np.float32)}
    np.savez(out, feats=feats, states=states.astype(np.float32), chunks=chunks.astype(np.float32),
             future=chunks[:, -1].astype(np.float32), fidx=fidx, **extra,
             meta=np.array(json.dumps({"embodiment": embodiment, "task": "PickCube", "seed": seed,
                                       "instruction": "pick up the red cube", "layer_k": 2})))
    return out


def test_object_places_label_the_samples_until_the_tcp_nears_the_table(tmp_path):
    """The locate targets of a demonstration are where its seed put the objects (the simulator's
    reset draws them from the same seed), and only while the expert cannot have moved them yet."""
    from blm_sim.expert.planning import PlanningWorld

    from blm_tiny import stage1

    world = PlanningWorld("PickCube", "panda")
    rng = np.random.default_rng(0)
    low = next(q for q in (rng.uniform(PANDA.lower, PANDA.upper) for _ in range(20000))
               if 0.0 < world.fk(q)[0][2] < stage2.CONTACT_Z)
    grip = PANDA.gripper_range[1]
    high = np.array([*PANDA.home, grip])
    states = np.stack([high, high, np.array([*low, grip]), high])
    chunks = np.repeat(states[:, None], HORIZON, axis=1)
    f = _write_cached(tmp_path, "panda", 7, np.zeros((1, 3, 16), np.float16), states, chunks, np.zeros((4, 4), np.int64))
    e = stage2.Demos([f]).eps[0]
    assert e["untouched"].tolist() == [True, True, False, False]
    xyz, has = stage1.object_targets("sim", "panda", "PickCube", 7)
    assert has.any() and np.array_equal(e["has_loc"], has) and np.array_equal(e["loc"], xyz)


def _use_small_policy(monkeypatch) -> None:
    """A one-block head and a 4-token bridge: the training and export code paths at a test's cost."""
    small = stage2.blm_tiny_config

    def tiny(d: int, state_skip: str = "learned", offset_scale: bool = False, state_motion: bool = False,
             action_space: str = "absolute_joint", object_offsets: bool = False, width: int = stage2.WIDTH,
             state_blind: bool = False, goal_intent: bool = False):
        cfg = small(d, state_skip, offset_scale, state_motion, action_space, object_offsets, width, state_blind,
                    goal_intent)
        cfg.head.n_layers, cfg.head.d_model, cfg.head.ffn, cfg.head.enc_hidden = 1, 32, 64, 32
        cfg.bridge.d_latent, cfg.bridge.d_intent, cfg.bridge.ffn, cfg.bridge.n_intent = 32, 32, 64, 4
        return cfg

    monkeypatch.setattr(stage2, "blm_tiny_config", tiny)


def test_training_steps_checkpoint_and_resume(tmp_path, monkeypatch):
    _fake_cache(tmp_path / "cache", np.random.default_rng(0))
    _use_small_policy(monkeypatch)
    out = tmp_path / "run"
    report = stage2.train(tmp_path / "cache", out, steps=100, batch_size=16, lr=1e-3, seed=3, resume=False, threads=1,
                          locate_weight=0.1)
    hist = torch.load(out / "ckpt.pt", weights_only=False)["history"]
    assert all(np.isfinite(h["flow"]) and np.isfinite(h["future"]) and np.isfinite(h["locate"]) for h in hist)
    assert hist[-1]["flow"] < hist[0]["flow"]
    assert report["held_out_samples"] > 0 and np.isfinite(report["held_out"]["chunk_max_abs_err_mean"])
    # the arms stay at home, high over the table: every held-out sample locates the cube
    from blm_tiny.stage1 import object_targets

    per_sample = int(object_targets("sim", "panda", "PickCube", 0)[1].sum())
    assert report["held_out"]["objects_from_intent"]["objects"] == per_sample * report["held_out_samples"]
    # statistics: inside every arm's limits less the margin, around the data
    ck = torch.load(out / "ckpt.pt", weights_only=False)
    for arm in ARMS:
        lo, hi = (np.array(x) for x in ck["ranges"][arm.name])
        assert np.all(lo < hi) and np.all(lo[:-1] >= np.array(arm.lower)) and np.all(hi[:-1] <= np.array(arm.upper))
        assert lo[0] <= arm.home[0] - 0.3 and hi[0] >= arm.home[0] + 0.3
    # a resumed run continues from the checkpoint's step with the same data stream
    again = stage2.train(tmp_path / "cache", out, steps=150, batch_size=16, lr=1e-3, seed=3, resume=True, threads=1,
                         locate_weight=0.1)
    assert again["final"]["step"] == 150
    assert torch.load(out / "ckpt.pt", weights_only=False)["history"][:len(hist)] == hist
    # another run can start from this one's weights (here with a vanishing learning rate: they stay)
    tuned = stage2.train(tmp_path / "cache", tmp_path / "tuned", steps=10, batch_size=16, lr=1e-12, seed=4,
                         resume=False, threads=1, init=out / "ckpt.pt")
    assert tuned["init"] == str(out / "ckpt.pt")
    a, b = (torch.load(f, weights_only=False)["policy"] for f in (out / "ckpt.pt", tmp_path / "tuned" / "ckpt.pt"))
    assert all(torch.allclose(v, b[k], atol=1e-6) for k, v in a.items())
    # ... or with the head's state -> action map reset to the identity and kept there
    ident = stage2.train(tmp_path / "cache", tmp_path / "ident", steps=30, batch_size=16, lr=1e-3, seed=4,
                         resume=False, threads=1, init=out / "ckpt.pt", state_skip="identity")
    assert ident["state_skip"] == "identity"
    ck = torch.load(tmp_path / "ident" / "ckpt.pt", weights_only=False)
    assert ck["config"]["head"]["state_skip"] == "identity"
    w, bias = ck["policy"]["head.state_skip.weight"], ck["policy"]["head.state_skip.bias"]
    k = torch.arange(min(w.shape[1:]))
    assert torch.all(w[:, k, k] == 1) and int((w != 0).sum()) == w.shape[0] * len(k) and not bias.any()
    assert not torch.allclose(a["head.state_skip.weight"], w)  # the trained map it started from was not the identity
    moved = ck["policy"]["head.action_decoder.l2.weight"]
    assert not torch.allclose(moved, a["head.action_decoder.l2.weight"])  # while the decoder trained
    # the diagnosis: every held-out pair, TCP distances with the own and with a shuffled intent
    d = stage2.diagnose(tmp_path / "cache", out / "ckpt.pt", near_z=10.0)
    assert sorted(d["pairs"]) == sorted(f"{arm.name}/PickCube" for arm in ARMS)
    for v in d["pairs"].values():
        assert v["own_intent"]["samples"] == v["shuffled_intent"]["samples"] > 0
        assert 0 <= v["own_intent"]["median_cm"] < 100 and 0 <= v["shuffled_intent"]["median_cm"] < 100
    # on the training episodes: as many samples per pair as held out (at least 64, at most all)
    t = stage2.diagnose(tmp_path / "cache", out / "ckpt.pt", near_z=10.0, on="train")
    assert t["on"] == "train" and sorted(t["pairs"]) == sorted(d["pairs"])
    for k, v in t["pairs"].items():
        assert v["own_intent"]["samples"] >= d["pairs"][k]["own_intent"]["samples"]
    with pytest.raises(ValueError, match="held_out or train"):
        stage2.diagnose(tmp_path / "cache", out / "ckpt.pt", on="test")


def test_width_sizes_the_bridge_and_the_head_and_a_checkpoint_of_another_width_is_refused(tmp_path):
    _fake_cache(tmp_path / "cache", np.random.default_rng(0))
    stage2.train(tmp_path / "cache", tmp_path / "wide", steps=3, batch_size=8, lr=1e-3, seed=0, resume=False,
                 threads=1, width=48)
    ck = torch.load(tmp_path / "wide" / "ckpt.pt", weights_only=False)
    head, bridge = ck["config"]["head"], ck["config"]["bridge"]
    assert (head["d_model"], head["enc_hidden"], head["ffn"]) == (48, 48, 96)
    assert (bridge["d_latent"], bridge["d_intent"], bridge["ffn"]) == (48, 48, 96)
    policy, cfg = stage2.load_policy(ck)  # what export and diagnose rebuild it with
    assert cfg.head.d_model == 48 and policy.bridge(torch.zeros(1, 3, 16), torch.ones(1, 3, dtype=torch.int64)).shape[-1] == 48
    with pytest.raises(ValueError, match="48 wide, this run 96"):
        stage2.train(tmp_path / "cache", tmp_path / "narrow", steps=1, batch_size=8, lr=1e-3, seed=0, resume=False,
                     threads=1, init=tmp_path / "wide" / "ckpt.pt")
    with pytest.raises(ValueError, match="multiple of the 4 attention heads"):
        stage2.blm_tiny_config(64, width=50)


def test_intent_frame_first_gives_every_sample_its_episodes_first_frame_and_the_checkpoint_says_so(tmp_path, monkeypatch):
    """--intent-frame first: the head is trained on the intent of the scene before the arm moved, the
    one an agent that encodes once per goal gives it, in training and validation alike."""
    _fake_cache(tmp_path / "cache", np.random.default_rng(0))
    _use_small_policy(monkeypatch)
    demos = stage2.Demos(sorted((tmp_path / "cache").glob("*/*/seed_*.npz")))
    cfg = stage2.blm_tiny_config(demos.d)
    idx = demos.index[::2]
    first = stage2.Batcher(demos, demos.ranges(), cfg, intent_frame="first")
    current = stage2.Batcher(demos, demos.ranges(), cfg)
    for stale in (True, False):
        b, c = (x.make(idx, np.random.default_rng(3), stale=stale) for x in (first, current))
        own = [demos.eps[i]["feats"][0].astype(np.float32) for i, _ in idx]
        for r, f in enumerate(own):
            np.testing.assert_array_equal(b["hidden"][r, : len(f)].numpy(), f)
        assert sum(not np.array_equal(c["hidden"][r, : len(f)].numpy(), f) for r, f in enumerate(own)) > len(own) // 2
    with pytest.raises(ValueError, match="intent_frame 'last'"):
        stage2.Batcher(demos, demos.ranges(), cfg, intent_frame="last")
    report = stage2.train(tmp_path / "cache", tmp_path / "run", steps=3, batch_size=8, lr=1e-3, seed=0, resume=False,
                          threads=1, intent_frame="first")
    assert report["intent_frame"] == "first"
    assert torch.load(tmp_path / "run" / "ckpt.pt", weights_only=False)["intent_frame"] == "first"


def test_intent_frame_goal_gives_the_head_the_first_frames_intent_before_the_current_one(tmp_path, monkeypatch):
    """--intent-frame goal: the batch holds each row's episode's first frame pair beside its own frames,
    the head's context is the goal's intent followed by the current one, and a head or a frame choice
    that does not match the other is refused."""
    _fake_cache(tmp_path / "cache", np.random.default_rng(0))
    _use_small_policy(monkeypatch)
    demos = stage2.Demos(sorted((tmp_path / "cache").glob("*/*/seed_*.npz")))
    cfg = stage2.blm_tiny_config(demos.d, goal_intent=True)
    idx = demos.index[::2]
    b = stage2.Batcher(demos, demos.ranges(), cfg, intent_frame="goal").make(idx, np.random.default_rng(3), stale=True)
    c = stage2.Batcher(demos, demos.ranges(), stage2.blm_tiny_config(demos.d)).make(idx, np.random.default_rng(3), stale=True)
    np.testing.assert_array_equal(b["hidden"].numpy(), c["hidden"].numpy())  # the current frames as before
    for r, (i, _) in enumerate(idx):
        f = demos.eps[i]["feats"][0].astype(np.float32)
        np.testing.assert_array_equal(b["hidden_goal"][r, : len(f)].numpy(), f)
        assert int(b["mask_goal"][r].sum()) == len(f)
    policy = stage2.Policy(cfg)
    intent, context = policy.intents(b)
    n = intent.shape[1]
    assert context.shape[1] == 2 * n
    torch.testing.assert_close(context[:, n:], intent)
    torch.testing.assert_close(context[:, :n], policy.bridge(b["hidden_goal"], b["mask_goal"]))
    with pytest.raises(ValueError, match="goal_intent is False"):
        stage2.Batcher(demos, demos.ranges(), stage2.blm_tiny_config(demos.d), intent_frame="goal")
    with pytest.raises(ValueError, match="goal_intent is True"):
        stage2.Batcher(demos, demos.ranges(), cfg)
    report = stage2.train(tmp_path / "cache", tmp_path / "run", steps=3, batch_size=8, lr=1e-3, seed=0, resume=False,
                          threads=1, intent_frame="goal")
    assert report["intent_frame"] == "goal" and "held_out" in report
    ck = torch.load(tmp_path / "run" / "ckpt.pt", weights_only=False)
    assert ck["intent_frame"] == "goal" and ck["config"]["head"]["goal_intent"]
    again = stage2.train(tmp_path / "cache", tmp_path / "more", steps=2, batch_size=8, lr=1e-3, seed=0, resume=False,
                         threads=1, intent_frame="goal", init=tmp_path / "run" / "ckpt.pt")
    assert again["steps"] == 2
    with pytest.raises(ValueError, match="--context-swap swaps one intent"):
        stage2.train(tmp_path / "cache", tmp_path / "swap", steps=1, batch_size=8, lr=1e-3, seed=0, resume=False,
                     threads=1, intent_frame="goal", context_swap=0.5)


def test_features_from_the_backbone_train_and_export(episode, tmp_path, monkeypatch):
    """Cached features are the backbone's layer-k hidden states of each frame pair; the export holds
    the Stage I backbone graphs, the bridge and the head, with the trained statistics."""
    import onnxruntime as ort

    from blm_tiny import backbone as B

    bdir = tmp_path / "backbone"
    model, proc = B.build(bdir, seed=0, sizes=B.TINY_SIZES)
    B.save(model, proc, bdir)
    demos = episode.parents[2]
    cache = tmp_path / "cache"
    assert stage2.cache_features(demos, bdir, cache, layer_k=1) == 1
    assert stage2.cache_features(demos, bdir, cache, layer_k=1) == 0  # resumable: done is skipped
    z = np.load(cache / "panda" / "PickCube" / "seed_7.npz")
    ep = read_episode(episode)
    ts = anchors(ep)
    i = len(ts) // 2
    f = ep.frame_index(ts[i])
    ref = B.encode(model, proc, [(ep.front[f], ep.wrist[f])], [ep.instruction], layer_k=1)[0]
    assert z["feats"].shape[0] <= len(ep.front) and z["feats"].shape[1:] == ref.shape
    assert z["fidx"].shape == (len(ts), stage2.STALE_FRAMES + 1)
    np.testing.assert_allclose(z["feats"][z["fidx"][i, 0]].astype(np.float32), ref, atol=2e-3 * max(1.0, np.abs(ref).max()))
    older = B.encode(model, proc, [(ep.front[f - 2], ep.wrist[f - 2])], [ep.instruction], layer_k=1)[0]
    np.testing.assert_allclose(z["feats"][z["fidx"][i, 2]].astype(np.float32), older, atol=2e-3 * max(1.0, np.abs(ref).max()))
    assert len(z["states"]) == len(ts) and z["chunks"].shape[1:] == (HORIZON, 8)
    # the velocities the driver reported in the latest joint state at each sample: 0.5 rad/s of
    # joint 1 while the measured arm moves (1.05..2.05 s), none before or after
    assert z["velocities"].shape == (len(ts), 7)
    for k, t in enumerate(ts):
        want = 0.5 if 1.07 <= t <= 2.04 else 0.0 if (t < 1.04 or t > 2.07) else None
        if want is not None:
            np.testing.assert_allclose(z["velocities"][k], [want, 0, 0, 0, 0, 0, 0], atol=1e-4)

    # the other arms from synthetic caches of the same width, so every arm has statistics
    rng = np.random.default_rng(1)
    for arm in ARMS[1:]:
        n = 20
        states = np.tile(np.array([*arm.home, arm.gripper_range[1] * 0.9]), (n, 1)).astype(np.float32)
        out = cache / arm.name / "PickCube" / "seed_0.npz"
        out.parent.mkdir(parents=True, exist_ok=True)
        np.savez(out, feats=z["feats"][:4], states=states, chunks=np.repeat(states[:, None], HORIZON, 1),
                 future=states, fidx=rng.integers(0, 4, (n, 4)),
                 meta=np.array(json.dumps({"embodiment": arm.name, "task": "PickCube", "seed": 0,
                                           "instruction": "x", "layer_k": 1})))
    _use_small_policy(monkeypatch)
    stage2.train(cache, tmp_path / "run", steps=20, batch_size=8, lr=1e-3, seed=0, resume=False, threads=1)
    out = tmp_path / "model"
    manifest = stage2.export(tmp_path / "run" / "ckpt.pt", bdir, out, layer_k=None)
    assert manifest["backbone"]["kind"] == "qwen2_5_vl" and manifest["backbone"]["layer_k"] == 1
    assert set(manifest["graphs"]) == {"intent_bridge", "denoiser"}
    assert manifest["intent"] == {"tokens": 4, "dim": 32}
    ck = torch.load(tmp_path / "run" / "ckpt.pt", weights_only=False)
    assert manifest["embodiments"]["panda"]["action"]["normalization"]["min"] == ck["ranges"]["panda"][0]
    for g in [*manifest["graphs"].values(), *manifest["backbone"]["qwen2_5_vl"]["graphs"].values()]:
        assert (out / g["file"]).exists()
    # the exported bridge is the trained one
    policy = stage2.Policy(stage2.blm_tiny_config(ref.shape[1]))  # the small one, patched above
    policy.load_state_dict(ck["policy"])
    h = torch.from_numpy(ref[None].astype(np.float32))
    m = torch.ones(1, ref.shape[0], dtype=torch.int64)
    with torch.no_grad():
        want = policy.bridge(h, m).numpy()
    sess = ort.InferenceSession(str(out / "intent_bridge.onnx"), providers=["CPUExecutionProvider"])
    got = sess.run(None, {"hidden_states": h.numpy(), "hidden_mask": m.numpy()})[0]
    np.testing.assert_allclose(got, want, atol=1e-4)


def test_the_offset_scale_is_the_data_rms_offset_per_step_and_a_run_keeps_it(tmp_path, monkeypatch):
    """--offset-scale: the head's offsets are scaled by the training samples' RMS offset from the
    state (normalized units, per arm, horizon step and dimension); dimensions that never move get
    the floor, padding stays at 1, and a run started from a scaled checkpoint keeps its scale."""
    _fake_cache(tmp_path / "cache", np.random.default_rng(0))
    _use_small_policy(monkeypatch)
    demos = stage2.Demos(sorted((tmp_path / "cache").glob("*/*/seed_*.npz")))
    train_rows, _ = stage2.split(demos)
    cfg = stage2.blm_tiny_config(demos.d, "identity", offset_scale=True)
    ranges = demos.ranges()
    batcher = stage2.Batcher(demos, ranges, cfg)
    head = stage2.Policy(cfg).head
    scale = stage2.fit_offset_scale(head, batcher, demos.index[train_rows], np.random.default_rng(0))
    for arm in ARMS:
        rows = [(i, j) for i, j in demos.index[train_rows] if demos.eps[i]["arm"] is arm]
        off = np.array([demos.eps[i]["chunks"][j][:, 0] - demos.eps[i]["states"][j][0] for i, j in rows])
        lo, hi = ranges[arm.name][0][0], ranges[arm.name][1][0]
        want = np.sqrt((off**2).mean(axis=0)) * 2.0 / (hi - lo)  # joint 0, per horizon step
        got = scale[arm.model_id]
        j0 = arm.action_indices[0]
        np.testing.assert_allclose(got[:, j0].numpy(), want, rtol=1e-4)
        assert got[-1, j0] > 5 * got[0, j0]  # the chunk's end moves ten times as far as its first point
        still = list(arm.action_indices[1:])  # the other joints and the gripper hold: the floor
        assert torch.all(got[:, still] == 1e-3)
        pad = [d for d in range(cfg.head.action_dim) if d not in arm.action_indices]
        assert torch.all(got[:, pad] == 1)
    report = stage2.train(tmp_path / "cache", tmp_path / "run", steps=20, batch_size=16, lr=1e-3, seed=0,
                          resume=False, threads=1, state_skip="identity", offset_scale=True)
    assert report["offset_scale"] is True
    ck = torch.load(tmp_path / "run" / "ckpt.pt", weights_only=False)
    fitted = ck["policy"]["head.offset_scale"]
    assert torch.all(fitted <= 1) and bool((fitted < 1).any())
    stage2.train(tmp_path / "cache", tmp_path / "more", steps=10, batch_size=16, lr=1e-3, seed=1,
                 resume=False, threads=1, init=tmp_path / "run" / "ckpt.pt", state_skip="identity", offset_scale=True)
    kept = torch.load(tmp_path / "more" / "ckpt.pt", weights_only=False)["policy"]["head.offset_scale"]
    assert torch.equal(kept, fitted)


def test_state_motion_feeds_the_reported_velocities_in_free_slots_and_exports_where(tmp_path, monkeypatch):
    """--state-motion: each arm joint's reported velocity (JointState.velocity, cached by `features`)
    times its position normalization's slope, at padded state slots 8.. that no arm uses; the rest
    of the state is unchanged; the manifest's state.velocity names those slots and that scale; a
    cache without velocities is refused by name."""
    from blm_tools.config import ModelConfig
    from blm_tools.export import embodiment_entries

    _fake_cache(tmp_path / "cache", np.random.default_rng(0), velocities=True)
    _use_small_policy(monkeypatch)
    demos = stage2.Demos(sorted((tmp_path / "cache").glob("*/*/seed_*.npz")))
    ranges = demos.ranges()
    plain, moving = (stage2.Batcher(demos, ranges, stage2.blm_tiny_config(demos.d, state_motion=m)) for m in (False, True))
    idx = demos.index[:40]
    a, b = (x.make(idx, np.random.default_rng(1), stale=False)["state"].numpy() for x in (plain, moving))
    slots = np.arange(stage2.VELOCITY_SLOT, stage2.VELOCITY_SLOT + 7)
    assert not set(slots) & {i for arm in ARMS for i in arm.state_indices}
    rest = np.setdiff1d(np.arange(a.shape[1]), slots)
    np.testing.assert_array_equal(a[:, rest], b[:, rest])
    assert not a[:, slots].any()
    for r, (i, j) in enumerate(idx):
        e = demos.eps[i]
        arm, n = e["arm"], e["arm"].dims - 1
        lo, hi = np.array(ranges[arm.name][0][:-1]), np.array(ranges[arm.name][1][:-1])
        np.testing.assert_allclose(b[r, slots[:n]], e["velocities"][j] * 2 / (hi - lo), rtol=1e-5)
        assert not b[r, slots[n:]].any()
    assert np.abs(b[:, slots]).max() > 0.1

    cfg = stage2.blm_tiny_config(demos.d, state_motion=True)
    entries = embodiment_entries(ModelConfig(cfg.backbone, cfg.bridge, cfg.head), ranges)
    for arm in ARMS:
        v = entries[arm.name]["state"]["velocity"]
        lo, hi = np.array(ranges[arm.name][0][:-1]), np.array(ranges[arm.name][1][:-1])
        assert v["indices"] == list(range(8, 8 + len(arm.joints)))
        np.testing.assert_allclose(v["scale"], 2 / (hi - lo), rtol=1e-8)
    assert "velocity" not in embodiment_entries(stage2.blm_tiny_config(demos.d), ranges)["panda"]["state"]

    stage2.train(tmp_path / "cache", tmp_path / "run", steps=5, batch_size=8, lr=1e-3, seed=0, resume=False,
                 threads=1, state_skip="identity", state_motion=True)
    _fake_cache(tmp_path / "old", np.random.default_rng(0))
    with pytest.raises(ValueError, match="no joint velocities.*re-run `features`"):
        stage2.train(tmp_path / "old", tmp_path / "run2", steps=2, batch_size=8, lr=1e-3, seed=0, resume=False,
                     threads=1, state_skip="identity", state_motion=True)

def test_a_state_blind_head_hides_each_arms_joints_and_tcp_position_and_learns_where_the_arm_goes(tmp_path, monkeypatch):
    """--state-blind: per arm, the view hides the joints, their velocity slots and the TCP position and
    keeps the jaw and the TCP's rotation; the future loss becomes the motion from the state (a trunk
    that cannot see the arm cannot say where it ends up, only how far it goes); the view is trained
    into the checkpoint and the run says so."""
    _fake_cache(tmp_path / "cache", np.random.default_rng(0))
    _use_small_policy(monkeypatch)
    view = stage2.blind_state_view(stage2.blm_tiny_config(16).head).numpy()
    for arm in ARMS:
        joints = list(arm.state_indices[:-1])
        assert not view[arm.model_id, joints].any() and view[arm.model_id, arm.state_indices[-1]] == 1
        assert not view[arm.model_id, 8 : 8 + len(joints)].any() and not view[arm.model_id, 16:19].any()
        assert view[arm.model_id, 19:25].all() and view[arm.model_id, 32:].all()
    demos = stage2.Demos(sorted((tmp_path / "cache").glob("*/*/seed_*.npz")))
    cfg = stage2.blm_tiny_config(demos.d, "identity", state_blind=True)
    policy = stage2.Policy(cfg)
    policy.head.set_state_view(torch.from_numpy(view))
    batch = stage2.Batcher(demos, demos.ranges(), cfg).make(demos.index[:16], np.random.default_rng(0), stale=False)
    hidden = 0.5 * batch["s_used"] * (1.0 - torch.from_numpy(view)[batch["emb"]])
    moved = dict(batch, future=batch["future"] + hidden, state=batch["state"] + hidden)
    losses = [stage2.losses(policy, b, torch.Generator().manual_seed(0), locate=False)[1] for b in (batch, moved)]
    torch.testing.assert_close(losses[0], losses[1])  # the same motion from a moved state: the same loss
    report = stage2.train(tmp_path / "cache", tmp_path / "run", steps=3, batch_size=8, lr=1e-3, seed=0, resume=False,
                          threads=1, state_skip="identity", state_blind=True)
    ck = torch.load(tmp_path / "run" / "ckpt.pt", weights_only=False)
    assert report["state_blind"] and ck["config"]["head"]["state_blind"]
    np.testing.assert_array_equal(ck["policy"]["head.state_view"].numpy(), view)


def test_first_step_puts_rows_at_flow_time_zero_where_the_noise_cannot_reach_the_chunk(tmp_path, monkeypatch):
    """--first-step 1: every row at t = 0, where a sample-predicting head sees none of the noisy
    actions, so the loss no longer depends on the noise drawn; the usual mix of times does."""
    _fake_cache(tmp_path / "cache", np.random.default_rng(0))
    _use_small_policy(monkeypatch)
    demos = stage2.Demos(sorted((tmp_path / "cache").glob("*/*/seed_*.npz")))
    cfg = stage2.blm_tiny_config(demos.d, "identity")
    policy = stage2.Policy(cfg)
    batch = stage2.Batcher(demos, demos.ranges(), cfg).make(demos.index[:32], np.random.default_rng(0), stale=False)
    flow = {(f, seed): stage2.losses(policy, batch, torch.Generator().manual_seed(seed), locate=False, first_step=f)[0]
            for f in (0.0, 1.0) for seed in (0, 1)}
    torch.testing.assert_close(flow[(1.0, 0)], flow[(1.0, 1)])
    assert abs(flow[(0.0, 0)].item() - flow[(0.0, 1)].item()) > 1e-6
    report = stage2.train(tmp_path / "cache", tmp_path / "run", steps=2, batch_size=8, lr=1e-3, seed=0, resume=False,
                          threads=1, state_skip="identity", first_step=0.5)
    assert report["first_step"] == 0.5
    with pytest.raises(ValueError, match=r"first_step 1.5: a fraction"):
        stage2.train(tmp_path / "cache", tmp_path / "bad", steps=1, batch_size=8, lr=1e-3, seed=0, resume=False,
                     threads=1, first_step=1.5)


def test_corrective_rows_move_the_arm_off_the_path_and_label_the_way_back(tmp_path, monkeypatch):
    """--corrective-noise: about half the training rows have their arm joints moved by a draw (rad, in
    normalized units here), and their
    chunk by the same offset fading to none at its last point (from the state, back onto the
    demonstration); the jaw, the features and the future target stay; the other rows are untouched."""
    _fake_cache(tmp_path / "cache", np.random.default_rng(0))
    _use_small_policy(monkeypatch)
    demos = stage2.Demos(sorted((tmp_path / "cache").glob("*/*/seed_*.npz")))
    cfg = stage2.blm_tiny_config(demos.d, "identity")
    idx = demos.index[:64]
    plain = stage2.Batcher(demos, demos.ranges(), cfg, state_noise=0.0).make(idx, np.random.default_rng(0), stale=True)
    moved = stage2.Batcher(demos, demos.ranges(), cfg, state_noise=0.0, corrective_noise=0.2).make(
        idx, np.random.default_rng(0), stale=True)
    for k in ("hidden", "future", "s_used", "a_used", "emb"):
        torch.testing.assert_close(plain[k], moved[k])
    h = cfg.head.horizon
    fade = 1.0 - torch.arange(1, h + 1, dtype=torch.float32) / h
    n_moved = 0
    for r, (ep, _) in enumerate(idx):
        arm = demos.eps[ep]["arm"]
        si, ai = list(arm.state_indices), list(arm.action_indices)
        delta = moved["state"][r, si[:-1]] - plain["state"][r, si[:-1]]
        assert moved["state"][r, si[-1]] == plain["state"][r, si[-1]]  # the jaw
        assert torch.equal(moved["actions"][r][:, ai[-1]], plain["actions"][r][:, ai[-1]])
        if not delta.abs().max() > 0:
            torch.testing.assert_close(moved["actions"][r], plain["actions"][r])
            continue
        n_moved += 1
        lo, hi = (torch.tensor(x[:-1], dtype=torch.float32) for x in demos.ranges()[arm.name])
        rad = delta * (hi - lo) / 2.0
        assert 0.05 < rad.std() < 0.6  # 0.2 rad, a draw per joint, not one shift
        torch.testing.assert_close(moved["actions"][r][:, ai[:-1]] - plain["actions"][r][:, ai[:-1]],
                                   fade[:, None] * delta[None, :])
        # point k is (k+1)/h of the way back: the last point is the demonstration's
        torch.testing.assert_close(moved["actions"][r][-1], plain["actions"][r][-1])
    assert 16 <= n_moved <= 48
    # held-out (stale=False) rows are never moved
    val = stage2.Batcher(demos, demos.ranges(), cfg, corrective_noise=0.2).make(idx, np.random.default_rng(0), stale=False)
    plain_val = stage2.Batcher(demos, demos.ranges(), cfg).make(idx, np.random.default_rng(0), stale=False)
    torch.testing.assert_close(val["actions"], plain_val["actions"])
    report = stage2.train(tmp_path / "cache", tmp_path / "run", steps=2, batch_size=8, lr=1e-3, seed=0, resume=False,
                          threads=1, state_skip="identity", corrective_noise=0.1)
    assert report["corrective_noise"] == 0.1
    with pytest.raises(ValueError, match="corrective_noise -0.1"):
        stage2.Batcher(demos, demos.ranges(), cfg, corrective_noise=-0.1)


def test_ee_pose_targets_are_the_tcp_poses_of_the_chunks_beside_the_state_tcp_and_export_so(tmp_path, monkeypatch):
    """--action-space ee_pose: each action row is the TCP pose of the demonstration's joint target
    (kinematics.tcp_pose9, normalized by the TCP statistics) at the slots where the state carries the
    measured joints' TCP pose, so the identity state map starts every chunk where the TCP is; the
    jaw stays at the arm's gripper slot, and no joint slot is trained. The manifest says so, and a
    few steps train, save the TCP statistics and export."""
    from blm_tools.config import ModelConfig
    from blm_tools.export import embodiment_entries
    from blm_tools.kinematics import tcp_pose9

    _fake_cache(tmp_path / "cache", np.random.default_rng(0))
    _use_small_policy(monkeypatch)
    demos = stage2.Demos(sorted((tmp_path / "cache").glob("*/*/seed_*.npz")))
    ranges, tcp_ranges = demos.ranges(), demos.tcp_ranges()
    cfg = stage2.blm_tiny_config(demos.d, "identity", action_space="ee_pose")
    with pytest.raises(ValueError, match="TCP statistics"):
        stage2.Batcher(demos, ranges, cfg)
    batcher = stage2.Batcher(demos, ranges, cfg, tcp_ranges=tcp_ranges)
    idx = demos.index[::7]
    b = batcher.make(idx, np.random.default_rng(1), stale=False)
    slots = list(range(16, 25))
    for r, (i, j) in enumerate(idx):
        e = demos.eps[i]
        arm, n = e["arm"], e["arm"].dims - 1
        lo, hi = np.array(tcp_ranges[arm.name][0]), np.array(tcp_ranges[arm.name][1])
        pose = (b["actions"][r][:, slots].numpy() + 1) / 2 * (hi - lo) + lo
        np.testing.assert_allclose(pose, tcp_pose9(arm.name, e["chunks"][j][:, :n]), atol=1e-5)
        now = (b["state"][r, slots].numpy() + 1) / 2 * (hi - lo) + lo
        np.testing.assert_allclose(now, tcp_pose9(arm.name, e["states"][j][:n]), atol=1e-5)
        g = arm.action_indices[-1]
        np.testing.assert_allclose(b["actions"][r][:, g].numpy(), batcher.norm(arm, e["chunks"][j])[:, -1], atol=1e-6)
        assert set(np.nonzero(b["a_used"][r].numpy())[0]) == {*slots, g}
    assert (b["actions"].abs() <= 1.0 + 1e-5).all()

    e = embodiment_entries(ModelConfig(cfg.backbone, cfg.bridge, cfg.head), ranges, tcp_ranges)["xarm6"]
    assert e["action_space"] == "ee_pose"
    assert e["action"]["indices"] == [*slots, 7] and e["state"]["tcp"]["indices"] == slots
    assert e["action"]["normalization"]["min"] == [*tcp_ranges["xarm6"][0], ranges["xarm6"][0][-1]]
    with pytest.raises(ValueError, match="TCP statistics"):
        embodiment_entries(ModelConfig(cfg.backbone, cfg.bridge, cfg.head), ranges)

    report = stage2.train(tmp_path / "cache", tmp_path / "run", steps=5, batch_size=8, lr=1e-3, seed=0, resume=False,
                          threads=1, state_skip="identity", action_space="ee_pose")
    ck = torch.load(tmp_path / "run" / "ckpt.pt", weights_only=False)
    assert report["action_space"] == "ee_pose" and ck["config"]["head"]["action_space"] == "ee_pose"
    assert ck["tcp_ranges"] == tcp_ranges


def test_object_offsets_are_the_located_places_less_the_tcp_in_free_state_slots(tmp_path, monkeypatch):
    """--object-offsets: the head places each object class from the intent (its own locate layers,
    exported with it), maps the place from locate units to the TCP position's normalized units
    (object_frame: the spawn frame's centre and scale, the TCP statistics), and feeds the state
    encoder place - TCP at slots 32..61, leaving every other slot as it was; training needs the locate
    loss, and the frame is set from the run's TCP statistics."""
    from blm_sim.scene import spawn_frame_for

    from blm_tiny.stage1 import loc_unit

    _fake_cache(tmp_path / "cache", np.random.default_rng(0))
    _use_small_policy(monkeypatch)
    with pytest.raises(ValueError, match="locate-weight"):
        stage2.train(tmp_path / "cache", tmp_path / "bad", steps=2, batch_size=8, lr=1e-3, seed=0, resume=False,
                     threads=1, action_space="ee_pose", object_offsets=True)
    with pytest.raises(ValueError, match="needs action_space = 'ee_pose'"):
        stage2.Policy(stage2.blm_tiny_config(16, object_offsets=True))
    stage2.train(tmp_path / "cache", tmp_path / "run", steps=5, batch_size=8, lr=1e-3, seed=0, resume=False,
                 threads=1, state_skip="identity", action_space="ee_pose", object_offsets=True, locate_weight=0.1)
    ck = torch.load(tmp_path / "run" / "ckpt.pt", weights_only=False)
    policy, cfg = stage2.load_policy(ck)
    head = policy.head
    arm = ARMS[1]  # xarm6
    lo, hi = np.array(ck["tcp_ranges"][arm.name][0][:3]), np.array(ck["tcp_ranges"][arm.name][1][:3])
    with torch.no_grad():
        frame = head.object_frame[arm.model_id].numpy()
        place = np.array([1.5, -2.0, 0.5])  # locate units
        metres = place * loc_unit(arm.name) + np.array([spawn_frame_for(arm.name).center_x, 0.0, 0.0])
        np.testing.assert_allclose(place * frame[0] + frame[1], 2 * (metres - lo) / (hi - lo) - 1, atol=1e-5)
        # every class placed at `place`: zero weights, the place as the bias
        head.locate.weight.zero_()
        head.locate.bias.copy_(torch.from_numpy(np.tile(place, cfg.head.n_objects)).float())
        state = torch.rand(2, cfg.head.state_dim) * 2 - 1
        intent = torch.randn(2, cfg.bridge.n_intent, cfg.bridge.d_intent)
        out = head.with_object_offsets(state, torch.tensor([arm.model_id] * 2), intent).numpy()
    want = (place * frame[0] + frame[1])[None, :] - state[:, 16:19].numpy()
    for c in range(cfg.head.n_objects):
        np.testing.assert_allclose(out[:, 32 + 3 * c : 35 + 3 * c], want, atol=1e-5)
    np.testing.assert_array_equal(out[:, :32], state[:, :32].numpy())
    np.testing.assert_array_equal(out[:, 62:], state[:, 62:].numpy())


def test_context_swap_gives_rows_another_episodes_features_of_the_same_pair(tmp_path, monkeypatch):
    """--context-swap: for that fraction of the rows the head's context is another episode's frame of
    the same robot and task (the object offsets still come from the row's own intent), so the chunk
    can only be placed from the offsets; refused without --object-offsets."""
    _fake_cache(tmp_path / "cache", np.random.default_rng(0))
    _use_small_policy(monkeypatch)
    demos = stage2.Demos(sorted((tmp_path / "cache").glob("*/*/seed_*.npz")))
    cfg = stage2.blm_tiny_config(demos.d, "identity", action_space="ee_pose", object_offsets=True)
    batcher = stage2.Batcher(demos, demos.ranges(), cfg, tcp_ranges=demos.tcp_ranges(), context_swap=0.5)
    idx = demos.index[::3]
    b = batcher.make(idx, np.random.default_rng(2), stale=True)
    assert 0.3 < float(b["swap"].float().mean()) < 0.7
    for r, (i, _) in enumerate(idx):
        e = demos.eps[i]
        n = int(b["mask_swap"][r].sum())
        got = b["hidden_swap"][r, :n].numpy()
        others = [o for o in demos.episodes_of[(e["embodiment"], e["task"])] if o != i]
        assert any(any(np.array_equal(got, f.astype(np.float32)) for f in demos.eps[o]["feats"]) for o in others)
    assert "swap" not in batcher.make(idx, np.random.default_rng(2), stale=False)  # validation sees its own
    with pytest.raises(ValueError, match="needs --object-offsets"):
        stage2.train(tmp_path / "cache", tmp_path / "bad", steps=2, batch_size=8, lr=1e-3, seed=0, resume=False,
                     threads=1, action_space="ee_pose", context_swap=0.5)
    report = stage2.train(tmp_path / "cache", tmp_path / "run", steps=5, batch_size=8, lr=1e-3, seed=0, resume=False,
                          threads=1, state_skip="identity", action_space="ee_pose", object_offsets=True,
                          locate_weight=0.1, context_swap=0.5)
    assert report["context_swap"] == 0.5


def test_offset_sensitivity_moves_the_places_and_reads_the_chunk_ends(tmp_path, monkeypatch):
    """`sensitivity` reads only the held-out episodes (the last seed of each pair), moves every object
    place along y in the locate layers and reports per arm how far the chunks' last TCP moved; a
    head whose decoder ignores the state reports 0, and a model without offsets is refused."""
    _fake_cache(tmp_path / "cache", np.random.default_rng(0))
    _use_small_policy(monkeypatch)
    files = stage2.held_out_files(tmp_path / "cache")
    assert {f.stem for f in files} == {"seed_1"} and len(files) == len(ARMS)
    stage2.train(tmp_path / "cache", tmp_path / "run", steps=3, batch_size=8, lr=1e-3, seed=0, resume=False,
                 threads=1, state_skip="identity", action_space="ee_pose", object_offsets=True, locate_weight=0.1)
    ckpt = tmp_path / "run" / "ckpt.pt"
    r = stage2.offset_sensitivity(tmp_path / "cache", ckpt, 0.03, every=3)
    assert set(r["arms"]) == {a.name for a in ARMS} and r["objects_moved_cm"] == 3.0
    assert all(np.isfinite(v["chunk_end_moves_cm"]) for v in r["arms"].values())
    ck = torch.load(ckpt, weights_only=False)
    for k in [k for k in ck["policy"] if k.startswith("head.action_decoder.l2")]:
        ck["policy"][k].zero_()  # offsets from the state map only: no object can move the chunk
    torch.save(ck, tmp_path / "flat.pt")
    assert all(v["chunk_end_moves_cm"] == 0 for v in stage2.offset_sensitivity(tmp_path / "cache", tmp_path / "flat.pt")["arms"].values())
    stage2.train(tmp_path / "cache", tmp_path / "plain", steps=2, batch_size=8, lr=1e-3, seed=0, resume=False,
                 threads=1, state_skip="identity", action_space="ee_pose")
    with pytest.raises(ValueError, match="not an object-offset model"):
        stage2.offset_sensitivity(tmp_path / "cache", tmp_path / "plain" / "ckpt.pt")
