"""Benchmark: dataset preparation speed, and memory of a training pass over a prepared set.

1. Files per second of `midivae.data.prepare` with 1 and 2 worker processes on
   ../shared/data/nottingham/midi (MIDI folder) and ../shared/data/pop909
   (beat-grid quantization), each built from scratch (``force=True``), and the
   time that rate projects for a 170,000-file corpus (Lakh MIDI: 176,581 files).
2. Peak memory (RSS) of one pass over each prepared set through
   `midivae.data.make_loader` with a tiny forward (a linear layer), in a fresh
   process, against the set's size on disk. RSS counts the set's pages the pass
   touched (file-backed, shared, reclaimable); the anonymous part is what the
   process itself holds, and is what must stay flat as sets grow.

Run:  .venv/bin/python benchmarks/prepare.py [--limit N] [--bars B] [--batch-size S]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DATA = REPO.parent / "shared" / "data"  # ../shared/data from the repo root
LAKH_FILES = 170_000

PASS = r"""
import json, resource, sys, time
import torch
from midivae.data import PreparedSet, make_loader

def rss():  # current resident memory split into anonymous and file-backed pages, MiB
    fields = dict(line.split(":", 1) for line in open("/proc/self/status"))
    kib = lambda k: int(fields[k].split()[0]) / 1024
    return kib("RssAnon"), kib("RssFile")

torch.manual_seed(0)
prepared = PreparedSet(sys.argv[1])
layout = prepared.layout
model = torch.nn.Linear(layout.cells, 16)
loader = make_loader(prepared, None, batch_size=int(sys.argv[2]), shuffle=True, transpose=2)
before = rss()
started, total, windows, marks = time.time(), 0.0, 0, []
with torch.no_grad():
    for b, (x, label) in enumerate(loader):  # x: (B, T, D)
        total += float(model(x).mean())
        windows += len(x)
        if b % max(len(loader) // 4, 1) == 0:
            marks.append(round(sum(rss()), 1))
after = rss()
print(json.dumps({"seconds": time.time() - started, "windows": windows, "before": before,
                  "after": after, "marks": marks,
                  "peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def disk_size(folder: Path) -> float:
    return sum(f.stat().st_size for f in folder.iterdir()) / 2**20


def time_prepare(source: Path, out: Path, workers: int, limit: int | None, bars: int) -> dict:
    from midivae.data import prepare
    started = time.perf_counter()
    prepared = prepare(source, out, workers=workers, limit=limit, bars=bars, force=True)
    seconds = time.perf_counter() - started
    counts = prepared.manifest["counts"]
    return {"seconds": seconds, "files": counts["items"], "skipped": counts["skipped"],
            "windows": sum(counts["windows"].values()), "set": prepared.path}


def memory_pass(folder: Path, batch_size: int) -> dict:
    run = subprocess.run([sys.executable, "-c", PASS, str(folder), str(batch_size)],
                         capture_output=True, text=True, check=True, cwd=REPO)
    return json.loads(run.stdout)


def hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.0f} min"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, help="only N files of each corpus (a stable pseudo-random choice)")
    ap.add_argument("--bars", type=int, default=4, help="bars per window")
    ap.add_argument("--batch-size", type=int, default=64)
    args = ap.parse_args()
    corpora = {"nottingham": DATA / "nottingham" / "midi", "pop909": DATA / "pop909"}
    missing = [str(p) for p in corpora.values() if not p.is_dir()]
    if missing:
        print(f"benchmarks/prepare.py: data not found: {', '.join(missing)}", file=sys.stderr)
        return 1
    sets = {}
    with tempfile.TemporaryDirectory() as tmp:
        print(f"preparation ({args.bars}-bar windows, hop 1 bar, built from scratch)")
        print(f"{'corpus':<12}{'workers':>8}{'files':>7}{'skipped':>8}{'windows':>9}"
              f"{'seconds':>9}{'files/s':>9}   {LAKH_FILES:,} files would take")
        for name, source in corpora.items():
            for workers in (1, 2):
                r = time_prepare(source, Path(tmp) / f"{name}-{workers}", workers, args.limit,
                                 args.bars)
                rate = r["files"] / r["seconds"]
                print(f"{name:<12}{workers:>8}{r['files']:>7}{r['skipped']:>8}{r['windows']:>9}"
                      f"{r['seconds']:>9.1f}{rate:>9.1f}   {hours(LAKH_FILES / rate)}")
                sets[name] = r["set"]
        print("\none pass through make_loader (shuffled, transpose=2, batch "
              f"{args.batch_size}, Linear(D, 16) forward), fresh process; memory in MiB")
        print(f"{'set':<12}{'windows':>9}{'on disk':>9}{'seconds':>9}{'RSS before':>12}"
              f"{'peak RSS':>10}{'anon after':>12}{'file after':>12}   RSS at 0/25/50/75%")
        for name, folder in sets.items():
            m = memory_pass(folder, args.batch_size)
            print(f"{name:<12}{m['windows']:>9}{disk_size(folder):>9.1f}{m['seconds']:>9.1f}"
                  f"{sum(m['before']):>12.0f}{m['peak']:>10.0f}{m['after'][0]:>12.0f}"
                  f"{m['after'][1]:>12.0f}   {m['marks']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
