"""Issue 22's yardsticks: harmonising, filling in and continuing held-out windows.

usage: python benchmarks/completion.py [--chorale MODEL ...] [--folk MODEL ...]
                                       [--windows 256] [--results benchmarks/results]

Every figure is measured on the test split of the prepared sets of
`benchmarks/quality.py` (prepare them with it first), with each model's
`VAE.complete` at temperature 0.5, 16 particles and seed 0:

- **harmonise** (chorales): the soprano given, alto, tenor and bass written;
  each voice's onset F1 against Bach's own part, the share of steps where each
  written voice holds at most one note, the in-scale share and parallel fifths
  and octaves per bar (`midivae.midi.harmony`) against Bach's; beside two baselines:
  the lower voices of a prior sample (`Model.sample`, temperature 0.5) under the
  true soprano, and Bach's lower voices of a window of another chorale in the
  same key.
- **inpaint** (chorales and folk): the two middle bars of each window written
  anew; the step accuracy and onset F1 of the written bars against the true
  ones, and the nearest training window's overlap of the filled-in windows
  (`midivae.midi.novelty`, the test windows' own beside it); beside the baselines
  "repeat the bar before the gap" and "a prior sample's bars". The join: of
  the notes the truth holds across a boundary of the gap, the share the
  filled-in window holds across it too, at each edge; a note held into the gap
  from the bar before is the given bar's and keeps its length (`held_over`), one
  held out of it into the bar after is the fill's to start: ``join_by_the_draw``
  counts those the draw kept started itself, before `led_into` starts the rest.
- **continue** (chorales and folk): the first half of each window given; the
  onset F1 of the first new bar against the true one, beside the continuation
  of before (the latent of the given half moved by 0.6, `api.WINDOW_TO_WINDOW`,
  and decoded).

MODEL is a shipped name or a checkpoint; by default each shipped model and the
`--infill` run of `benchmarks/quality.py` where it exists. Writes
``completion-NAME.json`` per model into --results and prints a table.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import midivae  # noqa: E402
from midivae.data.store import PreparedSet  # noqa: E402
from midivae.midi.harmony import harmony_stats  # noqa: E402
from midivae.models.vae import led_into  # noqa: E402
from midivae.models.metrics import onset_prf, prf, step_accuracy, track_onset_counts  # noqa: E402
from midivae.midi.musicstats import roll_stats, scale_roots  # noqa: E402
from midivae.midi.novelty import nearest_overlap  # noqa: E402
from midivae.run.guides import check_rules, guide_for  # noqa: E402

SETS = {"chorale": "datasets/quality/chorales-4bar", "folk": "datasets/quality/folk-16bar"}
INFILL_RUNS = {"chorale": "runs/quality/chorales-4bar-voices-infill",
               "folk": "runs/quality/folk-16bar-infill"}
TEMPERATURE, PARTICLES, SEED = 0.5, 16, 0
TRAIN_WINDOWS = 5000  # training windows the novelty is measured against (as `evaluate`)
DRIFT = 0.6  # the continuation of before: the latent moved this far (api.WINDOW_TO_WINDOW)


def spread(indices: np.ndarray, n: int) -> np.ndarray:
    """n indices spread evenly over ``indices`` (all when there are fewer)."""
    if len(indices) <= n:
        return indices
    return indices[np.unique(np.linspace(0, len(indices) - 1, n).round().astype(np.int64))]


def cells_of(x: torch.Tensor, k: int) -> torch.Tensor:
    """(B, T, D) -> (B, T, K, 2, P)."""
    return x.unflatten(-1, (k, 2, -1))


def gap_mask(b: int, bars: int, k: int, gap: slice) -> torch.Tensor:
    mask = torch.ones(b, bars, k, dtype=torch.bool)
    mask[:, gap] = False
    return mask


def held_across(x: torch.Tensor, k: int, step: int) -> torch.Tensor:
    """Per window and track, the pitches sounding at step - 1 and held (sustained, no onset)
    at ``step``: (B, K, P) bool."""
    c = cells_of(x, k) > 0.5
    return c[:, step - 1, :, 1] & c[:, step, :, 1] & ~c[:, step, :, 0]


def join_rate(out: torch.Tensor, truth: torch.Tensor, k: int, steps: list[int]) -> dict:
    """Of the notes the truth holds across each boundary step, the share ``out`` holds too,
    over all boundaries and at each (``edges``: [held in the truth, held in out] a step)."""
    edges = [[int(held_across(truth, k, s).sum()),
              int((held_across(truth, k, s) & held_across(out, k, s)).sum())] for s in steps]
    held, kept = sum(e[0] for e in edges), sum(e[1] for e in edges)
    return {"held_in_truth": held, "held_in_fill": kept,
            "share": kept / held if held else math.nan, "edges": edges}


def lower_voices_from(x: torch.Tensor, source: torch.Tensor, k: int) -> torch.Tensor:
    """x with every track but the first taken from ``source``."""
    out = cells_of(x.clone(), k)
    out[:, :, 1:] = cells_of(source, k)[:, :, 1:]
    return out.flatten(2)


def other_chorale_same_key(prepared: PreparedSet, picked: np.ndarray,
                           rolls: list, rng: np.random.Generator) -> list[int] | None:
    """For each window, another test window in the same key from another piece (None where
    there is none)."""
    keys = scale_roots(rolls)
    pieces = np.asarray(prepared.windows["piece"])[picked]
    out = []
    for i in range(len(picked)):
        same = np.flatnonzero((keys == keys[i]) & (pieces != pieces[i]))
        out.append(int(rng.choice(same)) if len(same) else None)
    return out


def harmonise(model, x: torch.Tensor, rolls, prepared, picked, guide=None) -> dict:
    """The soprano given: the lower voices written, against Bach's and two baselines."""
    vae, layout, k = model.vae, model.layout, model.layout.n_tracks
    b, bars = x.shape[0], model.bars
    mask = torch.zeros(b, bars, k, dtype=torch.bool)
    mask[:, :, 0] = True
    out = vae.complete(x, mask, temperature=TEMPERATURE, seed=SEED, particles=PARTICLES,
                       guide=guide)
    sample = vae.sample(b, temperature=TEMPERATURE, seed=SEED, guide=guide)
    rng = np.random.default_rng(SEED)
    other = other_chorale_same_key(prepared, picked, rolls, rng)
    keep = [i for i, j in enumerate(other) if j is not None]
    ways = {"model": out, "sample's lower voices": lower_voices_from(x, sample, k),
            "another chorale's lower voices": lower_voices_from(
                x[keep], x[[other[i] for i in keep]], k)}
    bach = harmony_stats(rolls)
    result = {"bach": {"in_scale_share": roll_stats(rolls)["in_scale_share"],
                       "parallels_per_bar": bach["parallels_per_bar"],
                       "chord_share": bach["chord_share"]}}
    for name, y in ways.items():
        truth = x if name != "another chorale's lower voices" else x[keep]
        written = layout.from_windows(y.numpy())
        h = harmony_stats(written)
        counts = track_onset_counts(y, truth, k)
        single = (cells_of(y, k)[:, :, 1:, 1].sum(-1) <= 1).float().mean((0, 1))
        result[name] = {
            "onset_f1": {t.name: prf(*c)[2] for t, c in zip(layout.tracks[1:], counts[1:])},
            "one_note_share": {t.name: float(s) for t, s in zip(layout.tracks[1:], single)},
            "in_scale_share": roll_stats(written)["in_scale_share"],
            "parallels_per_bar": h["parallels_per_bar"], "chord_share": h["chord_share"]}
    return result


def inpaint(model, x: torch.Tensor, train_rolls, test_overlap: float, guide=None) -> dict:
    """The two middle bars written anew, against the true bars and two baselines."""
    vae, layout, k, s = model.vae, model.layout, model.layout.n_tracks, model.layout.steps_per_bar
    b, bars = x.shape[0], model.bars
    gap = slice(bars // 2 - 1, bars // 2 + 1)
    steps = slice(gap.start * s, gap.stop * s)
    mask = gap_mask(b, bars, k, gap)
    drawn = vae.complete(x, mask, temperature=TEMPERATURE, seed=SEED, particles=PARTICLES,
                         guide=guide, join=False)
    out = led_into(drawn, x, mask, vae.config)  # what complete() gives: the same seed
    before = x[:, (gap.start - 1) * s:gap.start * s]
    repeat = x.clone()
    repeat[:, steps] = before.repeat(1, gap.stop - gap.start, 1)
    prior = x.clone()
    prior[:, steps] = vae.sample(b, temperature=TEMPERATURE, seed=SEED, guide=guide)[:, steps]
    result = {"gap_bars": [gap.start, gap.stop], "test_windows_nearest_overlap": test_overlap}
    for name, y in {"model": out, "repeat the bar before": repeat,
                    "a prior sample's bars": prior}.items():
        result[name] = {
            "step_accuracy": step_accuracy(y[:, steps], x[:, steps]),
            "onset_f1": onset_prf(y[:, steps], x[:, steps], k)[2],
            "nearest_overlap": float(nearest_overlap(layout.from_windows(y.numpy()),
                                                     train_rolls).mean()),
            "join": join_rate(y, x, k, [gap.start * s, gap.stop * s])}
    # the notes tied into the given bar after the gap that the draw kept started by itself
    result["model"]["join_by_the_draw"] = join_rate(drawn, x, k, [gap.start * s, gap.stop * s])
    return result


def continuation(model, x: torch.Tensor, guide=None) -> dict:
    """The first half given: the first new bar against the true one, and the drift
    continuation of before."""
    vae, k, s = model.vae, model.layout.n_tracks, model.layout.steps_per_bar
    b, bars = x.shape[0], model.bars
    half = bars // 2
    mask = torch.zeros(b, bars, k, dtype=torch.bool)
    mask[:, :half] = True
    out = vae.complete(x, mask, temperature=TEMPERATURE, seed=SEED, particles=PARTICLES,
                       guide=guide)
    # before: the given bars as a window of their own (silence after), its latent moved
    given = x.clone()
    given[:, half * s:] = 0
    g = torch.Generator().manual_seed(SEED)
    mu = vae.encode(given)
    z = math.sqrt(1 - DRIFT**2) * mu + DRIFT * torch.randn(mu.shape, generator=g)
    drift = vae.decode(z, temperature=TEMPERATURE, seed=SEED)
    first = slice(half * s, (half + 1) * s)
    return {"given_bars": half,
            "model": {"first_bar_onset_f1": onset_prf(out[:, first], x[:, first], k)[2]},
            "drift (before)": {"first_bar_onset_f1": onset_prf(drift[:, :s], x[:, first],
                                                               k)[2]}}


def measure(model_name: str, kind: str, n_windows: int, rules=None) -> dict:
    """Every figure for one model; ``rules`` (default: the model card's, none for a
    checkpoint) kept by every part it writes (`midivae.run.guides`)."""
    model = midivae.load(model_name)
    rules = model.rules if rules is None else rules
    guide = guide_for(model.layout, rules)
    prepared = PreparedSet(ROOT / SETS[kind])
    picked = spread(prepared.indices("test"), n_windows)
    rolls = [prepared.window_roll(int(i)) for i in picked]
    x = torch.from_numpy(model.layout.to_windows(rolls))
    train = spread(prepared.indices("train"), TRAIN_WINDOWS)
    train_rolls = [prepared.window_roll(int(i)) for i in train]
    test_overlap = float(nearest_overlap(rolls, train_rolls).mean())
    torch.manual_seed(SEED)
    with torch.no_grad():
        out = {"model": model_name, "set": SETS[kind], "windows": len(picked),
               "temperature": TEMPERATURE, "particles": PARTICLES, "rules": list(rules),
               "inpaint": inpaint(model, x, train_rolls, test_overlap, guide),
               "continue": continuation(model, x, guide)}
        if kind == "chorale":
            out["harmonise"] = harmonise(model, x, rolls, prepared, picked, guide)
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--chorale", nargs="*", help="chorale models (default: the shipped one "
                   "and the --infill run where it exists)")
    p.add_argument("--folk", nargs="*", help="folk models (default: likewise)")
    p.add_argument("--windows", type=int, default=256, help="test windows, spread evenly")
    p.add_argument("--results", default=str(ROOT / "benchmarks" / "results"))
    p.add_argument("--rules", help="what the written parts keep, comma-separated, or none "
                   "(default: each model card's, none for a checkpoint)")
    args = p.parse_args(argv)
    rules = (None if args.rules is None else () if args.rules == "none"
             else check_rules(args.rules.split(",")))
    torch.set_num_threads(1)
    for kind in ("chorale", "folk"):
        names = getattr(args, kind)
        if names is None:
            names = [kind] + ([INFILL_RUNS[kind]] if (ROOT / INFILL_RUNS[kind]).exists()
                              else [])
        for name in names:
            result = measure(name, kind, args.windows, rules)
            stem = Path(name).name
            Path(args.results).mkdir(parents=True, exist_ok=True)
            path = Path(args.results) / f"completion-{stem}.json"
            path.write_text(json.dumps(result, indent=1) + "\n")
            print(f"== {name} on {result['set']} ({result['windows']} test windows): {path}")
            print(json.dumps({k: v for k, v in result.items()
                              if k in ("harmonise", "inpaint", "continue")}, indent=1))


if __name__ == "__main__":
    main()
