"""blm_tiny.approach: where the first approach of a grasping episode comes down, against the object."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from blm_tiny.approach import first_descent, main, summarize  # noqa: E402


def _timeline(task: str, path: list[tuple[float, float, float]], obj=(0.1, 0.0, 0.02)) -> dict:
    name = {"PickCube": "cube", "StackCube": "cubeA", "PushCube": "cube"}[task]
    return {"task": task, "objects": {name: list(obj), "goal": [0.3, 0.3, 0.2]},
            "rows": [{"t": round(0.1 * i, 3), "tcp": list(p)} for i, p in enumerate(path)]}


def test_a_descent_short_of_the_object_is_along_and_one_beside_it_is_across():
    # from (0, 0) toward the cube at (0.1, 0): down 2 cm short, then the rest of the way too late
    short = first_descent(_timeline("PickCube", [(0, 0, 0.2), (0.05, 0, 0.1), (0.08, 0, 0.03), (0.1, 0, 0.02)]), 0.045)
    assert short["t"] == pytest.approx(0.2)
    assert short["miss_cm"] == pytest.approx(2.0) and short["along_cm"] == pytest.approx(-2.0)
    assert short["across_cm"] == pytest.approx(0.0, abs=1e-9)
    beside = first_descent(_timeline("StackCube", [(0, 0, 0.2), (0.1, 0.03, 0.02)]), 0.045)
    assert beside["miss_cm"] == pytest.approx(3.0) and beside["across_cm"] == pytest.approx(3.0)
    assert beside["along_cm"] == pytest.approx(0.0, abs=1e-9)


def test_no_descent_and_tasks_that_grasp_nothing():
    assert first_descent(_timeline("PickCube", [(0, 0, 0.2), (0.1, 0, 0.05)]), 0.045) == {"t": None}
    assert first_descent(_timeline("PushCube", [(0, 0, 0.2), (0.1, 0, 0.02)]), 0.045) is None


def test_the_summary_takes_medians_over_the_episodes_that_came_down():
    d = [{"t": 1.0, "miss_cm": 0.5, "along_cm": -0.5, "across_cm": 0.0},
         {"t": 2.0, "miss_cm": 4.0, "along_cm": 1.0, "across_cm": 3.0},
         {"t": 3.0, "miss_cm": 2.0, "along_cm": 0.0, "across_cm": 2.0}, {"t": None}]
    assert summarize(d) == {"episodes": 4, "never_low": 1, "miss_cm_median": 2.0, "along_cm_median": 0.0,
                            "across_cm_median": 2.0, "within_1cm": 1, "t_median": 2.0}
    assert summarize([{"t": None}])["miss_cm_median"] is None


def test_the_cli_refuses_a_folder_without_grasping_episodes_and_a_bad_height(tmp_path, capsys):
    (tmp_path / "episodes" / "panda" / "PushCube").mkdir(parents=True)
    for argv, says in (([str(tmp_path)], "no grasping episodes there"), ([str(tmp_path / "none")], "no grasping episodes"),
                       ([str(tmp_path), "--below", "0"], "must be positive")):
        with pytest.raises(SystemExit) as e:
            main(argv)
        assert e.value.code == 2 and says in capsys.readouterr().err
