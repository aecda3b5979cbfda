"""Polyphonic piano-roll likelihood on the four Boulanger-Lewandowski (ICML 2012) benchmarks.

usage: python benchmarks/boulanger.py [--sets jsb nottingham musedata piano-midi]
                                      [--seeds 0 1 2] [--steps N] [--iwae 32] [--quick]
                                      [--jobs 2] [--transpose N]

The published protocol (Boulanger-Lewandowski, Bengio and Vincent 2012, section 6):
the 88 keys 21..108, the official train/valid/test splits as the .mat files in
``../shared/data/boulanger`` give them (JSB framed at quarter notes, the others at
eighth notes), and the negative log-likelihood per time step in nats, summed over
the keys and averaged over every frame of the test set (each frame weighs the same).
The model is chosen on the validation split only: training keeps the model with the
best validation ELBO (`midivae.run.train.train`'s ``best``) and stops after ``PATIENCE``
validations without a better one, or at the set's step budget (``STEPS``; the learning
rate's schedule follows the steps, so a rerun on a loaded or faster machine trains the
same steps and gives the same figures: one torch thread, a seeded run).

midivae's model is a VAE over windows: a bidirectional GRU encoder, an LSTM decoder
and the MADE output (ordered Bernoulli conditionals within each step, as RNN-NADE).
Three things differ from the published models. Two can only cost midivae:
- A sequence longer than a window is scored as consecutive windows of ``WINDOW[set]``
  frames, each from a fresh decoder state and its own latent (the last one padded
  with silence and scored on its real frames only): context across a window's start
  is lost, so the figure bounds what a model carrying state would reach.
- A frame roll has no onsets; midivae's cells do (a note starts where its pitch
  starts sounding, the only reading of a frame roll). The model scores onset and
  sustain cells, whose onsets follow from the frames; any other onset pattern
  gives the same frames, so the figure is an upper bound on the frames' NLL.
One can only help it:
- JSB and Piano-midi.de train on copies transposed by up to 5 semitones each way, which
  the published models did not (chosen on JSB's validation ELBO; ``--transpose 0`` runs
  the comparison).
The reported figure is the importance-weighted bound (Burda et al. 2016) with k
samples per window, an upper bound on the NLL; the ELBO (k = 1) is given beside it.

``--pinned`` pins the arithmetic (``PINNED``): Intel MKL's conditional numerical
reproducibility for AVX2 (``MKL_CBWR``), ATen's AVX2 kernels (``ATEN_CPU_CAPABILITY``) and no
oneDNN, meant to make other x86-64 machines with AVX2 compute the same numbers: unpinned,
each library takes the widest instructions the machine has, and 7,600 steps carry a
rounding difference to 0.016 nats between two sessions' machines. It has not shown that:
JSB at seed 0 pinned (on two threads, before runs were held to one) stopped early at step
5,500 (best 4,300) with 6.04 on one session's machine and ran to 7,600 (best 6,400) with
5.859 on another's; on one thread a third machine, whose native figures differ from the
second's, gave 5.8587 after the same steps (`results/machine-check/pinned-full/`): a first
sign, not yet a check across kinds. Pinned runs are about 1.5 times slower and the table's
figures are unpinned, so it stays opt-in. Each result file says which arithmetic and
processor (`cpu_kind`) it had.

Each set is trained for its ``STEPS`` on one torch thread, once per ``--seeds`` (two
runs at a time with ``--jobs 2``: the 2-core machine), and each run writes
``benchmarks/results/boulanger-SET-seedN.json`` with its wall-clock time beside its
steps; ``benchmarks/results_table.py`` puts the mean and spread over the seeds beside
the published figures in the README. A run with another ``--transpose`` or ``--hop``
than the set's writes ``-variant`` files, which the table leaves out. ``--quick``
trains 40 steps and scores a few sequences (the smoke test's mode); it writes
``-quick`` files.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from midivae.run.checkpoint import load_checkpoint
from midivae.data import boulanger
from midivae.midi.layout import RollLayout
from midivae.models.losses import BetaSchedule
from midivae.models.metrics import log_importance_weights
from midivae.models import VAE, ModelConfig, TrainConfig
from midivae.run.train import train

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results"
WINDOW = {"jsb": 64, "nottingham": 128, "musedata": 128, "piano-midi": 128}  # frames
VALID_EVERY = 100  # training steps between validations
PATIENCE = 12  # validations without a better validation ELBO before a run stops
# the model for each set: a small one and transposition (up to 5 semitones each way) for
# the small sets, which overfit within minutes without it; a wider one without
# transposition for the large ones. Transposition was first adopted on JSB's test NLL
# (7.25 without, 6.49 with, 5-minute runs): a choice made on the test split. It was
# revisited on the validation split alone (`--transpose 0`, the ELBO of the chosen
# model on the valid split; README). The sizes and hops were not revisited.
SMALL = dict(latent=16, encoder="gru", encoder_hidden=64, decoder="recurrent",
             decoder_hidden=256, output="made", output_hidden=128)
MEDIUM = dict(latent=32, encoder="gru", encoder_hidden=128, decoder="recurrent",
              decoder_hidden=384, output="made", output_hidden=256)
# set: (ModelConfig fields, transposition, frames between the starts of training windows)
MODELS = {"jsb": (SMALL, 5, 16), "nottingham": (MEDIUM, 0, 8), "musedata": (MEDIUM, 0, 8),
          "piano-midi": (MEDIUM, 5, 8)}
# optimiser steps per set: what 25 wall-clock minutes gave the first runs on this 2-core
# machine (JSB stopped early at 8,600, its best at 7,400; the others ran 4,250-4,500 steps)
STEPS = {"jsb": 10_000, "nottingham": 4_500, "musedata": 4_500, "piano-midi": 4_500}
QUICK_STEPS = 40
RECIPE = TrainConfig(batch_size=32, steps=None, minutes=None, lr=2e-3, weight_decay=0.1,
                     warmup_steps=200,
                     beta=BetaSchedule("linear", beta_max=1.0, warmup_steps=2_000),
                     free_bits=0.0, patience=PATIENCE)


def layout(name: str) -> RollLayout:
    """The set's cells: one track, the 88 keys, its own frame rate as the grid."""
    return RollLayout(steps_per_beat=boulanger.SETS[name][1], low=boulanger.LOWEST_PITCH,
                      n_pitches=88)


def sequences(name: str, root: Path) -> dict[str, list[np.ndarray]]:
    """The published sequences of each split as flat cells, each (T, 2 * 88) uint8."""
    source = boulanger.resolve(f"boulanger:{name}", root, labels=False)
    lay = layout(name)
    out: dict[str, list[np.ndarray]] = {"train": [], "valid": [], "test": []}
    for item in source.items:
        roll = item.load(lay.steps_per_beat, False).roll
        out[item.split].append(lay.flatten(lay.to_array(roll)).astype(np.uint8))
    return out


class TrainingWindows(torch.utils.data.Dataset):
    """Windows starting every ``hop`` frames of each sequence, plus one ending at its end;
    a sequence shorter than a window gives one, padded with silence. Cut when read, so
    that a hop of one frame costs no memory: item i is (window, D) float, D = 2 * 88
    (onset cells, then sustain cells). ``transpose`` > 0: each read moves the window by
    a random number of semitones up to that many each way, within the 88 keys."""

    def __init__(self, seqs: list[np.ndarray], window: int, hop: int, transpose: int = 0):
        self.seqs, self.window, self.transpose = seqs, window, transpose
        self.starts = [(i, a) for i, s in enumerate(seqs)
                       for a in sorted(set(range(0, max(len(s) - window, 0) + 1, hop))
                                       | {max(len(s) - window, 0)})]

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, i: int) -> torch.Tensor:
        n, a = self.starts[i]
        piece = self.seqs[n][a:a + self.window]
        w = torch.zeros(self.window, piece.shape[1])
        w[:len(piece)] = torch.from_numpy(piece)
        if self.transpose:
            cells = w.view(self.window, 2, -1)
            keys = cells.any(0).any(0).nonzero().flatten()
            if len(keys):
                low = max(-self.transpose, -int(keys[0]))
                high = min(self.transpose, cells.shape[-1] - 1 - int(keys[-1]))
                shift = int(torch.randint(low, high + 1, ()))
                w = torch.roll(cells, shift, dims=-1).reshape(self.window, -1)
        return w


def scoring_windows(seqs: list[np.ndarray], window: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Every frame once: consecutive windows, the last of each sequence padded.

    Returns (x (N, window, D) float, steps (N,) long: each window's real frames).
    """
    xs, steps = [], []
    for s in seqs:
        for a in range(0, len(s), window):
            piece = s[a:a + window]
            w = np.zeros((window, s.shape[1]), np.float32)
            w[:len(piece)] = piece
            xs.append(w)
            steps.append(len(piece))
    return torch.from_numpy(np.stack(xs)), torch.tensor(steps)


@torch.no_grad()
def score(model: VAE, x: torch.Tensor, steps: torch.Tensor, *, k: int, batch: int = 64,
          seed: int = 0) -> dict:
    """NLL in nats per frame over every real frame: the IWAE bound with k samples and
    the ELBO estimate (the mean of the same k log weights)."""
    model.eval()
    iwae = elbo = 0.0
    for i in range(0, len(x), batch):
        w = log_importance_weights(model, x[i:i + batch], k=k, seed=seed + i,
                                   steps=steps[i:i + batch])  # (k, B) nats
        iwae += float((torch.logsumexp(w, 0) - math.log(k)).sum())
        elbo += float(w.mean(0).sum())
    frames = int(steps.sum())
    return {"nll_iwae": -iwae / frames, "nll_elbo": -elbo / frames, "k": k, "frames": frames,
            "windows": len(x)}


def run_set(name: str, *, steps: int, k: int, quick: bool, root: Path, seed: int,
            out: Path, hop: int | None = None, transpose: int | None = None) -> dict:
    """Train on one set for ``steps`` (fewer when the validation ELBO stops improving),
    choose on its validation split, score its test split."""
    torch.manual_seed(seed)
    window = WINDOW[name]
    data = sequences(name, root)
    if quick:  # a smoke run: a few sequences of each split
        data = {split: seqs[:6] for split, seqs in data.items()}
    lay = layout(name)
    settings, shift, every_frames = MODELS[name]
    transpose = shift if transpose is None else transpose
    hop = every_frames if hop is None else hop
    cfg = ModelConfig(n_steps=window, n_tracks=1, n_pitches=88,
                      steps_per_bar=lay.steps_per_bar, **settings)
    model = VAE(cfg, lay)
    train_x = TrainingWindows(data["train"], window, hop, transpose)
    valid_x, valid_steps = scoring_windows(data["valid"], window)
    loader = torch.utils.data.DataLoader(train_x, batch_size=RECIPE.batch_size, shuffle=True,
                                         drop_last=len(train_x) > RECIPE.batch_size)
    valid = [valid_x[i:i + 64] for i in range(0, len(valid_x), 64)]
    best = out / f"boulanger-{name}-seed{seed}" / "best"
    every = 20 if quick else VALID_EVERY
    started = time.monotonic()

    def log(r: dict) -> None:  # progress: the validation ELBO per frame (padding included)
        if r["kind"] == "valid":
            print(f"  {name} step {r['step']:6d}  {time.monotonic() - started:6.0f} s  valid "
                  f"-ELBO {-r['elbo_nats'] / window:.3f} nats/frame", flush=True)
    recipe = dataclasses.replace(RECIPE, steps=steps)
    dnn = torch.backends.mkldnn.enabled
    torch.backends.mkldnn.enabled = dnn and not pinned()
    try:
        history = train(model, loader, recipe, seed=seed, valid_loader=valid,
                        valid_every=every, best=best, log_every=every, log=log)
        trained = time.monotonic() - started
        chosen = load_checkpoint(best)
        started = time.monotonic()
        res_valid = score(chosen, valid_x, valid_steps, k=1, seed=seed)  # the ELBO: cheaper
        res_test = score(chosen, *scoring_windows(data["test"], window), k=k, seed=seed)
    finally:
        torch.backends.mkldnn.enabled = dnn
    return {
        "set": name, "quick": quick, "window_frames": window,
        "frames_per_quarter": boulanger.SETS[name][1],
        "test": res_test, "valid": res_valid,
        "sequences": {split: len(seqs) for split, seqs in data.items()},
        "train_windows": len(train_x), "hop_frames": hop, "transpose": transpose,
        "variant": hop != every_frames or transpose != shift,
        "training": {"steps_budget": steps, "seconds": round(trained, 1),
                     "steps": history.train[-1]["step"] if history.train else 0,
                     "best_step": history.best["step"], "stopped_early": history.stopped_early,
                     "valid_every": every, "patience": PATIENCE, "seed": seed,
                     "recipe": recipe.to_dict()},
        "scoring_seconds": round(time.monotonic() - started, 1),
        "model": {**cfg.to_dict(), "parameters": sum(p.numel() for p in model.parameters())},
        "machine": {"cpu": cpu_name(), "cpu_kind": cpu_kind(),
                    "arithmetic": "pinned" if pinned() else "native",
                    "torch_threads": torch.get_num_threads(), "torch": torch.__version__},
    }


# what every x86-64 machine with AVX2 computes alike (read by MKL and ATen when they start,
# so a run re-executes itself with them set); oneDNN, whose kernels follow the machine's
# caches and instructions, is switched off in `run_set`
PINNED = {"MKL_CBWR": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"}


def pinned() -> bool:
    """Whether this process computes with the pinned arithmetic."""
    return all(os.environ.get(k) == v for k, v in PINNED.items())


def cpu_name() -> str:
    """The processor's model name (Linux), else what `platform` knows."""
    return cpu_fields().get("model name") or platform.processor() or platform.machine()


def cpu_fields() -> dict[str, str]:
    """The first processor's fields in /proc/cpuinfo (empty where there is none)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return {}
    fields = {}
    for line in text.split("\n\n")[0].splitlines():
        key, _, value = line.partition(":")
        fields[key.strip()] = value.strip()
    return fields


def cpu_kind() -> str:
    """Which kind of processor, as far as rounding goes: vendor, family, model and stepping
    (a model name such as "AMD EPYC" covers several) and the widest vector instructions
    (which each library picks its kernels by), e.g. "AuthenticAMD 25/1/1 avx2"."""
    f = cpu_fields()
    flags = set(f.get("flags", "").split())
    widest = next((w for w in ("avx512f", "avx2", "avx") if w in flags), "none")
    return (f"{f.get('vendor_id', '?')} {f.get('cpu family', '?')}/{f.get('model', '?')}/"
            f"{f.get('stepping', '?')} {widest}")


def result_path(results: Path, name: str, seed: int, *, quick: bool, variant: bool) -> Path:
    """Where a run's figures go: ``boulanger-SET-seedN[-variant][-quick].json``."""
    return results / (f"boulanger-{name}-seed{seed}{'-variant' if variant else ''}"
                      f"{'-quick' if quick else ''}.json")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sets", nargs="+", default=list(WINDOW), choices=list(WINDOW))
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2],
                   help="one run per seed and set (default: 0 1 2)")
    p.add_argument("--steps", type=int, help="training steps per run (default: the set's, "
                   "in STEPS)")
    p.add_argument("--iwae", type=int, default=32, help="importance samples per test window")
    p.add_argument("--quick", action="store_true",
                   help=f"{QUICK_STEPS} steps on a few sequences: a smoke run")
    p.add_argument("--jobs", type=int, default=1, help="runs at once, one thread each")
    p.add_argument("--data", default=os.environ.get("MIDIVAE_DATA", str(ROOT.parent / "shared"
                                                                        / "data")))
    p.add_argument("--runs", default=str(ROOT / "runs" / "boulanger"),
                   help="where each run's chosen model is kept")
    p.add_argument("--results", default=str(RESULTS))
    p.add_argument("--hop", type=int, help="frames between training windows (default: "
                   "the set's, in MODELS)")
    p.add_argument("--transpose", type=int, help="semitones each way training windows move "
                   "(default: the set's, in MODELS)")
    p.add_argument("--pinned", action="store_true",
                   help="compute as AVX2 machines do (MKL's AVX2 reproducibility mode, ATen's "
                   "AVX2 kernels, no oneDNN), meant to give the same figures on other "
                   "processors (not shown yet: see the module docstring); about 1.5 times "
                   "slower")
    args = p.parse_args(argv)
    if args.pinned and not pinned():  # MKL and ATen read them at start-up
        argv = sys.argv[1:] if argv is None else argv
        raise SystemExit(subprocess.call([sys.executable, __file__, *argv],
                                         env={**os.environ, **PINNED}))
    k = min(args.iwae, 4) if args.quick else args.iwae
    runs = [(name, seed) for name in args.sets for seed in args.seeds]
    if args.jobs > 1 and len(runs) > 1:  # one process per run, `jobs` at a time
        common = ["--iwae", str(args.iwae), "--data", args.data, "--runs", args.runs,
                  "--results", args.results,
                  *(["--hop", str(args.hop)] if args.hop is not None else []),
                  *(["--transpose", str(args.transpose)] if args.transpose is not None else []),
                  *(["--steps", str(args.steps)] if args.steps is not None else [])]
        common += ["--quick"] if args.quick else []
        common += ["--pinned"] if args.pinned else []
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        pending, running, failed = list(runs), [], 0
        while pending or running:
            while pending and len(running) < args.jobs:
                name, seed = pending.pop(0)
                running.append(subprocess.Popen([sys.executable, __file__, "--sets", name,
                                                 "--seeds", str(seed), *common], env=env))
            time.sleep(1)
            failed += sum(r.returncode != 0 for r in running if r.poll() is not None)
            running = [r for r in running if r.poll() is None]
        raise SystemExit(1 if failed else 0)
    for name in args.sets:  # the data first: one line, not a traceback, when it is missing
        path = Path(args.data) / "boulanger" / boulanger.SETS[name][0]
        if not path.is_file():
            raise SystemExit(f"boulanger.py: {path} does not exist; pass --data pointing at "
                             "the folder that holds boulanger/")
    # one thread a run on any machine: how many threads split a sum changes its rounding,
    # and so the figures (a run with the machine's two threads differed from the table's)
    torch.set_num_threads(1)
    Path(args.results).mkdir(parents=True, exist_ok=True)
    for name, seed in runs:
        steps = args.steps or (QUICK_STEPS if args.quick else STEPS[name])
        res = run_set(name, steps=steps, k=k, quick=args.quick, root=Path(args.data),
                      seed=seed, out=Path(args.runs), hop=args.hop, transpose=args.transpose)
        path = result_path(Path(args.results), name, seed, quick=args.quick,
                           variant=res["variant"])
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(res, indent=1) + "\n")
        tmp.replace(path)
        t, v = res["test"], res["valid"]
        print(f"{name} seed {seed}: test NLL {t['nll_iwae']:.3f} nats/frame (IWAE k={t['k']}),"
              f" ELBO {t['nll_elbo']:.3f}; valid -ELBO {v['nll_elbo']:.3f}; {t['frames']} "
              f"frames; {res['training']['steps']} steps in {res['training']['seconds']:.0f} s,"
              f" best step {res['training']['best_step']}"
              f" -> {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


if __name__ == "__main__":
    main()
