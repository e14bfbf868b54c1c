"""Helpers for the tests that run over real DDS on loopback: a sim node in a subprocess and a
client node that watches its topics. Every wait is bounded in wall time."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Optional

import pytest

SIM_DIR = Path(__file__).resolve().parents[1]


def ros_available() -> bool:
    try:
        import rclpy  # noqa: F401
        import blm_msgs.msg  # noqa: F401
        import control_msgs.action  # noqa: F401
    except Exception:
        return False
    return True


requires_ros = pytest.mark.skipif(not ros_available(), reason="needs the ROS env: run through scripts/with-env.sh")


def domain_id() -> str:
    """A DDS domain of this test run (DESIGN decision 13): ROS_DOMAIN_ID if set, else 30..59."""
    d = os.environ.get("ROS_DOMAIN_ID")
    if not d:
        d = str(30 + os.getpid() % 30)
        os.environ["ROS_DOMAIN_ID"] = d
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    return d


class SimProcess:
    def __init__(self, log: Path, ros_args: tuple[str, ...] = (), **params: object) -> None:
        domain_id()
        self.log = log
        args = []
        for k, v in params.items():
            args += [f"--{k.replace('_', '-')}", str(v)]
        if ros_args:
            args += ["--ros-args", *ros_args]
        self._f = open(log, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "blm_sim.node", *args], cwd=SIM_DIR, stdout=self._f, stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", "RCUTILS_LOGGING_BUFFERED_STREAM": "0"},
            start_new_session=True,
        )

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self._f.close()


def spin_until(node, pred: Callable[[], bool], timeout: float = 10.0) -> bool:
    import rclpy

    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        rclpy.spin_once(node, timeout_sec=0.01)
        if pred():
            return True
    return False


def call(node, client, request, timeout: float = 20.0):
    assert client.wait_for_service(timeout_sec=timeout), "service not available"
    fut = client.call_async(request)
    assert spin_until(node, fut.done, timeout), "service call timed out"
    return fut.result()
