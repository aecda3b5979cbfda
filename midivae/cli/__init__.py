"""The `midivae` command: the only package that parses arguments or prints.

Nothing imports it; it imports the rest lazily so `--help` is fast. Every
refusal is one line on stderr: exit status 2 for a bad argument, 1 for a file
that cannot be read or written (or would be overwritten without --force).
``checks`` holds the argument types and path checks; ``commands`` (files and sets),
``training`` (train, evaluate, fit-prior), ``generation`` (making music) and ``serve``
(the studio) the commands.
"""

from __future__ import annotations

import argparse
import os
import sys

from midivae.bounds import MAX_AUDIO_SECONDS
from midivae.cli import commands as c
from midivae.cli import generation as g
from midivae.cli import training as tr
from midivae.cli.checks import (Failure, Parser, batch_size, grid_steps, iwae_count,
                                limits, non_negative_float, positive_int,
                                one_line, pitch_range, positive_float,
                                prior_rank, round_count, rule_names, sample_count, seed, some_count,
                                some_count_or_none, probability_below_one, role_spec, splits,
                                train_steps, train_steps_or_none, transpose_range,
                                unit_interval, window_bars, worker_count)
from midivae.cli.options import add_generation_commands


def _build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="midivae", description="Make music with variational autoencoders over MIDI piano rolls.")
    sub = parser.add_subparsers(dest="command", required=True)

    d = sub.add_parser("demo", help="compose with the shipped models",
                       description="Sample clips from every shipped model, with piano-roll "
                       "pictures, and an interpolation between two clips of the default model; "
                       "print where each file is. Rewrites only its own files (demo_*) in OUT.")
    d.add_argument("--out", default="out", help="folder for the files the demo writes")
    d.add_argument("--seed", type=seed, default=0,
                   help=f"another seed, other music (default 0; {limits(seed)})")
    d.set_defaults(func=g._cmd_demo)

    q = sub.add_parser("quantize", help="quantize a MIDI file to a piano roll and render it back")
    q.add_argument("midi", help="input MIDI file")
    q.add_argument("--steps-per-beat", type=grid_steps, default=4,
                   help=f"grid steps per quarter note ({limits(grid_steps)})")
    q.add_argument("--out", help="write the re-rendered MIDI here (never the input file)")
    q.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    q.add_argument("--no-sustain-pedal", action="store_true",
                   help="keep note lengths as the note-offs give them (default: notes held "
                   "by the sustain pedal, CC64, last until it is released)")
    q.set_defaults(func=c._cmd_quantize)

    pl = sub.add_parser("plot", help="draw a MIDI file as a piano roll (PNG)")
    pl.add_argument("midi", help="input MIDI file")
    pl.add_argument("--out", help="PNG to write (default: beside the MIDI file)")
    pl.add_argument("--steps-per-beat", type=grid_steps, default=4,
                    help=f"grid steps per quarter note ({limits(grid_steps)})")
    pl.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    pl.set_defaults(func=c._cmd_plot)

    pa = sub.add_parser("play", help="render a MIDI file to a WAV through a GM SoundFont",
                        description="Audio preview: a General MIDI SoundFont (pretty_midi's, "
                        "or --soundfont) through tinysoundfont; pretty_midi's sine synthesis "
                        "when tinysoundfont is not installed (said on stderr). At most "
                        f"{MAX_AUDIO_SECONDS // 60} minutes of audio; "
                        "$MIDIVAE_MAX_AUDIO_SECONDS raises it.")
    pa.add_argument("midi", help="input MIDI file")
    pa.add_argument("--wav", help="WAV to write (default: beside the MIDI file)")
    pa.add_argument("--soundfont", help="a .sf2 file (default: pretty_midi's General MIDI one)")
    pa.add_argument("--steps-per-beat", type=grid_steps, default=4,
                    help=f"grid steps per quarter note ({limits(grid_steps)})")
    pa.add_argument("--force", action="store_true", help="overwrite --wav if it exists")
    pa.set_defaults(func=c._cmd_play)

    # -- prepare (datasets) ---------------------------------------------------
    pr = sub.add_parser("prepare", help="turn a MIDI folder or a named set into training windows",
                        description="Prepare training windows from SOURCE: a folder of MIDI "
                        "files, or one of bach-chorales, essen-folk, pop909, boulanger:jsb, "
                        "boulanger:nottingham, boulanger:musedata, boulanger:piano-midi. "
                        "Every piece that yields no window is named in the summary and in "
                        "manifest.json. Exit status 0 when at least one window was made.")
    pr.add_argument("source", help="MIDI folder or named set")
    pr.add_argument("--out", help="where the set goes (default: datasets/<source name>)")
    pr.add_argument("--bars", type=window_bars, default=4,
                    help=f"bars per window (default 4; {limits(window_bars)})")
    pr.add_argument("--hop", type=window_bars, default=1,
                    help=f"bars between window starts (default 1; {limits(window_bars)})")
    pr.add_argument("--steps-per-beat", type=grid_steps, help="grid steps per quarter note "
                    "(default 4; frame-roll sets: their own frame rate)")
    pr.add_argument("--meter", help="keep only windows wholly in this meter, e.g. 4/4; "
                    "4/4,2/2 also keeps windows in meters of the same bar length")
    pr.add_argument("--min-notes", type=some_count_or_none, default=1,
                    help="drop windows with fewer notes (default 1)")
    pr.add_argument("--pitch-range", type=pitch_range, metavar="LOW-HIGH",
                    help="MIDI pitches kept, e.g. 21-108 (default: from the data)")
    pr.add_argument("--roles", type=role_spec, help="track layout: merge, merge+drums, gm, "
                    "names:A,B,... or order:A,B,... (default: the source's)")
    pr.add_argument("--splits", type=splits, default="0.8,0.1,0.1",
                    help="train,valid,test shares by piece (default 0.8,0.1,0.1)")
    pr.add_argument("--split-salt", default="", help="any string: a different stable split")
    pr.add_argument("--labels", action="store_true",
                    help="label each file by its top-level subfolder")
    pr.add_argument("--no-velocity", action="store_true", help="do not keep velocities")
    pr.add_argument("--no-sustain-pedal", action="store_true",
                    help="keep note lengths as the note-offs give them (default: notes held "
                    "by the sustain pedal, CC64, last until it is released)")
    pr.add_argument("--limit", type=some_count, help="only N pieces (a quick look): a stable "
                    "pseudo-random choice, the same on every machine and run, not the first N; "
                    "a larger N keeps a smaller one's pieces; joined sources take from each")
    pr.add_argument("--workers", type=worker_count, default=0,
                    help=f"processes (default 0: every CPU; {limits(worker_count)})")
    pr.add_argument("--data-root", help="folder holding boulanger/ and pop909/ "
                    "(default: $MIDIVAE_DATA or ../shared/data)")
    pr.add_argument("--force", action="store_true", help="rebuild even if the set is current")
    pr.add_argument("--quiet", action="store_true", help="no progress bar")
    pr.set_defaults(func=c._cmd_prepare)

    t = sub.add_parser("train", help="train a VAE on a prepared set",
                       description="Train a VAE on a prepared set. Data-parallel on several "
                       "GPUs or CPU processes: torchrun --nproc_per_node=N -m midivae.cli "
                       "train SET --device cuda (--batch-size is then per process). The sampling "
                       "prior is fitted before each save; at the end, on a set with a "
                       "validation split, its rank is chosen as fit-prior --rank auto does.")
    t.add_argument("dataset", help="a folder made by `midivae prepare` (with --meter)")
    t.add_argument("--preset", default="hierarchical-4bar-cpu",
                   help="named settings (see midivae.models.PRESETS)")
    t.add_argument("--out", default="runs/run",
                   help="run folder: model.safetensors + model.json, log.csv, curves.png, "
                   "samples/ (default runs/run)")
    t.add_argument("--resume", action="store_true",
                   help="continue the run in --out exactly where it stopped (by Ctrl-C too: "
                   "it ends as the uninterrupted run would), with its own recipe and model: "
                   "--steps N trains it on to N steps in all, and a flag that would change "
                   "the recipe (--lr, --batch-size, ...) is refused")
    t.add_argument("--init", metavar="CKPT", help="start from this model's weights (fine-tune)")
    t.add_argument("--force", action="store_true",
                   help="start over in a folder holding a run (never one that another "
                   "midivae is writing into: that is refused)")
    t.add_argument("--steps", type=train_steps,
                   help="optimiser steps (default: the preset's; with --resume, the steps in "
                   "all, done ones included, to train the run on to; "
                   f"{limits(train_steps)})")
    t.add_argument("--minutes", type=positive_float,
                   help="wall-clock budget; with no --steps, train until it is spent")
    t.add_argument("--batch-size", type=batch_size,
                   help=f"windows per batch (default: the preset's; {limits(batch_size)})")
    t.add_argument("--lr", type=positive_float, help="peak learning rate (default: the preset's)")
    t.add_argument("--warmup-steps", type=train_steps_or_none,
                   help="learning-rate warm-up steps (default: the preset's)")
    t.add_argument("--beta", type=non_negative_float,
                   help="the KL weight the preset's schedule reaches (default: the preset's)")
    t.add_argument("--free-bits", type=non_negative_float,
                   help="free bits of KL (default: the preset's)")
    t.add_argument("--free-bits-per-dimension", action="store_true",
                   help="count --free-bits per latent dimension (Kingma et al. 2016), not per "
                   "window: against posterior collapse")
    t.add_argument("--input-dropout", type=probability_below_one,
                   help="probability that a recurrent decoder's input step is silenced in "
                   "training (word dropout: makes it use z; default: the preset's)")
    t.add_argument("--infill", type=unit_interval, metavar="SHARE",
                   help="with --bar-latents: train this share of windows as infilling (some "
                   "bars and tracks given, the rest to write), so that the model fills in "
                   "bars, continues and harmonises (`inpaint`, `harmonise`, `continue`) by "
                   "reading what it is given (default: 0)")
    t.add_argument("--encoder", choices=("mlp", "lstm", "gru", "bars"),
                   help="the encoder: an MLP over the whole window, a bidirectional LSTM or "
                   "GRU over its steps, or bars (an MLP over each bar, then a bidirectional "
                   "GRU over the bars) (default: the preset's)")
    t.add_argument("--bar-decoder", choices=("lstm", "mlp"),
                   help="a hierarchical decoder's bar decoder: lstm (MusicVAE's, step by step) "
                   "or mlp (a bar's steps at once from its embedding; reads no past steps "
                   "within the bar) (default: the preset's)")
    t.add_argument("--bar-latents", action="store_true",
                   help="hierarchical decoder with the bars encoder: z is one code per bar "
                   "(--latent is their total), each read by its own bar beside the conductor")
    t.add_argument("--track-latents", action="store_true",
                   help="with --bar-latents: one code per bar and track, and the bar decoder "
                   "run once per track with weights the tracks share (voices of one kind)")
    t.add_argument("--voice-context", action="store_true",
                   help="with --track-latents: decode a bar's tracks one after another, the "
                   "last first (bass before soprano, accompaniment before melody), each reading "
                   "the notes of those decoded before it, so that they make harmony together")
    t.add_argument("--track-outputs", metavar="OUT,OUT,...",
                   help="an output per track, e.g. categorical,made,made: a monophonic melody "
                   "over polyphonic accompaniment (default: --output for every track)")
    t.add_argument("--single-prior", action="store_true",
                   help="fit the sampling prior as one Gaussian (default: one per key where "
                   "two keys or more hold 20 training windows each)")
    t.add_argument("--place-input", action="store_true",
                   help="feed a recurrent or hierarchical decoder each step's place in the bar "
                   "(where the beats are)")
    t.add_argument("--latent", type=positive_int, help="latent size (default: the preset's)")
    t.add_argument("--output", choices=("made", "independent", "categorical"),
                   help="the decoder's output over a step: made (ordered Bernoulli cells, "
                   "the default), independent cells, or categorical (one note or rest per "
                   "track and step: melodies, chorale voices)")
    t.add_argument("--transpose", type=transpose_range, default=3,
                   help="random transposition of pitched tracks, up to this many semitones "
                   "each way, kept within the set's pitch range (default 3; 0: none; "
                   f"{limits(transpose_range)})")
    t.add_argument("--device", default="auto",
                   help="auto (CUDA, else MPS, else CPU), cpu, cuda, cuda:1, mps")
    t.add_argument("--seed", type=seed, default=0,
                   help="draws the initial weights, the window order and the noise: one "
                   f"seed, one run (on a CPU, bit for bit) (default 0; {limits(seed)})")
    t.add_argument("--log-every", type=train_steps, default=50,
                   help="steps between logged lines")
    t.add_argument("--valid-every", type=train_steps, default=500,
                   help="steps between validations (each writes samples/)")
    t.add_argument("--checkpoint-every", type=train_steps, default=500,
                   help="steps between checkpoints (also saved at the end, and on Ctrl-C "
                   "once the step under way has ended; a second Ctrl-C stops at once)")
    t.add_argument("--checkpoint-minutes", type=positive_float,
                   help="also save after this many minutes since the last save")
    t.add_argument("--snapshot-minutes", type=positive_float, nargs="+", metavar="M",
                   help="also keep the model as it was after M minutes, in OUT/at-Mmin "
                   "(e.g. 10 30: one run's figures at 10, 30 and its last minute)")
    t.add_argument("--keep-best", action="store_true",
                   help="also keep the model with the best validation ELBO so far, in OUT/best "
                   "(the model chosen on the validation split)")
    t.add_argument("--patience", type=train_steps, metavar="N",
                   help="early stopping: end the run once N validations in a row have not "
                   "beaten the best validation ELBO (see --valid-every)")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=tr._cmd_train)

    e = sub.add_parser("evaluate", help="judge a model by the music it makes on a prepared "
                       "set or your own MIDI files",
                       usage="midivae evaluate [-h] [CKPT | --model NAME] SOURCE [options]",
                       description="Reconstruction (ELBO, IWAE, step accuracy teacher-forced and "
                       "free-running, onset F1) on held-out windows, and the musical statistics "
                       "of prior samples beside the data's. SOURCE is a prepared set, or a "
                       "folder of MIDI files (or one file): each piece is fitted to the model as "
                       "`reconstruct` fits it (tracks by role, octaves into range, windows cut "
                       "at bar lines), a piece that cannot be is skipped with a warning, and "
                       "the report says what was changed. A set of another layout is fitted "
                       "the same way, unless --strict.")
    e.add_argument("given", nargs="+", metavar="[CKPT] SOURCE",
                   help="the model (a checkpoint file or run folder, or a shipped model's name; "
                   "left out: --model, else the default shipped model), then a prepared set, "
                   "a folder of MIDI files, or one MIDI file")
    e.add_argument("--model", metavar="NAME", help="a shipped model (see `midivae models`) or "
                   "a checkpoint, instead of CKPT")
    e.add_argument("--split", choices=("train", "valid", "test"),
                   help="a prepared set's split (default test; MIDI files have none: every "
                   "piece is evaluated)")
    e.add_argument("--strict", action="store_true", help="refuse a prepared set whose layout "
                   "differs from the model's instead of fitting its pieces")
    e.add_argument("--label", help="for a conditioned model on MIDI files or a set of another "
                   "layout: the label of the music")
    e.add_argument("--iwae", type=iwae_count, default=0, metavar="K",
                   help="importance samples for the IWAE bound (default 0: not computed; "
                   f"{limits(iwae_count)})")
    e.add_argument("--samples", type=sample_count, default=256,
                   help=f"prior samples (default 256; {limits(sample_count)})")
    e.add_argument("--temperature", type=non_negative_float, default=1.0,
                   help="sampling temperature for the statistics (default 1)")
    e.add_argument("--limit", type=some_count, help="N windows spread evenly over the split")
    e.add_argument("--rounds", type=round_count, help="rounds of redrawing each track "
                   "given the others after each prior draw (default: the model's, as `sample` "
                   "does: 3 for a model trained to infill with several tracks, else 0)")
    e.add_argument("--rules", type=rule_names, metavar="RULES",
                   help="what the redrawn tracks keep, as `sample --rules` takes it (default: "
                   "the model card's, none for a checkpoint)")
    e.add_argument("--seed", type=seed, default=0, help=f"default 0; {limits(seed)}")
    e.add_argument("--json", help="also write every figure to this JSON file")
    e.add_argument("--force", action="store_true", help="overwrite --json if it exists")
    e.set_defaults(func=tr._cmd_evaluate)

    f = sub.add_parser("fit-prior", help="fit the distribution a model samples z from to a set",
                       description="Set the model's sampling prior to the Gaussian with the mean "
                       "and covariance of its aggregate posterior over the set's training "
                       "windows (`midivae train` does this itself before each save; this is "
                       "for models trained before it did). The checkpoint is rewritten in "
                       "place, its training state kept; the ELBO is unchanged.")
    f.add_argument("checkpoint", help="a checkpoint written by `midivae train`")
    f.add_argument("dataset", help="the prepared set it was trained on")
    f.add_argument("--rank", type=prior_rank, metavar="K|auto",
                   help="vary z along the covariance's K principal directions only; auto: "
                   "the K among 8, 16, 32, 64, 128, 256 and full whose samples' "
                   "statistics come closest to the validation windows' (default: full rank)")
    f.add_argument("--by-key", action="store_true",
                   help="one Gaussian per key (the major scale holding most of a window's "
                   "notes) that holds 20 training windows or more, weighted by how often the "
                   "key occurs: draws stay in one key")
    f.add_argument("--noise", nargs="?", const="isotropic", choices=("isotropic", "diagonal"),
                   help="with --rank K: give back what the rank leaves out instead of keeping "
                   "the mean there, whose draws decode to sparser music: isotropic (the "
                   "default; probabilistic PCA's noise, every direction left out varies with "
                   "their mean variance) or diagonal (each unit of z gets back the variance "
                   "the kept directions leave it)")
    f.set_defaults(func=tr._cmd_fit_prior)

    add_generation_commands(sub)

    return parser



def _os_error_line(err: OSError) -> str:
    """``<path>: <reason>`` (midivae's writers name the user's file, never a temporary one)."""
    reason = err.strerror or str(err)
    name = err.filename if err.filename is not None else err.filename2
    return reason if name is None else f"{os.fsdecode(name)}: {reason}"


def main(argv: list[str] | None = None) -> int:
    from midivae.errors import MidivaeError
    args = _build_parser().parse_args(argv)
    try:
        return args.func(args)
    except Failure as err:
        print(f"midivae {args.command}: error: {one_line(err)}", file=sys.stderr)
        return err.status
    except MidivaeError as err:
        print(f"midivae: error: {one_line(err)}", file=sys.stderr)
        return 1
    except OSError as err:  # permission denied, no space left, ...: one line, no traceback
        print(f"midivae: error: {one_line(_os_error_line(err))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("midivae: interrupted", file=sys.stderr)
        return 130

