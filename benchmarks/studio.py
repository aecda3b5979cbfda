"""How fast the studio answers: a 16-bar sample of each shipped model through the studio's
own app (Starlette's test client, no network), against issue 23's bound of one second.

usage: python benchmarks/studio.py [--repeats 5] [--threads 1]

Prints, per model, the median seconds of ``POST /api/sample`` (one 16-bar clip, temperature
0.5) after one warm-up call, and its ratio to the bound.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from starlette.testclient import TestClient  # noqa: E402

from midivae.studio import Studio, create_app  # noqa: E402
from midivae.run.zoo import shipped_models  # noqa: E402

BOUND = 1.0  # seconds: "a 16-bar sample appears in under a second on a CPU"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1: one core)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    names = [m.name for m in shipped_models()]
    client = TestClient(create_app(Studio(names)))
    print(f"{'model':10s} {'median s':>9s} {'/ bound':>8s}")
    for name in names:
        times = []
        for i in range(args.repeats + 1):
            start = time.perf_counter()
            r = client.post("/api/sample", json={"model": name, "n": 1, "bars": 16,
                                                 "temperature": 0.5, "seed": i})
            r.raise_for_status()
            times.append(time.perf_counter() - start)
        median = statistics.median(times[1:])  # the first loads the model
        print(f"{name:10s} {median:9.3f} {median / BOUND:8.2f}")


if __name__ == "__main__":
    main()
