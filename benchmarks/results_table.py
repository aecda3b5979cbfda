"""The README's model-quality table, from the JSON files `midivae evaluate --json` wrote.

usage: python benchmarks/results_table.py [--readme] [benchmarks/results/quality-*.json ...]

With --readme, the table replaces the one between the README's
``<!-- quality table -->`` and ``<!-- end quality table -->`` markers.

Prints a markdown table: each model's test-split figures beside MusicVAE's
published ones (Roberts et al. 2018, table 1: 2-bar melody 0.986 teacher-forced /
0.951 free-running) and the goals of issue 9, saying where a goal is not reached.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
GOALS = {  # file stem: (what, teacher-forced goal, free-running goal, published TF / FR
    #             [, onset F1 goal])
    "quality-folk-2bar-flat": ("essen-folk 2-bar, flat", 0.98, 0.95, "0.986 / 0.951"),
    "quality-folk-2bar-hier": ("essen-folk 2-bar, hierarchical", 0.98, 0.95, "0.986 / 0.951"),
    "quality-folk-2bar-flat-nottingham-2bar": ("Nottingham (unseen), flat", None, 0.90, "-"),
    "quality-folk-2bar-hier-nottingham-2bar": ("Nottingham (unseen), hierarchical", None, 0.90,
                                               "-"),
    "quality-chorales-4bar-flat": ("bach-chorales 4-bar 4 voices, flat", None, None, "-"),
    "quality-chorales-4bar-hier": ("bach-chorales 4-bar 4 voices, hierarchical", None, 0.80,
                                   "-", 0.85),
}


def row(path: Path) -> str:
    res = json.loads(path.read_text())
    m, d = res["metrics"], res["distance"]
    what, tf_goal, fr_goal, published, *f1_goal = GOALS.get(path.stem,
                                                             (path.stem, None, None, "-"))
    tf, fr = m["acc_teacher_forced"], m["acc_free_running"]
    goals = (("TF", tf, tf_goal), ("FR", fr, fr_goal),
             ("onset F1", m["onset_f1"], f1_goal[0] if f1_goal else None))
    missed = [f"{name} {value:.3f} < {goal}" for name, value, goal in goals
              if goal is not None and value < goal]
    if all(goal is None for _, _, goal in goals):
        verdict = "no goal (a comparison)"
    else:
        verdict = "not reached: " + ", ".join(missed) if missed else "reached"
    return (f"| {what} | {res['windows']} | {tf:.3f} | {fr:.3f} | {m['onset_f1']:.3f} | "
            f"{m['nelbo_bits_per_step']:.2f} | {m['active_units']} | "
            f"{d['distance']['value']:.2f} | {published} | "
            f"{verdict} |")


def table(paths: list[str]) -> str:
    order = list(GOALS)
    files = [Path(p) for p in paths] or sorted(
        RESULTS.glob("quality-*.json"),
        key=lambda p: order.index(p.stem) if p.stem in order else len(order))
    lines = ["| model, test windows of | windows | teacher-forced | free-running | onset F1 | "
             "-ELBO bits/step | active units | sample-stats distance | MusicVAE TF / FR | goal |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    return "\n".join(lines + [row(path) for path in files])


def main(argv: list[str]) -> None:
    readme = "--readme" in argv
    text = table([a for a in argv if a != "--readme"])
    if not readme:
        print(text)
        return
    path = RESULTS.parents[1] / "README.md"
    start, end = "<!-- quality table -->", "<!-- end quality table -->"
    s = path.read_text()
    a, b = s.index(start) + len(start), s.index(end)
    path.write_text(s[:a] + "\n" + text + "\n" + s[b:])
    print(f"wrote the table into {path}")


if __name__ == "__main__":
    main(sys.argv[1:])
