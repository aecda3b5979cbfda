"""What drawing again the windows with a silent track costs and gives (issue 21).

Draws ``-n`` one-window clips from a shipped model (default pop) at its card's settings,
with ``every_track`` off and on, on one torch thread, and prints for each the seconds
taken and how many clips leave a track silent; then ``-n`` clips of two windows with it
on (a longer clip's windows are drawn again in its key)::

    .venv/bin/python benchmarks/every_track.py -n 24 --seed 1
"""

from __future__ import annotations

import argparse
import time

import torch

import midivae


def silent(roll, start: int = 0, stop: int | None = None) -> bool:
    """Whether some track of ``roll`` sounds no note in steps start..stop."""
    return any(not roll.sustain[k, start:stop].any() for k in range(roll.n_tracks))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="pop")
    p.add_argument("-n", type=int, default=24)
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(1)
    model = midivae.load(args.model)
    for every in (False, True):
        start = time.perf_counter()
        clips = model.sample(args.n, seed=args.seed, every_track=every)
        print(f"{args.n} clips, every_track {every}: {time.perf_counter() - start:.1f} s, "
              f"{sum(map(silent, clips))} with a silent track", flush=True)
    w = model.window_steps
    clips = model.sample(args.n, seed=args.seed, bars=2 * model.bars, every_track=True)
    print(f"{args.n} clips of two windows, every_track True: "
          f"{sum(silent(c, a, a + w) for c in clips for a in (0, w))} windows with a silent "
          "track")


if __name__ == "__main__":
    main()
