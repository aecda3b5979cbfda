"""benchmarks/results_table.py: the README's quality table says what the JSON says."""

from __future__ import annotations

import importlib.util
import json

from conftest import REPO_ROOT

spec = importlib.util.spec_from_file_location("results_table",
                                              REPO_ROOT / "benchmarks" / "results_table.py")
results_table = importlib.util.module_from_spec(spec)
spec.loader.exec_module(results_table)


def result(tf: float, fr: float) -> dict:
    return {"windows": 10, "metrics": {"acc_teacher_forced": tf, "acc_free_running": fr,
                                       "onset_f1": 0.5, "nelbo_bits_per_step": 2.0,
                                       "active_units": 3},
            "distance": {"distance": {"value": 0.25}}}


def test_a_row_says_which_goal_is_not_reached(tmp_path):
    good, bad = tmp_path / "quality-folk-2bar-flat.json", tmp_path / "quality-folk-2bar-hier.json"
    good.write_text(json.dumps(result(0.99, 0.96)))
    bad.write_text(json.dumps(result(0.99, 0.5)))
    assert results_table.row(good) == ("| essen-folk 2-bar, flat | 10 | 0.990 | 0.960 | 0.500 | "
                                       "2.00 | 3 | 0.25 | 0.986 / 0.951 | reached |")
    assert results_table.row(bad).endswith("| not reached: FR 0.500 < 0.95 |")
    assert results_table.table([str(good), str(bad)]).count("\n") == 3
