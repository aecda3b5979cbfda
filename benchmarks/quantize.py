"""Benchmark: MIDI file -> piano roll, `midivae.midi.quantize` against its peers on real corpora.

For every file of each corpus, in the same run and on the same files:

- ``midivae``      ``midivae.quantize(path, steps_per_beat)``
- ``mido``         ``mido.MidiFile(path)``: the bare parse, the floor for any mido-based reader
- ``pretty_midi``  ``PrettyMIDI(path)`` then ``get_piano_roll(times=...)`` per instrument on the
                   same beat grid (``pm.get_beats()`` subdivided into ``steps_per_beat`` steps)
- ``pypianoroll``  ``pypianoroll.read(path, resolution=steps_per_beat)``
- ``symusic``      ``symusic.Score(path)`` (a C++ parser; only when importable)

Corpora: music21's Bach chorales (exported to MIDI once, up front, outside the
timing), ../shared/data/nottingham/midi and ../shared/data/pop909/*/*.mid. Each
time is the best of ``--repeat`` runs per file, summed over the files. Goals:
pretty_midi / midivae >= 3 and midivae / mido <= 1.3.

Run:  .venv/bin/python benchmarks/quantize.py [--limit N] [--repeat R] [--steps-per-beat S]
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
DATA = REPO.parent / "shared" / "data"  # ../shared/data from the repo root
GOAL_VS_PRETTY_MIDI = 3.0  # midivae at least this many times faster than pretty_midi's roll
GOAL_VS_MIDO = 1.3  # midivae at most this many times the bare mido parse


# -- corpora ----------------------------------------------------------------------

def evenly(items: list, limit: int) -> list:
    """``limit`` items spread over the whole list (all of them when limit <= 0)."""
    if limit <= 0 or len(items) <= limit:
        return list(items)
    return [items[i] for i in np.linspace(0, len(items) - 1, limit).round().astype(int)]


def bach_chorales(limit: int, out: Path) -> list[Path]:
    """Bach chorales from music21's corpus, written as MIDI files under ``out`` (not timed)."""
    try:
        import music21
    except ImportError:
        return []
    works = [p for p in music21.corpus.getComposer("bach") if p.suffix in (".mxl", ".krn", ".xml")]
    paths = []
    for work in evenly(sorted(works), limit):
        path = out / (work.stem + ".mid")
        try:
            music21.corpus.parse(work).write("midi", fp=str(path))
        except Exception as err:  # a corpus piece music21 cannot export: leave it out
            print(f"  skipped {work.name}: {err}", file=sys.stderr)
            continue
        paths.append(path)
    return paths


def corpora(limit: int, tmp: Path) -> dict[str, list[Path]]:
    found = {"bach chorales": bach_chorales(limit, tmp)}
    for label, pattern in [("nottingham", "nottingham/midi/*.mid"), ("pop909", "pop909/*/*.mid")]:
        found[label] = evenly(sorted(DATA.glob(pattern)), limit)
    missing = [k for k, v in found.items() if not v]
    if missing:
        print(f"no files for {', '.join(missing)} (looked in {DATA} and the music21 corpus)",
              file=sys.stderr)
    return {k: v for k, v in found.items() if v}


# -- readers ----------------------------------------------------------------------

def step_times(beats: np.ndarray, end: float, spb: int) -> np.ndarray:
    """Times of the grid steps: each beat split into ``spb`` steps, extended to ``end``."""
    beats = np.asarray(beats, float)
    if len(beats) < 2:
        beats = np.array([0.0, 0.5])
    last = beats[-1] - beats[-2]
    beats = np.concatenate([beats, np.arange(beats[-1] + last, end + last, last)])
    return (beats[:-1, None] + np.diff(beats)[:, None] * (np.arange(spb) / spb)).ravel()


def read_midivae(path: Path, spb: int):
    from midivae import quantize
    return quantize(path, spb)


def read_mido(path: Path, spb: int):
    import mido
    return mido.MidiFile(path)


def read_pretty_midi(path: Path, spb: int):
    import pretty_midi
    pm = pretty_midi.PrettyMIDI(str(path))
    times = step_times(pm.get_beats(), pm.get_end_time(), spb)
    return [inst.get_piano_roll(times=times) for inst in pm.instruments]


def read_pypianoroll(path: Path, spb: int):
    import pypianoroll
    return pypianoroll.read(path, resolution=spb)


def read_symusic(path: Path, spb: int):
    import symusic
    return symusic.Score(str(path))


def readers() -> dict:
    out = {"midivae": read_midivae, "mido": read_mido, "pretty_midi": read_pretty_midi,
           "pypianoroll": read_pypianoroll, "symusic": read_symusic}
    for label, module in [("pypianoroll", "pypianoroll"), ("symusic", "symusic")]:
        try:
            __import__(module)
        except ImportError:
            del out[label]
    return out


# -- timing -----------------------------------------------------------------------

def best_times(files: list[Path], funcs: dict, spb: int, repeat: int) -> dict[str, np.ndarray]:
    """Best-of-``repeat`` seconds per file and reader; NaN where a reader failed on a file.

    Readers take turns on each file, so caches and clock drift favour none of them.
    """
    best = {k: np.full(len(files), np.inf) for k in funcs}
    for _ in range(repeat):
        for i, path in enumerate(files):
            for label, func in funcs.items():
                if np.isnan(best[label][i]):
                    continue
                t0 = time.perf_counter()
                try:
                    func(path, spb)
                except Exception:
                    best[label][i] = np.nan
                    continue
                best[label][i] = min(best[label][i], time.perf_counter() - t0)
    return best


def count_notes(files: list[Path], spb: int) -> int:
    from midivae import quantize
    total = 0
    for path in files:
        try:
            total += quantize(path, spb).n_notes
        except ValueError:
            pass
    return total


def table(rows: list[dict], labels: list[str]) -> str:
    head = (f"{'corpus':<14}{'files':>6}{'notes':>9}"
            + "".join(f"{label + ' ms':>16}" for label in labels)
            + f"{'pretty_midi/midivae':>21}{'midivae/mido':>14}")
    lines = [head, "-" * len(head)]
    for r in rows:
        cells = "".join(f"{1e3 * r['total'][label]:>16.1f}" for label in labels)
        lines.append(f"{r['corpus']:<14}{r['files']:>6}{r['notes']:>9}{cells}"
                     f"{r['vs_pm']:>20.2f}x{r['vs_mido']:>13.2f}x")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=100, help="files per corpus (0: all)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per file; the best counts")
    parser.add_argument("--steps-per-beat", type=int, default=4, help="grid steps per beat")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")  # pretty_midi's warnings about odd files
    funcs = readers()
    labels = list(funcs)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        t_prep = time.perf_counter()
        found = corpora(args.limit, Path(tmp))
        gc.collect()
        gc.freeze()  # music21's objects from the export stay out of every later collection
        print(f"corpora ready in {time.perf_counter() - t_prep:.1f} s: "
              + ", ".join(f"{k} {len(v)}" for k, v in found.items()))
        for corpus, files in found.items():
            for func in funcs.values():  # warm up: imports and first-call costs
                try:
                    func(files[0], args.steps_per_beat)
                except Exception:
                    pass
            best = best_times(files, funcs, args.steps_per_beat, args.repeat)
            ok = np.all([np.isfinite(best[k]) for k in ("midivae", "mido", "pretty_midi")], axis=0)
            failed = {k: int(np.sum(~np.isfinite(v))) for k, v in best.items() if
                      np.any(~np.isfinite(v))}
            if failed:
                print(f"  {corpus}: files a reader failed on (left out of every total): {failed}")
            keep = ok & np.all([np.isfinite(v) for v in best.values()], axis=0)
            total = {k: float(v[keep].sum()) for k, v in best.items()}
            rows.append(dict(corpus=corpus, files=int(keep.sum()),
                             notes=count_notes([f for f, k in zip(files, keep) if k],
                                               args.steps_per_beat),
                             total=total, vs_pm=total["pretty_midi"] / total["midivae"],
                             vs_mido=total["midivae"] / total["mido"]))
    if not rows:
        print("no corpora found; nothing to time")
        return 1
    print(f"\nfile -> roll at {args.steps_per_beat} steps per beat, best of {args.repeat} "
          "runs per file, summed over the files\n")
    print(table(rows, labels))
    total = {k: sum(r["total"][k] for r in rows) for k in labels}
    vs_pm, vs_mido = total["pretty_midi"] / total["midivae"], total["midivae"] / total["mido"]
    print(f"\nall corpora: pretty_midi/midivae = {vs_pm:.2f}x (goal >= {GOAL_VS_PRETTY_MIDI}x: "
          f"{'met' if vs_pm >= GOAL_VS_PRETTY_MIDI else 'NOT met'}), midivae/mido = {vs_mido:.2f}x "
          f"(goal <= {GOAL_VS_MIDO}x: {'met' if vs_mido <= GOAL_VS_MIDO else 'NOT met'})")
    for r in rows:
        misses = ([f"pretty_midi/midivae {r['vs_pm']:.2f}x < {GOAL_VS_PRETTY_MIDI}x"]
                  if r["vs_pm"] < GOAL_VS_PRETTY_MIDI else []) + \
                 ([f"midivae/mido {r['vs_mido']:.2f}x > {GOAL_VS_MIDO}x"]
                  if r["vs_mido"] > GOAL_VS_MIDO else [])
        if misses:
            print(f"  {r['corpus']}: goal not met: {'; '.join(misses)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
