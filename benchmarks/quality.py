"""Model quality as issue 9 measures it: train each model for a wall-clock budget on the
CPU, then `midivae evaluate` it on the test split (and folk models on Nottingham).

usage: python benchmarks/quality.py [--minutes 10] [--only NAME ...] [--data ../shared/data]

Each model is trained by the `midivae train` command with `--minutes`, one torch
thread per run and two runs at a time (the 2-core CI-class machine), into
``runs/quality/NAME``; ``benchmarks/results/quality-NAME[-SET].json`` gets the
`midivae evaluate --json` output. ``benchmarks/results_table.py`` turns those
files into the README's table. Sets are prepared first (reused when present).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MIDIVAE = [sys.executable, "-m", "midivae.cli"]
SETS = {  # name: prepare arguments
    "folk-2bar": ["essen-folk", "--bars", "2", "--meter", "4/4"],
    "chorales-4bar": ["bach-chorales", "--bars", "4", "--meter", "4/4"],
    "nottingham-2bar": ["{data}/nottingham/midi", "--roles", "order:melody", "--pitch-range",
                        "48-84", "--meter", "4/4", "--bars", "2", "--splits", "0,0,1"],
}
MODELS = {  # name: (set, preset, extra train arguments, sets it is evaluated on)
    "folk-2bar-flat": ("folk-2bar", "flat-2bar-cpu",
                       ["--transpose", "3", "--output", "categorical"],
                       ["folk-2bar", "nottingham-2bar"]),
    "folk-2bar-hier": ("folk-2bar", "hierarchical-4bar-cpu",
                       ["--transpose", "3", "--output", "categorical"],
                       ["folk-2bar", "nottingham-2bar"]),
    "chorales-4bar-flat": ("chorales-4bar", "flat-2bar-cpu",
                           ["--transpose", "3", "--output", "categorical"], ["chorales-4bar"]),
    "chorales-4bar-hier": ("chorales-4bar", "hierarchical-4bar-cpu",
                           ["--transpose", "3", "--output", "categorical"],
                           ["chorales-4bar"]),
}


def run(cmd: list[str], log: Path | None = None) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = open(log, "w") if log else None
    return subprocess.Popen([str(c) for c in cmd], cwd=ROOT, env=env, stdout=out,
                            stderr=subprocess.STDOUT)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--only", nargs="*", default=list(MODELS), choices=list(MODELS))
    p.add_argument("--data", default=os.environ.get("MIDIVAE_DATA", "../shared/data"))
    p.add_argument("--sets", default="datasets/quality", help="where the sets are prepared")
    p.add_argument("--evaluate-only", action="store_true",
                   help="evaluate the runs already in runs/quality, train nothing")
    args = p.parse_args()
    sets = Path(args.sets)
    needed = {s for m in args.only for s in [MODELS[m][0], *MODELS[m][3]]}
    for name in sorted(needed):
        cmd = [*MIDIVAE, "prepare", *[a.format(data=args.data) for a in SETS[name]],
               "--out", sets / name, "--quiet", "--workers", "2"]
        subprocess.run([str(c) for c in cmd], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    results = ROOT / "benchmarks" / "results"
    results.mkdir(parents=True, exist_ok=True)
    pending = list(args.only)
    while pending:
        batch, pending = pending[:2], pending[2:]
        procs = []
        for name in batch if not args.evaluate_only else []:
            data, preset, extra, _ = MODELS[name]
            out = ROOT / "runs" / "quality" / name
            out.parent.mkdir(parents=True, exist_ok=True)
            procs.append(run([*MIDIVAE, "train", sets / data, "--preset", preset, *extra,
                              "--minutes", args.minutes, "--out", out, "--force", "--quiet",
                              "--device", "cpu", "--valid-every", "100000"],
                             log=out.parent / f"{name}.log"))
        for proc in procs:
            proc.wait()
        for name in batch:
            for evaluated in MODELS[name][3]:
                suffix = "" if evaluated == MODELS[name][0] else f"-{evaluated}"
                cmd = [*MIDIVAE, "evaluate", ROOT / "runs" / "quality" / name, sets / evaluated,
                       "--samples", "256", "--json", results / f"quality-{name}{suffix}.json",
                       "--force"]
                subprocess.run([str(c) for c in cmd], cwd=ROOT, check=True,
                               env={**os.environ, "OMP_NUM_THREADS": "2"})


if __name__ == "__main__":
    main()
