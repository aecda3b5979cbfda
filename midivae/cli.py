"""The `midivae` command: the only module that parses arguments or prints.

Nothing imports this module; it imports the rest lazily so `--help` is fast.
Every refusal is one line on stderr: exit status 2 for a bad argument, 1 for a
file that cannot be read or written (or would be overwritten without --force).
"""

from __future__ import annotations

import argparse
import math
import os
import sys


class _Failure(Exception):
    """A command refuses: one line on stderr and an exit status (2: a bad argument)."""

    def __init__(self, message: str, status: int = 1):
        super().__init__(message)
        self.status = status


class _Parser(argparse.ArgumentParser):
    """argparse whose errors are one line, ``midivae train: error: ...``, exit status 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())}\n")


# -- argument types: argparse turns an ArgumentTypeError into a one-line error -----------

def _number(kind, text: str, what: str):
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}") from None


def positive_int(text: str) -> int:
    value = _number(int, text, "a whole number >= 1")
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def non_negative_int(text: str) -> int:
    value = _number(int, text, "a whole number >= 0")
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def finite_float(text: str) -> float:
    value = _number(float, text, "a number")
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return value


def non_negative_float(text: str) -> float:
    value = finite_float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value:g}")
    return value


def positive_float(text: str) -> float:
    value = finite_float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value:g}")
    return value


def pitch_range(text: str) -> tuple[int, int]:
    """``"21-108"`` -> (21, 108); the bounds are checked by `PrepareSettings`."""
    parts = text.split("-")
    if len(parts) != 2:
        raise argparse.ArgumentTypeError(f"must look like LOW-HIGH, e.g. 21-108, got {text!r}")
    return tuple(_number(int, p, "LOW-HIGH, e.g. 21-108") for p in parts)


def splits(text: str) -> tuple[float, ...]:
    """``"0.8,0.1,0.1"`` -> three finite shares; their rules are `PrepareSettings`'."""
    try:
        return tuple(finite_float(v) for v in text.split(","))
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"must be three finite shares like 0.8,0.1,0.1, "
                                         f"got {text!r}") from None


def role_spec(text: str) -> str:
    """A track layout spec, checked by the one function that reads it."""
    from midivae.errors import DatasetError
    from midivae.roles import parse_roles
    try:
        parse_roles(text)
    except DatasetError as err:
        raise argparse.ArgumentTypeError(str(err).removeprefix("roles: ")) from None
    return text


# -- paths: checked before any work, so a refusal changes nothing -------------------------

def _input_file(path: str) -> None:
    if not os.path.lexists(path):
        raise _Failure(f"{path}: no such file")
    if os.path.isdir(path):
        raise _Failure(f"{path}: is a folder, not a file")


def _writable_folder(folder: str, path: str, *, create: bool) -> None:
    """``folder`` exists (or, with ``create``, can be made) and may be written in."""
    folder = os.path.abspath(folder)
    existing = folder
    while not os.path.lexists(existing):
        if not create:
            raise _Failure(f"{path}: folder {folder} does not exist")
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise _Failure(f"{path}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise _Failure(f"{path}: cannot write in {existing} (permission denied)")


def _output_file(path: str | os.PathLike, *, force: bool, create: bool = False) -> None:
    """``path`` may be written: its folder is there (or can be made), it is no folder,
    and it exists only if ``force``."""
    path = os.fspath(path)
    _writable_folder(os.path.dirname(os.path.abspath(path)), path, create=create)
    if os.path.isdir(path):
        raise _Failure(f"{path}: is a folder, not a file")
    if os.path.lexists(path) and not force:
        raise _Failure(f"{path} exists; pass --force to overwrite it")


def _output_folder(path: str) -> None:
    if os.path.lexists(path) and not os.path.isdir(path):
        raise _Failure(f"{path}: is a file, not a folder")
    _writable_folder(path, path, create=True)


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist
        return os.path.realpath(a) == os.path.realpath(b)


def _check_device(name: str) -> None:
    import torch
    try:
        torch.empty(0, device=name)
    except (RuntimeError, AssertionError, ValueError) as err:
        reason = (str(err).strip().splitlines() or ["unknown device"])[0]
        raise _Failure(f"argument --device: cannot use {name!r} here ({reason})", 2) from None


# -- commands ------------------------------------------------------------------------------

def _cmd_quantize(args) -> int:
    from midivae.quantize import quantize
    _input_file(args.midi)
    if args.out:
        if _same_file(args.midi, args.out):
            raise _Failure(f"{args.out} is the input file; writing it would replace the input "
                           "with a lossy re-render (choose another --out)")
        _output_file(args.out, force=args.force)
    roll = quantize(args.midi, steps_per_beat=args.steps_per_beat)
    print(roll)
    if args.out:
        roll.to_midi(args.out)
        print(f"wrote {args.out}")
    return 0


def _train_inputs(args):
    """The prepared set and the device, after every check that needs no training: a
    refusal here has written nothing."""
    from midivae.data import PreparedSet
    from midivae.errors import DatasetError
    from midivae.models import PRESETS
    from midivae.runs import holds_run

    if args.preset not in PRESETS:
        raise _Failure(f"argument --preset: unknown preset {args.preset!r}; choose from "
                       f"{', '.join(sorted(PRESETS))}", 2)
    if args.resume and args.init:
        raise _Failure("--resume continues a run; --init starts a new one from a model: "
                       "give one", 2)
    prepared = PreparedSet(args.dataset)
    if prepared.window_steps is None:
        raise DatasetError(f"{prepared.path}: windows of mixed meters differ in length; "
                           "prepare the set with one meter (--meter 4/4) to train on it")
    if prepared.n_windows["train"] == 0:
        raise DatasetError(f"{prepared.path}: the train split holds no window")
    if os.path.lexists(args.out) and not os.path.isdir(args.out):
        raise _Failure(f"{args.out}: is a file; --out names a run folder")
    if args.resume and not holds_run(args.out):
        raise _Failure(f"{args.out} holds no run to resume (no model.safetensors)")
    if holds_run(args.out) and not (args.resume or args.force):
        raise _Failure(f"{args.out} holds a run; pass --resume to continue it or --force to "
                       "start it over")
    if os.path.isdir(args.out) and not holds_run(args.out) and os.listdir(args.out):
        raise _Failure(f"{args.out} exists and is not a run folder; choose another --out")
    _writable_folder(os.path.dirname(os.path.abspath(args.out)), args.out, create=True)
    if args.init:
        _input_file(_checkpoint_file(args.init))
    return prepared, _device(args.device)


def _checkpoint_file(path: str) -> str:
    from midivae.checkpoint import checkpoint_paths
    return str(checkpoint_paths(path)[0])


def _device(name: str) -> str:
    """``auto``: CUDA, else Apple's MPS, else the CPU; any other name must work here."""
    import torch
    if name == "auto":
        if torch.cuda.is_available():
            return "cuda"
        mps = getattr(torch.backends, "mps", None)
        return "mps" if mps is not None and mps.is_available() else "cpu"
    _check_device(name)
    return name


def _recipe_changes(args) -> dict:
    """The TrainConfig fields set on the command line, on top of the preset's."""
    changes = {}
    for field in ("steps", "batch_size", "lr", "free_bits", "minutes", "warmup_steps"):
        if getattr(args, field) is not None:
            changes[field] = getattr(args, field)
    if args.minutes is not None and args.steps is None:
        changes["steps"] = None  # the budget alone ends the run
    return changes


def _cmd_train(args) -> int:
    import dataclasses

    from midivae import distributed
    from midivae.checkpoint import load_checkpoint
    from midivae.evaluate import layout_differences
    from midivae.runs import RunFolder
    from midivae.train import loaders, model_and_loaders, train

    prepared, device_name = _train_inputs(args)
    device = distributed.setup(device_name)  # joins torchrun's process group, if any
    rank, n_procs = distributed.world()
    if args.resume:
        model = load_checkpoint(args.out)
        saved = _saved_run(args.out)
        loader, valid = loaders(prepared, saved["batch_size"], transpose=saved["transpose"],
                                seed=saved["seed"])
        cfg, preset, transpose = None, saved["preset"], saved["transpose"]
    else:
        model_changes = {"latent": args.latent} if args.latent else {}
        if args.output:
            model_changes["output"] = args.output
        model, cfg, loader, valid = model_and_loaders(
            prepared, args.preset, batch_size=args.batch_size, transpose=args.transpose,
            seed=args.seed, **model_changes)
        if args.init:  # fine-tune: the given model's weights, this run's recipe
            model = load_checkpoint(args.init)
            differences = layout_differences(model, prepared)
            if differences:
                raise _Failure(f"{args.init} does not fit {prepared.path}: "
                               + "; ".join(differences))
        cfg = dataclasses.replace(cfg, **_recipe_changes(args))
        if args.beta is not None:
            cfg = dataclasses.replace(cfg, beta=dataclasses.replace(cfg.beta, beta_max=args.beta)
                                      if hasattr(cfg.beta, "beta_max") else args.beta)
        if device.type == "cuda" and _bf16_ok():
            cfg = dataclasses.replace(cfg, bf16=True)
        preset, transpose = args.preset, args.transpose
    run = RunFolder(args.out, resume=args.resume) if rank == 0 else None
    n_params = sum(p.numel() for p in model.parameters())
    if rank == 0:
        what = (f"resuming {args.out}" if args.resume else f"training {preset}"
                + (f" from {args.init}" if args.init else ""))
        until = ("its own steps" if args.resume else
                 " and ".join(([f"{cfg.steps} steps"] if cfg.steps else [])
                              + ([f"{cfg.minutes:g} minutes"] if cfg.minutes else [])))
        print(f"{what} ({n_params / 1e6:.2f}M parameters) on {prepared.path} for {until} "
              f"on {device}" + (f" x {n_procs} processes" if n_procs > 1 else "")
              + (f", conditioned on {', '.join(prepared.labels)}" if prepared.labels else ""))
    bar = _train_bar(args, cfg)
    first_valid = next(iter(valid)) if valid is not None else None

    def log(r: dict) -> None:
        run.log(r)
        line = (f"  {r['kind']:5s} step {r['step']:5d}  -elbo {r['nelbo_bits_per_step']:.3f} "
                f"bits/step  recon {r['recon_nats']:.1f}  kl {r['kl_nats']:.1f} nats/window"
                + (f"  {r['active_units']} active" if "active_units" in r else ""))
        if bar is None:
            print(line, flush=True)
        elif r["kind"] == "valid":
            bar.write(line)
        if r["kind"] == "valid":
            run.write_samples(model, r["step"], first_valid)

    def on_step(step: int, terms: dict) -> None:
        if bar is not None:
            bar.update(step - bar.n)
            bar.set_postfix(loss=f"{terms['loss']:.1f}", kl=f"{terms['kl_nats']:.1f}",
                            beta=f"{terms['beta']:.3f}", refresh=False)

    common = dict(valid_loader=valid, valid_every=args.valid_every, device=device,
                  log=log if rank == 0 else None, log_every=args.log_every,
                  checkpoint=run.checkpoint if run else None,
                  checkpoint_every=args.checkpoint_every, on_step=on_step,
                  info={"dataset": str(prepared.path), "transpose": transpose})
    try:
        if args.resume:
            train(model, loader, resume=args.out, **common)
        else:
            train(model, loader, cfg, seed=args.seed, preset=preset, **common)
    except KeyboardInterrupt:
        if rank == 0 and run.checkpoint.with_suffix(".safetensors").exists():
            from midivae.checkpoint import read_settings
            run.write_curves()
            step = read_settings(run.checkpoint)["extra"].get("step")
            print(f"midivae train: interrupted; the model at step {step} is saved in "
                  f"{args.out} (continue with --resume)", file=sys.stderr)
            return 130
        raise
    finally:
        if bar is not None:
            bar.close()
        if run is not None:
            run.close()
        distributed.teardown()
    if rank == 0:
        print(f"saved {args.out} (curves.png, log.csv, samples/)")
        run.write_curves()
    return 0


def _bf16_ok() -> bool:
    import torch
    return bool(torch.cuda.is_bf16_supported())


def _saved_run(path: str) -> dict:
    from midivae.checkpoint import read_settings
    extra = read_settings(path)["extra"]
    run = extra.get("run", {})
    return {"batch_size": int(extra["train"]["batch_size"]), "preset": extra.get("preset", ""),
            "seed": int(extra.get("seed", 0)), "transpose": int(run.get("transpose", 0))}


def _train_bar(args, cfg):
    """A tqdm bar of steps with ETA, loss, KL and beta; None when quiet or not on a terminal."""
    if args.quiet or not sys.stderr.isatty():
        return None
    from tqdm import tqdm
    total = None if cfg is None else cfg.steps
    return tqdm(total=total, unit="step", dynamic_ncols=True, file=sys.stderr)


def _cmd_sample(args) -> int:
    from midivae.checkpoint import load_checkpoint
    from midivae.generate import layout_of, sample

    _output_folder(args.out)
    paths = [os.path.join(args.out, f"sample_{i:03d}.mid") for i in range(args.n)]
    for path in paths:
        _output_file(path, force=args.force, create=True)
    model = load_checkpoint(args.checkpoint).eval()
    layout = layout_of(model)
    if layout.labels and args.label is None:
        raise _Failure(f"this model is conditioned; pass --label, one of "
                       f"{', '.join(layout.labels)}", 2)
    try:
        label = None if args.label is None else layout.label_index(args.label)
    except ValueError as err:
        raise _Failure(str(err), 2) from None
    os.makedirs(args.out, exist_ok=True)
    rolls = sample(model, args.n, temperature=args.temperature, seed=args.seed, label=label)
    for path, roll in zip(paths, rolls):
        if args.qpm:
            roll = roll.replace(tempos=[(0, args.qpm)])
        roll.to_midi(path)
        print(f"wrote {path}: {roll.n_notes} notes, {roll.n_steps} steps")
    return 0


def _cmd_evaluate(args) -> int:
    import json

    from midivae.checkpoint import load_checkpoint
    from midivae.data import PreparedSet
    from midivae.evaluate import evaluate
    from midivae.fileio import replace_atomically

    if args.json:
        _output_file(args.json, force=args.force)
    model = load_checkpoint(args.checkpoint)
    prepared = PreparedSet(args.dataset)
    res = evaluate(model, prepared, split=args.split, k=args.iwae, n_samples=args.samples,
                   temperature=args.temperature, seed=args.seed, max_windows=args.limit)
    res["checkpoint"] = str(args.checkpoint)
    m, dist = res["metrics"], res["distance"]
    print(f"{args.checkpoint} on {prepared.path} ({args.split}, {res['windows']} windows)")
    print(f"  -elbo {m['nelbo_bits_per_step']:.3f} bits/step"
          + (f", iwae({args.iwae}) {m['iwae_bits_per_step']:.3f}" if args.iwae else "")
          + f", kl {m['kl_nats']:.1f} nats/window, {m['active_units']} active units")
    print(f"  step accuracy: teacher-forced {m['acc_teacher_forced']:.3f}, free-running "
          f"{m['acc_free_running']:.3f}; onset P/R/F1 {m['onset_precision']:.3f} / "
          f"{m['onset_recall']:.3f} / {m['onset_f1']:.3f}")
    print(f"  {args.samples} samples at temperature {args.temperature} vs the data "
          f"(distance {dist['distance']['value']:.3f}):")
    for key in dist["distance"]["keys"] + ["silent_share", "empty_beat_share"]:
        if key in dist:
            print(f"    {key:24s} {dist[key]['a']:8.3f}  data {dist[key]['b']:8.3f}")
    if args.json:
        text = json.dumps(res, indent=1, sort_keys=True)
        replace_atomically(args.json, lambda tmp: tmp.write_text(text, encoding="utf-8"))
        print(f"wrote {args.json}")
    return 0


def _cmd_plot(args) -> int:
    from midivae.quantize import quantize
    _input_file(args.midi)
    out = args.out or os.path.splitext(args.midi)[0] + ".png"
    _output_file(out, force=args.force)
    roll = quantize(args.midi, steps_per_beat=args.steps_per_beat)
    roll.plot(out)
    print(f"wrote {out}: {roll.n_tracks} track(s), {len(roll.bar_starts())} bars")
    return 0


def _cmd_play(args) -> int:
    import warnings

    from midivae.quantize import quantize
    _input_file(args.midi)
    out = args.wav or os.path.splitext(args.midi)[0] + ".wav"
    _output_file(out, force=args.force)
    if args.soundfont:
        _input_file(args.soundfont)
    roll = quantize(args.midi, steps_per_beat=args.steps_per_beat)
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        backend = roll.to_wav(out, soundfont=args.soundfont)
    for w in said:
        print(f"midivae play: {w.message}", file=sys.stderr)
    print(f"wrote {out} ({backend})")
    return 0


def _cmd_demo(args) -> int:
    import music21

    from midivae.quantize import quantize
    from midivae.render import render
    from midivae.score import from_music21

    _output_folder(args.out)
    try:
        score = music21.corpus.parse(args.chorale)  # the embedded default data: no download
    except music21.exceptions21.Music21Exception:
        raise _Failure(f"argument --chorale: {args.chorale!r} is not a work in the music21 "
                       "corpus (e.g. bach/bwv66.6)", 2) from None
    path = os.path.join(args.out, args.chorale.replace("/", "_") + ".mid")
    _output_file(path, force=True, create=True)  # the demo's own file: rewritten each run
    roll, _ = from_music21(score, args.steps_per_beat)  # bar lines from the score's measures
    print(f"quantized {args.chorale} from the music21 corpus:\n  {roll}")
    print(f"  bars start at steps {roll.bar_starts()[:8].tolist()} ...")
    os.makedirs(args.out, exist_ok=True)
    render(roll, path)
    again = quantize(path, steps_per_beat=args.steps_per_beat)
    print(f"rendered to {path}; re-quantized roll identical: {again == roll}")
    return 0 if again == roll else 1


def _summary(prepared, max_listed: int = 50) -> str:
    """A few lines for people: counts per split, what was dropped, the skipped pieces.

    The first ``max_listed`` skipped pieces are named; the manifest names them all.
    """
    from midivae.data import SPLITS

    m = prepared.manifest
    c = m["counts"]
    L = prepared.layout
    lines = [f"{prepared.path}: {'reused' if prepared.reused else 'built'} "
             f"from {m['source']['spec']} ({c['items']} pieces read)",
             "  pieces:  " + ", ".join(f"{s} {c['pieces'][s]}" for s in SPLITS),
             "  windows: " + ", ".join(f"{s} {c['windows'][s]}" for s in SPLITS),
             f"  layout:  {L.n_tracks} track(s) {[t.name for t in L.tracks]}, pitches "
             f"{L.low}..{L.low + L.n_pitches - 1}, {L.steps_per_beat} steps/beat, "
             f"{m['settings']['bars']} bars; meters {c['meters']}"]
    if c["windows_dropped"]:
        lines.append("  windows dropped: " + ", ".join(f"{n} {r.replace('_', ' ')}"
                                                       for r, n in c["windows_dropped"].items()))
    if m["warnings"]:
        lines.append(f"  {len(m['warnings'])} warning(s) in manifest.json")
    lines.append(f"  skipped: {c['skipped']} piece(s)")
    lines += [f"    {s['piece']}: {s['reason']}" for s in m["skipped"][:max_listed]]
    if len(m["skipped"]) > max_listed:
        lines.append(f"    ... and {len(m['skipped']) - max_listed} more in manifest.json")
    return "\n".join(lines)


def _cmd_prepare(args) -> int:
    from midivae.data import PrepareSettings, prepare

    try:
        settings = PrepareSettings(
            bars=args.bars, hop=args.hop, steps_per_beat=args.steps_per_beat,
            meter=args.meter, min_notes=args.min_notes, roles=args.roles,
            pitch_range=args.pitch_range, splits=args.splits, split_salt=args.split_salt,
            velocity=not args.no_velocity, labels=args.labels, limit=args.limit)
    except ValueError as err:
        raise _Failure(str(err), 2) from None
    progress = _progress_bar(args.quiet, "piece")
    try:
        prepared = prepare(args.source, args.out, settings, data_root=args.data_root,
                           workers=args.workers, progress=progress, force=args.force)
    finally:
        if progress is not None:
            progress.close()
    print(_summary(prepared))
    if sum(prepared.manifest["counts"]["windows"].values()) == 0:
        print("midivae prepare: error: no window was made (see the reasons above)",
              file=sys.stderr)
        return 1
    return 0


def _progress_bar(quiet: bool, unit: str):
    """A tqdm bar on stderr as ``progress(done, total)``; None when quiet or not on a terminal."""
    if quiet or not sys.stderr.isatty():
        return None
    from tqdm import tqdm
    bar = tqdm(unit=unit, file=sys.stderr, dynamic_ncols=True)

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)
    progress.close = bar.close
    return progress


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="midivae", description="Make music with variational autoencoders over MIDI piano rolls.")
    sub = parser.add_subparsers(dest="command", required=True)

    q = sub.add_parser("quantize", help="quantize a MIDI file to a piano roll and render it back")
    q.add_argument("midi", help="input MIDI file")
    q.add_argument("--steps-per-beat", type=positive_int, default=4,
                   help="grid steps per quarter note")
    q.add_argument("--out", help="write the re-rendered MIDI here (never the input file)")
    q.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    q.set_defaults(func=_cmd_quantize)

    e = sub.add_parser("evaluate", help="judge a model by the music it makes on a prepared set",
                       description="Reconstruction (ELBO, IWAE, step accuracy teacher-forced and "
                       "free-running, onset F1) on held-out windows, and the musical statistics "
                       "of prior samples beside the data's.")
    e.add_argument("checkpoint", help="a checkpoint written by `midivae train`")
    e.add_argument("dataset", help="a prepared set whose layout fits the model")
    e.add_argument("--split", default="test", choices=("train", "valid", "test"))
    e.add_argument("--iwae", type=non_negative_int, default=0, metavar="K",
                   help="importance samples for the IWAE bound (default 0: not computed)")
    e.add_argument("--samples", type=positive_int, default=256, help="prior samples (default 256)")
    e.add_argument("--temperature", type=non_negative_float, default=1.0,
                   help="sampling temperature for the statistics (default 1)")
    e.add_argument("--limit", type=positive_int, help="only the first N windows of the split")
    e.add_argument("--seed", type=non_negative_int, default=0)
    e.add_argument("--json", help="also write every figure to this JSON file")
    e.add_argument("--force", action="store_true", help="overwrite --json if it exists")
    e.set_defaults(func=_cmd_evaluate)

    pl = sub.add_parser("plot", help="draw a MIDI file as a piano roll (PNG)")
    pl.add_argument("midi", help="input MIDI file")
    pl.add_argument("--out", help="PNG to write (default: beside the MIDI file)")
    pl.add_argument("--steps-per-beat", type=positive_int, default=4,
                    help="grid steps per quarter note")
    pl.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    pl.set_defaults(func=_cmd_plot)

    pa = sub.add_parser("play", help="render a MIDI file to a WAV through a GM SoundFont",
                        description="Audio preview: a General MIDI SoundFont (pretty_midi's, "
                        "or --soundfont) through tinysoundfont; pretty_midi's sine synthesis "
                        "when tinysoundfont is not installed (said on stderr).")
    pa.add_argument("midi", help="input MIDI file")
    pa.add_argument("--wav", help="WAV to write (default: beside the MIDI file)")
    pa.add_argument("--soundfont", help="a .sf2 file (default: pretty_midi's General MIDI one)")
    pa.add_argument("--steps-per-beat", type=positive_int, default=4,
                    help="grid steps per quarter note")
    pa.add_argument("--force", action="store_true", help="overwrite --wav if it exists")
    pa.set_defaults(func=_cmd_play)

    d = sub.add_parser("demo", help="run the demo on the embedded music21 corpus")
    d.add_argument("--out", default="out", help="folder for the files the demo writes")
    d.add_argument("--chorale", default="bach/bwv66.6", help="music21 corpus work to use")
    d.add_argument("--steps-per-beat", type=positive_int, default=4,
                   help="grid steps per quarter note")
    d.set_defaults(func=_cmd_demo)

    t = sub.add_parser("train", help="train a VAE on a prepared set",
                       description="Train a VAE on a prepared set. Data-parallel on several "
                       "GPUs or CPU processes: torchrun --nproc_per_node=N -m midivae.cli "
                       "train SET --device cuda (--batch-size is then per process).")
    t.add_argument("dataset", help="a folder made by `midivae prepare` (with --meter)")
    t.add_argument("--preset", default="hierarchical-4bar-cpu",
                   help="named settings (see midivae.models.PRESETS)")
    t.add_argument("--out", default="runs/run",
                   help="run folder: model.safetensors + model.json, log.csv, curves.png, "
                   "samples/ (default runs/run)")
    t.add_argument("--resume", action="store_true",
                   help="continue the run in --out exactly where it stopped")
    t.add_argument("--init", metavar="CKPT", help="start from this model's weights (fine-tune)")
    t.add_argument("--force", action="store_true", help="start over in a folder holding a run")
    t.add_argument("--steps", type=positive_int, help="optimiser steps (default: the preset's)")
    t.add_argument("--minutes", type=positive_float,
                   help="wall-clock budget; with no --steps, train until it is spent")
    t.add_argument("--batch-size", type=positive_int,
                   help="windows per batch (default: the preset's)")
    t.add_argument("--lr", type=positive_float, help="peak learning rate (default: the preset's)")
    t.add_argument("--warmup-steps", type=non_negative_int,
                   help="learning-rate warm-up steps (default: the preset's)")
    t.add_argument("--beta", type=non_negative_float,
                   help="the KL weight the preset's schedule reaches (default: the preset's)")
    t.add_argument("--free-bits", type=non_negative_float,
                   help="free bits of KL (default: the preset's)")
    t.add_argument("--latent", type=positive_int, help="latent size (default: the preset's)")
    t.add_argument("--output", choices=("made", "independent", "categorical"),
                   help="the decoder's output over a step: made (ordered Bernoulli cells, "
                   "the default), independent cells, or categorical (one note or rest per "
                   "track and step: melodies, chorale voices)")
    t.add_argument("--transpose", type=non_negative_int, default=0,
                   help="random transposition augmentation, up to this many semitones")
    t.add_argument("--device", default="auto",
                   help="auto (CUDA, else MPS, else CPU), cpu, cuda, cuda:1, mps")
    t.add_argument("--seed", type=non_negative_int, default=0)
    t.add_argument("--log-every", type=positive_int, default=50,
                   help="steps between logged lines")
    t.add_argument("--valid-every", type=positive_int, default=500,
                   help="steps between validations (each writes samples/)")
    t.add_argument("--checkpoint-every", type=positive_int, default=500,
                   help="steps between checkpoints (also saved at the end and on Ctrl-C)")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=_cmd_train)

    s = sub.add_parser("sample", help="draw MIDI clips from a trained model")
    s.add_argument("checkpoint", help="a checkpoint written by `midivae train`")
    s.add_argument("--n", type=positive_int, default=4, help="how many clips")
    s.add_argument("--temperature", type=non_negative_float, default=1.0,
                   help="0 = most likely cells")
    s.add_argument("--seed", type=non_negative_int, default=0)
    s.add_argument("--qpm", type=positive_float, help="tempo to write (default: the data's)")
    s.add_argument("--label", help="for a conditioned model: which label (e.g. essen-folk)")
    s.add_argument("--out", default="out", help="folder for the MIDI files")
    s.add_argument("--force", action="store_true",
                   help="overwrite sample_NNN.mid files that exist")
    s.set_defaults(func=_cmd_sample)

    # -- prepare (datasets) ---------------------------------------------------
    pr = sub.add_parser("prepare", help="turn a MIDI folder or a named set into training windows",
                        description="Prepare training windows from SOURCE: a folder of MIDI "
                        "files, or one of bach-chorales, essen-folk, pop909, boulanger:jsb, "
                        "boulanger:nottingham, boulanger:musedata, boulanger:piano-midi. "
                        "Every piece that yields no window is named in the summary and in "
                        "manifest.json. Exit status 0 when at least one window was made.")
    pr.add_argument("source", help="MIDI folder or named set")
    pr.add_argument("--out", help="where the set goes (default: datasets/<source name>)")
    pr.add_argument("--bars", type=positive_int, default=4, help="bars per window (default 4)")
    pr.add_argument("--hop", type=positive_int, default=1,
                    help="bars between window starts (default 1)")
    pr.add_argument("--steps-per-beat", type=positive_int, help="grid steps per quarter note "
                    "(default 4; frame-roll sets: their own frame rate)")
    pr.add_argument("--meter", help="keep only windows wholly in this meter, e.g. 4/4")
    pr.add_argument("--min-notes", type=non_negative_int, default=1,
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
    pr.add_argument("--limit", type=positive_int, help="only the first N pieces (a quick look)")
    pr.add_argument("--workers", type=non_negative_int, default=0,
                    help="processes (default 0: every CPU)")
    pr.add_argument("--data-root", help="folder holding boulanger/ and pop909/ "
                    "(default: $MIDIVAE_DATA or ../shared/data)")
    pr.add_argument("--force", action="store_true", help="rebuild even if the set is current")
    pr.add_argument("--quiet", action="store_true", help="no progress bar")
    pr.set_defaults(func=_cmd_prepare)

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
    except _Failure as err:
        print(f"midivae {args.command}: error: {err}", file=sys.stderr)
        return err.status
    except MidivaeError as err:
        print(f"midivae: error: {err}", file=sys.stderr)
        return 1
    except OSError as err:  # permission denied, no space left, ...: one line, no traceback
        print(f"midivae: error: {_os_error_line(err)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("midivae: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
