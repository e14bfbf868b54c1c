"""EpisodeRecorder.wait_for_sources: a recording begins only once the sim's camera and joint-state
publishers are discovered (an episode begun before that was recorded empty), and not forever."""

from __future__ import annotations

import time

import pytest

from rosutil import domain_id, requires_ros

pytestmark = requires_ros


@pytest.fixture
def recorder(tmp_path):
    import rclpy

    from blm_sim.embodiment import load_embodiment
    from blm_sim.expert.recorder import EpisodeRecorder

    domain_id()
    rclpy.init()
    rec = EpisodeRecorder(tmp_path / "episode.mcap", load_embodiment("panda"))
    rec.start()
    yield rec
    rec.stop()
    rclpy.shutdown()


def test_without_a_sim_it_gives_up_after_its_timeout_and_names_what_is_missing(recorder):
    t0 = time.monotonic()
    missing = recorder.wait_for_sources(timeout_s=0.5)
    assert 0.5 <= time.monotonic() - t0 < 3.0
    assert missing == [f"/camera/{c}/image_raw" for c in recorder.cameras] + [recorder.emb.joint_states_topic]


def test_it_returns_once_every_source_has_a_publisher(recorder):
    import rclpy
    from sensor_msgs.msg import Image, JointState

    sim = rclpy.create_node("fake_sim_sources")
    try:
        topics = [f"/camera/{c}/image_raw" for c in recorder.cameras]
        pubs = [sim.create_publisher(Image, t, 1) for t in topics[:-1]]
        assert recorder.wait_for_sources(timeout_s=1.0) == topics[-1:] + [recorder.emb.joint_states_topic]
        pubs += [sim.create_publisher(Image, topics[-1], 1), sim.create_publisher(JointState, recorder.emb.joint_states_topic, 1)]
        assert recorder.wait_for_sources(timeout_s=15.0) == []
    finally:
        sim.destroy_node()
