"""The blank-camera ablation (``blank_cameras``): the sim node publishes every camera image all
zeros, same size and encoding, while everything else runs as usual. Set as the launch file sets
it (``--ros-args -p blank_cameras:=true``), over real DDS on loopback."""

from __future__ import annotations

import pytest

from rosutil import SimProcess, domain_id, requires_ros, spin_until

pytestmark = requires_ros


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    p = SimProcess(tmp_path_factory.mktemp("sim") / "node.log", ros_args=("-p", "blank_cameras:=true"),
                   embodiment="xarm6", task="PushCube", seed=3, real_time_factor=3.0, camera_rate_hz=10.0,
                   camera_width=40, camera_height=32)
    yield p
    p.stop()


def test_every_camera_image_is_all_zeros_of_the_configured_size(sim):
    import rclpy
    from sensor_msgs.msg import Image, JointState
    from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data

    domain_id()
    rclpy.init()
    node = rclpy.create_node("blank_cameras_test")
    try:
        images: dict[str, list] = {"front": [], "wrist": []}
        joints: list = []
        for cam in images:
            node.create_subscription(Image, f"/camera/{cam}/image_raw", images[cam].append, qos_profile_sensor_data)
        node.create_subscription(JointState, "/joint_states", joints.append,
                                 QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE))
        assert spin_until(node, lambda: all(len(v) >= 3 for v in images.values()), 40.0), \
            "no images from the sim node:\n" + sim.text()
        for cam, msgs in images.items():
            for m in msgs:
                assert (m.width, m.height, m.encoding, m.step) == (40, 32, "rgb8", 120), cam
                assert len(m.data) == 40 * 32 * 3 and not any(bytes(m.data)), f"{cam} image is not black"
        assert joints, "the rest of the sim keeps publishing"
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


def test_the_flag_parses_true_and_false_words():
    from blm_sim.node import _parse_cli

    assert _parse_cli(["--blank-cameras", "false"]) == {"blank_cameras": False}
    assert _parse_cli(["--blank-cameras", "true"]) == {"blank_cameras": True}
    assert _parse_cli([]) == {}
