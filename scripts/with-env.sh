#!/usr/bin/env bash
# Runs a command inside the project's ROS 2 environment: scripts/with-env.sh CMD [ARGS...]
set -euo pipefail
# shellcheck source=scripts/ros-env.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/ros-env.sh"
exec "$@"
