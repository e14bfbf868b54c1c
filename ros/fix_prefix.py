"""Points the ROS 2 wheels' exported CMake targets at this machine's Python.

The wheels are built in a manylinux container, and the CMake export files of every
message package's Python generator keep that container's paths
(/opt/python/cpXY-cpXY/include/pythonX.Y and its numpy include). Building our own
interface packages against the prefix needs them to name this interpreter's headers.
Idempotent: a second run finds nothing to change.
"""
import pathlib
import re
import sys
import sysconfig

import numpy

prefix = pathlib.Path(sys.argv[1])
python_include = sysconfig.get_paths()["include"]
numpy_include = numpy.get_include()
container = re.compile(r"/opt/python/cp3\d+-cp3\d+(/lib/python3\.\d+/site-packages/numpy/_core/include|/include/python3\.\d+)")


def replacement(match: re.Match) -> str:
    return numpy_include if "numpy" in match.group(1) else python_include


changed = 0
for path in prefix.glob("share/*/cmake/*.cmake"):
    text = path.read_text()
    fixed = container.sub(replacement, text)
    if fixed != text:
        path.write_text(fixed)
        changed += 1
print(f"fix_prefix: {changed} CMake files pointed at {python_include}")
