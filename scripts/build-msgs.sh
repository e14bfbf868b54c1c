#!/usr/bin/env bash
# Builds the interface packages in msgs/ into .ros/install (ament_cmake + rosidl, all
# generators the sourced ROS offers: C, C++, Python, typesupports). Skips control_msgs
# when the sourced ROS already has the real one.
set -euo pipefail
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/ros-env.sh"
install="$BLM_ROOT/.ros/install"
build="$BLM_ROOT/.ros/build"
mkdir -p "$install" "$build"

has_package() { # is $1 in an ament prefix other than ours?
  local p
  IFS=: read -ra prefixes <<< "${AMENT_PREFIX_PATH:-}"
  for p in "${prefixes[@]}"; do
    [ "$p" = "$install" ] && continue
    [ -f "$p/share/ament_index/resource_index/packages/$1" ] && return 0
  done
  return 1
}

packages=(blm_msgs)
if has_package control_msgs; then
  echo "build-msgs: using the sourced ROS's control_msgs"
else
  packages=(control_msgs "${packages[@]}")
fi

for pkg in "${packages[@]}"; do
  echo "build-msgs: $pkg"
  cmake -S "$BLM_ROOT/msgs/$pkg" -B "$build/$pkg" \
    -DCMAKE_INSTALL_PREFIX="$install" \
    -DCMAKE_BUILD_TYPE=Release \
    -DBUILD_TESTING=OFF \
    -DPython3_EXECUTABLE="$BLM_PYTHON" \
    -Wno-dev > "$build/$pkg.configure.log" 2>&1 || { cat "$build/$pkg.configure.log"; exit 1; }
  cmake --build "$build/$pkg" -j "$(nproc)" > "$build/$pkg.build.log" 2>&1 || { tail -50 "$build/$pkg.build.log"; exit 1; }
  cmake --install "$build/$pkg" > /dev/null
  # Later packages in this loop must find the ones just installed.
  source "$BLM_ROOT/scripts/ros-env.sh"
done
