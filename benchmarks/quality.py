"""Model quality as issue 9 measures it: train each model for a wall-clock budget on the
CPU, then `midivae evaluate` it on the test split (and folk models on Nottingham).

usage: python benchmarks/quality.py [--minutes 60] [--only NAME ...] [--data ../shared/data]
       python benchmarks/quality.py --quick --only folk-2bar-flat --sets S --runs R --results J

Each model is trained by the `midivae train` command with `--minutes` and
`--snapshot-minutes 10 30` (the same run's model after 10 and 30 minutes), one
torch thread per run and two runs at a time (the 2-core CI-class machine), into
``runs/quality/NAME``. Each snapshot and the final model are evaluated with
`midivae evaluate --json` into ``benchmarks/results/quality-NAME[-SET]@Mmin.json``;
``benchmarks/results_table.py`` turns those files into the README's table. Sets
are prepared first (reused when present). Before it is evaluated, each model's
sampling prior is fitted to its training windows by `midivae fit-prior --rank
auto`, which picks the prior's rank on the validation windows (with `--by-key` for
the models in ``BY_KEY``).

``--quick`` is the smoke test's mode: sets of 8 pieces (``prepare --limit 8``),
a few seconds of training, 16 windows and 8 samples evaluated; its figures mean
nothing, only that every step runs. Point its ``--sets``, ``--runs`` and
``--results`` elsewhere than the full run's.
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
    # the range the whole of essen-folk spans, given so that a part of it (--quick) fits
    # the Nottingham sets' too
    "folk-2bar": ["essen-folk", "--bars", "2", "--meter", "4/4", "--pitch-range", "48-84"],
    "folk-16bar": ["essen-folk", "--bars", "16", "--meter", "4/4", "--pitch-range", "48-84"],
    "chorales-4bar": ["bach-chorales", "--bars", "4", "--meter", "4/4"],
    "nottingham-2bar": ["{data}/nottingham/midi", "--roles", "order:melody", "--pitch-range",
                        "48-84", "--meter", "4/4", "--bars", "2", "--splits", "0,0,1"],
    "nottingham-16bar": ["{data}/nottingham/midi", "--roles", "order:melody", "--pitch-range",
                         "48-84", "--meter", "4/4", "--bars", "16", "--splits", "0,0,1"],
    "pop-8bar": ["pop909", "--bars", "8", "--meter", "4/4", "--data-root", "{data}"],
    # the tunes in three: 3/4 and 6/8 have bars of one length (12 steps), kept together
    "folk-16bar-triple": ["essen-folk", "--bars", "16", "--meter", "3/4,6/8", "--pitch-range",
                          "48-84"],
    "nottingham-16bar-triple": ["{data}/nottingham/midi", "--roles", "order:melody",
                                "--pitch-range", "48-84", "--meter", "3/4,6/8", "--bars", "16",
                                "--splits", "0,0,1"],
}
# A recurrent decoder is trained with word dropout (half its input steps silenced) and a
# KL that costs nothing up to 256 bits a window: with the presets' 32 bits it hid at that
# floor and the decoder ignored z (0 active units, chorale reconstructions 0.000).
RECURRENT = ["--input-dropout", "0.5", "--free-bits", "256"]
MELODY = ["--transpose", "3", "--output", "categorical"]
BAR_LATENTS = ["--bar-latents", "--latent", "512", "--keep-best"]
def _voices(*extra: str) -> tuple:
    """A variant of the shipped chorale model's run (preset hierarchical-4bar-voices-cpu)."""
    return ("chorales-4bar", "hierarchical-4bar-voices-cpu", [*extra, "--keep-best"],
            ["chorales-4bar"])


MODELS = {  # name: (set, preset, extra train arguments, sets it is evaluated on)
    "folk-2bar-flat": ("folk-2bar", "flat-2bar-cpu", MELODY,
                       ["folk-2bar", "nottingham-2bar"]),
    "folk-2bar-hier": ("folk-2bar", "hierarchical-4bar-lstm-cpu",
                       [*MELODY, "--input-dropout", "0.5", "--free-bits", "64"],
                       ["folk-2bar", "nottingham-2bar"]),
    "folk-2bar-hier-preset": ("folk-2bar", "hierarchical-4bar-lstm-cpu", MELODY,
                              ["folk-2bar", "nottingham-2bar"]),
    "folk-16bar-hier": ("folk-16bar", "hierarchical-4bar-lstm-cpu", [*MELODY, *RECURRENT],
                        ["folk-16bar", "nottingham-16bar"]),
    "folk-16bar-flat": ("folk-16bar", "flat-16bar-cpu", MELODY,
                        ["folk-16bar", "nottingham-16bar"]),
    "chorales-4bar-hier": ("chorales-4bar", "hierarchical-4bar-lstm-cpu", [*MELODY, *RECURRENT],
                           ["chorales-4bar"]),
    "chorales-4bar-hier-mlp": ("chorales-4bar", "hierarchical-4bar-lstm-cpu",
                               [*MELODY, *RECURRENT, "--encoder", "mlp"], ["chorales-4bar"]),
    "chorales-4bar-hier-preset": ("chorales-4bar", "hierarchical-4bar-lstm-cpu", MELODY,
                                  ["chorales-4bar"]),
    "chorales-4bar-flat": ("chorales-4bar", "flat-4bar-cpu", MELODY, ["chorales-4bar"]),
    "chorales-4bar-flat-wide": ("chorales-4bar", "flat-2bar-cpu", MELODY, ["chorales-4bar"]),
    # the conductor over MLP bar decoders (the hierarchical presets since issue 9's second
    # round): nothing within a bar to lean on instead of z
    "folk-2bar-hier-mlpbars": ("folk-2bar", "hierarchical-2bar-cpu", MELODY,
                               ["folk-2bar", "nottingham-2bar"]),
    "folk-16bar-hier-mlpbars": ("folk-16bar", "hierarchical-16bar-cpu", MELODY,
                                ["folk-16bar", "nottingham-16bar"]),
    "chorales-4bar-hier-mlpbars": ("chorales-4bar", "hierarchical-4bar-cpu", MELODY,
                                   ["chorales-4bar"]),
    # one code per bar (--bar-latents, the bars encoder), best validation ELBO kept:
    # the 16-bar model's KL sat at its 512 free bits, the chorales' at theirs too
    "folk-16bar-hier-barlatents": ("folk-16bar", "hierarchical-16bar-cpu",
                                   [*MELODY, *BAR_LATENTS], ["folk-16bar", "nottingham-16bar"]),
    # the shipped folk model: the same without direct_bars' 2.1M-weight map from z to every
    # bar (each bar reads its own code through `own`), so that it fits the package budget
    "folk-16bar-melody": ("folk-16bar", "hierarchical-16bar-melody-cpu",
                          ["--transpose", "3", "--keep-best"],
                          ["folk-16bar", "nottingham-16bar"]),
    # the shipped folk model's recipe on the Essen tunes in 3/4 and 6/8: the shipped
    # "folk-triple" model (issue 26: every other meter was refused)
    "folk-16bar-triple": ("folk-16bar-triple", "hierarchical-16bar-melody-cpu",
                          ["--transpose", "3", "--keep-best"],
                          ["folk-16bar-triple", "nottingham-16bar-triple"]),
    # the shipped folk model's settings trained to infill half its windows (issue 22)
    "folk-16bar-infill": ("folk-16bar", "hierarchical-16bar-melody-cpu",
                          ["--transpose", "3", "--keep-best", "--infill", "0.5"],
                          ["folk-16bar", "nottingham-16bar"]),
    "chorales-4bar-hier-barlatents": ("chorales-4bar", "hierarchical-4bar-cpu",
                                      [*MELODY, *BAR_LATENTS, "--encoder", "bars",
                                       "--free-bits", "1024"], ["chorales-4bar"]),
    # one code per bar and voice (--track-latents): the voices share the bar encoder's and
    # the bar decoder's weights
    "chorales-4bar-hier-tracklatents": ("chorales-4bar", "hierarchical-4bar-cpu",
                                        [*MELODY, *BAR_LATENTS, "--encoder", "bars",
                                         "--free-bits", "1024", "--track-latents"],
                                        ["chorales-4bar"]),
    # the shipped chorale model: the same with a narrower encoder (a quarter of the weights)
    "chorales-4bar-voices": _voices("--transpose", "3"),
    # the same with fewer free bits, so that the KL binds and the codes stay nearer the
    # prior the samples are drawn from (the 1024 free bits above leave the KL unpenalised:
    # it sat at 690 nats, under the 710 free)
    "chorales-4bar-voices-fb512": _voices("--transpose", "3", "--free-bits", "512"),
    "chorales-4bar-voices-fb256": _voices("--transpose", "3", "--free-bits", "256"),
    # and without transposing: the decoder then never learns a code's shift by a semitone,
    # which a prior's draws between two windows' codes turn into chromatic notes. Both were
    # stopped after their 10-minute snapshot (validation reconstruction rising from 68 to 91
    # nats: no augmentation, overfitting), which was fitted and evaluated as below by hand
    "chorales-4bar-voices-t0": _voices("--transpose", "0"),
    "chorales-4bar-voices-fb512-t0": _voices("--transpose", "0", "--free-bits", "512"),
    # the voices decoded in turn within a bar, bass first, each reading those before it
    # (--voice-context): the shipped chorale model since issue 21
    "chorales-4bar-voices-ctx": _voices("--transpose", "3", "--voice-context"),
    # the same with a code half the size (16 units a bar and voice) and the KL binding
    # sooner, so that the codes say less and the voices decoded after the bass must take
    # more of their notes from it
    "chorales-4bar-voices-ctx-z256": _voices("--transpose", "3", "--voice-context",
                                             "--latent", "256", "--free-bits", "512"),
    # the same trained to infill half its windows (--infill 0.5: given tracks, a gap, the
    # first bars or random parts; the decoder reads the given cells): harmonises a soprano,
    # fills in bars and continues by reading the notes it is given (issue 22)
    "chorales-4bar-voices-infill": _voices("--transpose", "3", "--voice-context",
                                           "--infill", "0.5"),
    "folk-2bar-hier-barlatents": ("folk-2bar", "hierarchical-2bar-cpu",
                                  [*MELODY, "--bar-latents", "--latent", "128", "--keep-best",
                                   "--encoder", "bars"], ["folk-2bar", "nottingham-2bar"]),
    "pop-8bar-hier": ("pop-8bar", "hierarchical-4bar-lstm-cpu",
                      ["--transpose", "3", *RECURRENT], ["pop-8bar"]),
    # one code per bar and track, a categorical melody over made bridge and piano, the
    # tracks decoded piano first (preset hierarchical-8bar-pop-cpu): the shipped pop model
    # since issue 21
    "pop-8bar-tracks": ("pop-8bar", "hierarchical-8bar-pop-cpu", ["--transpose", "3",
                                                                   "--keep-best"], ["pop-8bar"]),
    # ... trained 30 minutes more from its final model (run pop-8bar-tracks first): the 90
    # minutes issue 21 allows the pop model
    "pop-8bar-tracks-more": ("pop-8bar", "hierarchical-8bar-pop-cpu",
                             ["--transpose", "3", "--keep-best", "--init",
                              "{runs}/pop-8bar-tracks"], ["pop-8bar"]),
    # the pop model's settings with twice the code (32 units a bar and track), four times
    # the free bits, trained to infill half its windows so that its samples rewrite their
    # tracks given the others (issue 21: the accompaniment fits the melody), 90 minutes
    "pop-8bar-infill": ("pop-8bar", "hierarchical-8bar-pop-cpu",
                        ["--transpose", "3", "--keep-best", "--latent", "768",
                         "--free-bits", "2048", "--infill", "0.5"], ["pop-8bar"]),
    # the same code and free bits (no infill), the made tracks reading the step before so
    # that held chords stay held (preset hierarchical-8bar-pop-step-cpu), 90 minutes
    "pop-8bar-step": ("pop-8bar", "hierarchical-8bar-pop-step-cpu", ["--transpose", "3",
                                                                      "--keep-best"],
                      ["pop-8bar"]),
    # ... with a quarter of the steps before that the made tracks read silenced in training
    # (word dropout), so that they lean on the code and not only on the step before. Stopped
    # after its 10-minute snapshot: teacher-forced / free-running / onset F1 0.317 / 0.131 /
    # 0.562 on 100 test windows, against 0.403 / 0.161 / 0.668 for pop-8bar-step's
    "pop-8bar-step-dropout": ("pop-8bar", "hierarchical-8bar-pop-step-cpu",
                              ["--transpose", "3", "--keep-best", "--input-dropout", "0.25"],
                              ["pop-8bar"]),
    # the pop model shipped before: pop-8bar-hier (run it first), trained 30 minutes more
    "pop-8bar-hier-more": ("pop-8bar", "hierarchical-4bar-lstm-cpu",
                           ["--transpose", "3", *RECURRENT, "--init", "{runs}/pop-8bar-hier"],
                           ["pop-8bar"]),
}
# models whose prior is one Gaussian per key (`fit-prior --by-key`): the chorales with one
# code per bar and voice, whose single Gaussian drew 0.90 of their notes in the scale (the
# chorales: 0.94); the sets hold enough windows in each common key
BY_KEY = {"chorales-4bar-voices", "chorales-4bar-hier-tracklatents", "chorales-4bar-voices-ctx",
          "chorales-4bar-voices-ctx-z256",
          "pop-8bar-tracks", "pop-8bar-tracks-more", "folk-16bar-melody",
          "chorales-4bar-voices-infill", "folk-16bar-infill", "pop-8bar-infill",
          "folk-16bar-triple", "pop-8bar-step", "pop-8bar-step-dropout"}
# the shipped models' recommended temperature (models.json's): their samples are judged at it
# as well as at 1
TEMPERATURE = {"folk-16bar-melody": 0.5, "chorales-4bar-voices-ctx": 0.5, "pop-8bar-tracks": 0.5,
               "chorales-4bar-voices-ctx-z256": 0.5,
               "pop-8bar-tracks-more": 0.5, "chorales-4bar-voices-infill": 0.5,
               "folk-16bar-infill": 0.5, "pop-8bar-infill": 0.5, "folk-16bar-triple": 0.5,
               "pop-8bar-step": 0.5, "pop-8bar-step-dropout": 0.5}
# a budget of their own (default: --minutes)
MINUTES = {"pop-8bar-hier-more": 30, "pop-8bar-tracks-more": 30, "pop-8bar-infill": 90,
           "pop-8bar-step": 90, "pop-8bar-step-dropout": 90}
TOTAL = {"pop-8bar-hier-more": 90, "pop-8bar-tracks-more": 90, "pop-8bar-infill": 90,
         "pop-8bar-step": 90, "pop-8bar-step-dropout": 90}  # with the run they start from
SNAPSHOTS = (10, 30)  # minutes
# runs with a budget of their own that keep snapshots of their own
SNAPSHOTS_OF = {"pop-8bar-step": (10, 30, 60), "pop-8bar-step-dropout": (10, 30, 60)}
# models whose samples rewrite their tracks (`VAE.rewrite`): also evaluated with --rounds 0
REWRITTEN = {"chorales-4bar-voices-infill", "pop-8bar-infill"}
LIMITS = {"nottingham-16bar": 1000, "pop-8bar": 500}  # windows evaluated, spread over the set
# the shipped models as they ship (midivae/pretrained, `scripts/ship-models.sh`), evaluated
# as they are, nothing trained: name: (shipped model, the set it was trained on, the run
# it was exported from). `--only pop-shipped` measures the pop model whose prior
# ship-models.sh refits over every song
SHIPPED = {"pop-shipped": ("pop", "pop-8bar", "pop-8bar-step"),
           # its prior refitted with rank 64 (ship-models.sh says why)
           "folk-shipped": ("folk", "folk-16bar", "folk-16bar-melody"),
           # with its card's rules (no-parallels, stepwise-melody) as its voices are rewritten
           "chorale-shipped": ("chorale", "chorales-4bar", "chorales-4bar-voices-infill")}


def snapshot_minutes(name: str, minutes: float, snapshots: list[float]) -> list[float]:
    """The minutes run ``name`` of ``minutes`` keeps its model at: its own (SNAPSHOTS_OF),
    else the common ``snapshots`` unless it has a budget of its own (MINUTES: a run that
    continues another, or a long one)."""
    kept = SNAPSHOTS_OF.get(name, () if name in MINUTES else snapshots)
    return [m for m in kept if m < minutes]


def run(cmd: list[str], log: Path | None = None) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = open(log, "w") if log else None
    return subprocess.Popen([str(c) for c in cmd], cwd=ROOT, env=env, stdout=out,
                            stderr=subprocess.STDOUT)


def evaluate_shipped(name: str, sets: Path, results: Path, *, quick: bool) -> None:
    """`midivae evaluate --model` on the set a shipped model was trained on, at temperature 1
    and at the run's recommended one, into ``quality-NAME[-tT]@Mmin.json`` (M: its run's
    training minutes)."""
    model, data, trained = SHIPPED[name]
    results.mkdir(parents=True, exist_ok=True)
    minutes = TOTAL.get(trained, 60)
    for t in (1.0, TEMPERATURE.get(trained, 1.0)) if not quick else (1.0,):
        tag = "" if t == 1.0 else f"-t{t:g}"
        cmd = [*MIDIVAE, "evaluate", "--model", model, sets / data, "--samples",
               "8" if quick else "256", "--temperature", t,
               *(["--limit", 16 if quick else LIMITS[data]] if quick or data in LIMITS else []),
               "--json", results / f"quality-{name}{tag}@{minutes:g}min.json", "--force"]
        subprocess.run([str(c) for c in cmd], cwd=ROOT, check=True,
                       env={**os.environ, "OMP_NUM_THREADS": "2"})


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=60.0)
    p.add_argument("--only", nargs="*", default=list(MODELS), choices=[*MODELS, *SHIPPED])
    p.add_argument("--data", default=os.environ.get("MIDIVAE_DATA", "../shared/data"))
    p.add_argument("--sets", default="datasets/quality", help="where the sets are prepared")
    p.add_argument("--runs", default="runs/quality", help="where the models are trained")
    p.add_argument("--results", default=str(ROOT / "benchmarks" / "results"),
                   help="where the JSON files go")
    p.add_argument("--evaluate-only", action="store_true",
                   help="evaluate the runs already in --runs, train nothing")
    p.add_argument("--quick", action="store_true",
                   help="8 pieces a set, seconds of training: a smoke run")
    args = p.parse_args(argv)
    if args.quick:
        args.minutes = 0.05
    sets, runs = Path(args.sets), ROOT / args.runs
    results = Path(args.results)
    for name in [m for m in args.only if m in SHIPPED]:
        evaluate_shipped(name, sets, results, quick=args.quick)
    args.only = [m for m in args.only if m not in SHIPPED]
    needed = {s for m in args.only for s in [MODELS[m][0], *MODELS[m][3]]}
    for name in sorted(needed):
        if args.evaluate_only and (sets / name / "manifest.json").exists():
            continue  # judge the runs on the sets they were trained on, as they are
        cmd = [*MIDIVAE, "prepare", *[a.format(data=args.data) for a in SETS[name]],
               "--out", sets / name, "--quiet", "--workers", "2",
               *(["--limit", "8"] if args.quick else [])]
        subprocess.run([str(c) for c in cmd], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    results.mkdir(parents=True, exist_ok=True)
    pending = list(args.only)
    snapshots = [m for m in SNAPSHOTS if m < args.minutes]
    while pending:
        batch, pending = pending[:2], pending[2:]
        procs = []
        for name in batch if not args.evaluate_only else []:
            data, preset, extra, _ = MODELS[name]
            out = runs / name
            out.parent.mkdir(parents=True, exist_ok=True)
            extra = [a.format(runs=runs) for a in extra]
            minutes = args.minutes if args.quick else MINUTES.get(name, args.minutes)
            procs.append(run([*MIDIVAE, "train", sets / data, "--preset", preset, *extra,
                              "--minutes", minutes, "--out", out, "--force", "--quiet",
                              "--device", "cpu",
                              # validation only at the end, unless it picks the model kept
                              *([] if "--keep-best" in extra else ["--valid-every", "100000"]),
                              *(["--snapshot-minutes", *kept] if (
                                  kept := snapshot_minutes(name, minutes, snapshots)) else [])],
                             log=out.parent / f"{name}.log"))
        for proc in procs:
            proc.wait()
        for name in batch:
            minutes = args.minutes if args.quick else TOTAL.get(name, args.minutes)
            models = {f"{m:g}min": runs / name / f"at-{m:g}min"
                      for m in snapshot_minutes(name, minutes, snapshots)}
            models[f"{minutes:g}min"] = runs / name
            for model in models.values():  # the sampling prior, for runs from before train
                if (model / "model.safetensors").exists():  # fitted it (the same fit again)
                    subprocess.run([str(c) for c in [*MIDIVAE, "fit-prior", model,
                                                     sets / MODELS[name][0],
                                                     *([] if args.quick else ["--rank", "auto"]),
                                                     *(["--by-key"] if name in BY_KEY else [])]],
                                   cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
            for evaluated in MODELS[name][3]:
                suffix = "" if evaluated == MODELS[name][0] else f"-{evaluated}"
                for when, model in models.items():
                    if not (model / "model.safetensors").exists():
                        continue
                    cmd = [*MIDIVAE, "evaluate", model, sets / evaluated,
                           "--samples", "8" if args.quick else "256",
                           "--json", results / f"quality-{name}{suffix}@{when}.json", "--force"]
                    if args.quick and "--splits" not in SETS[evaluated]:
                        cmd += ["--split", "train"]  # 8 pieces may leave the test split empty
                    if args.quick or evaluated in LIMITS:
                        cmd += ["--limit", 16 if args.quick else LIMITS[evaluated]]
                    subprocess.run([str(c) for c in cmd], cwd=ROOT, check=True,
                                   env={**os.environ, "OMP_NUM_THREADS": "2"})
                    if name in TEMPERATURE and evaluated == MODELS[name][0]:
                        t = TEMPERATURE[name]  # the samples at the recommended temperature
                        cmd[cmd.index("--json") + 1] = (results /
                                                        f"quality-{name}-t{t:g}@{when}.json")
                        subprocess.run([str(c) for c in [*cmd, "--temperature", t]], cwd=ROOT,
                                       check=True, env={**os.environ, "OMP_NUM_THREADS": "2"})
                        if name in REWRITTEN:  # and the prior's draws before rewriting
                            cmd[cmd.index("--json") + 1] = (
                                results / f"quality-{name}-t{t:g}-r0@{when}.json")
                            subprocess.run([str(c) for c in [*cmd, "--temperature", t,
                                                             "--rounds", 0]],
                                           cwd=ROOT, check=True,
                                           env={**os.environ, "OMP_NUM_THREADS": "2"})


if __name__ == "__main__":
    main()
