"""expert:eval --resume: which episodes of a results file it runs again."""

from __future__ import annotations

from blm_sim.expert.eval import pending


def _rec(success: bool, log: list[str], **extra) -> dict:
    return {"success": success, "wall_s": 1.0, "log": log, **extra}


def test_resume_runs_the_missing_and_the_errored_episodes_and_keeps_successes_and_expert_failures():
    results = {"panda": {
        "PickCube": {"seeds": {
            "41": _rec(True, ["descend: to [0.1, 0.0, 0.02]", "success on attempt 1"]),
            "42": _rec(False, ["approach: no plan", "gave up after 3 attempts"]),  # the expert failed: kept
            "43": _rec(False, ["error: RCLError: rcl node's context is invalid"], error=True),
        }},
        "PullCube": {"seeds": {
            # a file from before the error flag: the harness's one error line
            "41": _rec(False, ["error: RCLError: failed to check service availability"]),
        }},
    }}
    todo = pending(results, "panda", ["PickCube", "PullCube"], range(41, 45))
    assert todo == [("PickCube", 43), ("PickCube", 44), ("PullCube", 41), ("PullCube", 42), ("PullCube", 43),
                    ("PullCube", 44)]
    assert pending(results, "xarm6", ["PickCube"], [41]) == [("PickCube", 41)]
    assert pending({}, "panda", ["PickCube"], []) == []
