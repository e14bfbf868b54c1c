#!/usr/bin/env bash
# The PyPI ROS 2 wheels carry no ros2 command line. This stand-in exists because tools
# (rclnodejs among them) locate the ROS root through `which ros2`; it answers the few
# questions they ask and says plainly what it is otherwise.
case "${1:-}" in
  --version|-v) echo "ros2 (blm-agent local prefix, ROS_DISTRO=${ROS_DISTRO:-kilted}; no ros2cli installed)"; exit 0 ;;
  *) echo "ros2: the local ROS 2 prefix (.ros/venv) has no ros2cli; use the blm-agent scripts, or source a full ROS 2 install." >&2; exit 1 ;;
esac
