# Sourced (never executed): puts this project's ROS 2 environment in place.
# Order of preference: a ROS 2 the user has already sourced (/opt/ros/jazzy, /opt/ros/kilted, ...),
# else the project's own prefix in .ros/venv (ROS 2 Kilted wheels from the Python package index).
# Exports only; prints nothing, so that it can wrap any command.

BLM_ROOT="${BLM_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
export BLM_ROOT
BLM_ROS_PREFIX="$BLM_ROOT/.ros/venv"
BLM_MSGS_PREFIX="$BLM_ROOT/.ros/install"

if [ -n "${ROS_DISTRO:-}" ] && [ -z "${BLM_ROS_LOCAL:-}" ] && command -v ros2 >/dev/null 2>&1 \
   && [ "$(dirname "$(dirname "$(command -v ros2)")")" != "$BLM_ROS_PREFIX" ]; then
  # A system ROS is sourced: use it as it is.
  export BLM_ROS_SOURCE="system"
else
  export BLM_ROS_SOURCE="local"
  export BLM_ROS_LOCAL=1
  export ROS_DISTRO=kilted
  export ROS_VERSION=2
  export ROS_PYTHON_VERSION=3
  export VIRTUAL_ENV="$BLM_ROS_PREFIX"
  case ":$PATH:" in *":$BLM_ROS_PREFIX/bin:"*) ;; *) export PATH="$BLM_ROS_PREFIX/bin:$PATH" ;; esac
  _blm_ld="$BLM_ROS_PREFIX/lib"
  # The wheels are auditwheel-repaired: their vendored dependencies sit in
  # site-packages/<dist>.libs, and the RPATHs they carry do not point there from lib/.
  for _d in "$BLM_ROS_PREFIX"/lib/python3*/site-packages/*.libs; do
    [ -d "$_d" ] && _blm_ld="$_blm_ld:$_d"
  done
  export LD_LIBRARY_PATH="$_blm_ld${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export AMENT_PREFIX_PATH="$BLM_ROS_PREFIX${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
  export CMAKE_PREFIX_PATH="$BLM_ROS_PREFIX${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"
  unset _blm_ld _d
fi

# blm_msgs (and the local control_msgs where the sourced ROS lacks it) are installed here.
if [ -d "$BLM_MSGS_PREFIX" ]; then
  case ":${AMENT_PREFIX_PATH:-}:" in *":$BLM_MSGS_PREFIX:"*) ;; *)
    export AMENT_PREFIX_PATH="$BLM_MSGS_PREFIX${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
    export CMAKE_PREFIX_PATH="$BLM_MSGS_PREFIX${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"
    export LD_LIBRARY_PATH="$BLM_MSGS_PREFIX/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    for _p in "$BLM_MSGS_PREFIX"/lib/python3*/site-packages; do
      [ -d "$_p" ] && export PYTHONPATH="$_p${PYTHONPATH:+:$PYTHONPATH}"
    done
    unset _p
  ;; esac
fi

export RMW_IMPLEMENTATION="${RMW_IMPLEMENTATION:-rmw_fastrtps_cpp}"
# DDS traffic stays on this machine (DESIGN decision 13).
export ROS_AUTOMATIC_DISCOVERY_RANGE="${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST}"
export BLM_PYTHON="${BLM_PYTHON:-$BLM_ROS_PREFIX/bin/python}"
[ -x "$BLM_PYTHON" ] || BLM_PYTHON="$(command -v python3)"
export PATH="$BLM_ROOT/node_modules/.bin:$PATH"
