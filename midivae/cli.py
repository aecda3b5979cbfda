"""The `midivae` command: the only module that parses arguments or prints.

Nothing imports this module; it imports the rest lazily so `--help` is fast.
"""

from __future__ import annotations

import argparse
import sys


def _cmd_quantize(args) -> int:
    from midivae.quantize import quantize
    roll = quantize(args.midi, steps_per_beat=args.steps_per_beat)
    print(roll)
    if args.out:
        roll.to_midi(args.out)
        print(f"wrote {args.out}")
    return 0


def _cmd_train(args) -> int:
    import time

    from midivae import distributed
    from midivae.data import PreparedSet, make_loader
    from midivae.errors import DatasetError
    from midivae.train import model_for_set, train

    device = distributed.setup(args.device)  # joins torchrun's process group, if any
    rank, n_procs = distributed.world()
    prepared = PreparedSet(args.dataset)
    model, cfg = model_for_set(prepared, args.preset)
    steps, batch = args.steps or cfg.steps, args.batch_size or cfg.batch_size
    n_train = len(prepared.indices("train"))
    if n_train == 0:
        raise DatasetError(f"{prepared.path}: the train split holds no window")
    loader = make_loader(prepared, "train", batch_size=batch, transpose=args.transpose,
                         drop_last=n_train >= batch * n_procs, distributed=n_procs > 1,
                         seed=args.seed)
    valid = make_loader(prepared, "valid", batch_size=256) if len(prepared.indices("valid")) else None
    n_params = sum(p.numel() for p in model.parameters())
    if rank == 0:
        print(f"training {args.preset} ({n_params / 1e6:.2f}M parameters) on {prepared.path} "
              f"for {steps} steps on {device}"
              + (f" x {n_procs} processes" if n_procs > 1 else "")
              + (f", conditioned on {', '.join(prepared.labels)}" if prepared.labels else ""))
    start = time.monotonic()

    def log(r: dict) -> None:
        print(f"  {r['kind']:5s} step {r['step']:5d}  -elbo {r['nelbo_bits_per_step']:.3f} "
              f"bits/step  recon {r['recon_nats']:.1f}  kl {r['kl_nats']:.1f} nats/window  "
              f"({time.monotonic() - start:.0f} s)", flush=True)
    try:
        train(model, loader, **{**cfg.train_kwargs(), "steps": steps}, valid_loader=valid,
              valid_every=args.valid_every, device=device, seed=args.seed, log=log,
              log_every=args.log_every, checkpoint=args.out)
    finally:
        distributed.teardown()
    if rank == 0:
        print(f"saved {args.out}")
    return 0


def _cmd_sample(args) -> int:
    import os

    from midivae.checkpoint import load_checkpoint
    from midivae.generate import sample

    from midivae.generate import layout_of

    model = load_checkpoint(args.checkpoint).eval()
    layout = layout_of(model)
    if layout.labels and args.label is None:
        print(f"midivae sample: error: this model is conditioned; pass --label, one of "
              f"{', '.join(layout.labels)}", file=sys.stderr)
        return 2
    try:
        label = None if args.label is None else layout.label_index(args.label)
    except ValueError as err:
        print(f"midivae sample: error: {err}", file=sys.stderr)
        return 2
    os.makedirs(args.out, exist_ok=True)
    for i, roll in enumerate(sample(model, args.n, temperature=args.temperature, seed=args.seed,
                                    label=label)):
        if args.qpm:
            roll = roll.replace(tempos=[(0, args.qpm)])
        path = os.path.join(args.out, f"sample_{i:03d}.mid")
        roll.to_midi(path)
        print(f"wrote {path}: {roll.n_notes} notes, {roll.n_steps} steps")
    return 0


def _cmd_demo(args) -> int:
    import os

    import music21

    from midivae.quantize import quantize
    from midivae.render import render

    os.makedirs(args.out, exist_ok=True)
    score = music21.corpus.parse(args.chorale)  # the embedded default data: no download
    data = music21.midi.translate.streamToMidiFile(score).writestr()
    roll = quantize(data, steps_per_beat=args.steps_per_beat)
    print(f"quantized {args.chorale} from the music21 corpus:\n  {roll}")
    print(f"  bars start at steps {roll.bar_starts()[:8].tolist()} ...")
    path = os.path.join(args.out, args.chorale.replace("/", "_") + ".mid")
    render(roll, path)
    again = quantize(path, steps_per_beat=args.steps_per_beat)
    print(f"rendered to {path}; re-quantized roll identical: {again == roll}")
    return 0 if again == roll else 1


def _cmd_prepare(args) -> int:
    from midivae.data import PrepareSettings, prepare, summary

    def numbers(option: str, text: str | None, sep: str, kind, example: str):
        try:
            return None if text is None else tuple(kind(v) for v in text.split(sep))
        except ValueError:
            raise ValueError(f"{option} must look like {example}, got {text!r}") from None
    try:
        settings = PrepareSettings(
            bars=args.bars, hop=args.hop, steps_per_beat=args.steps_per_beat,
            meter=args.meter, min_notes=args.min_notes, roles=args.roles,
            pitch_range=numbers("--pitch-range", args.pitch_range, "-", int, "21-108"),
            splits=numbers("--splits", args.splits, ",", float, "0.8,0.1,0.1"),
            split_salt=args.split_salt, velocity=not args.no_velocity,
            labels=args.labels, limit=args.limit)
    except ValueError as err:
        print(f"midivae prepare: error: {err}", file=sys.stderr)
        return 2
    progress = None if args.quiet else _progress_bar()
    try:
        prepared = prepare(args.source, args.out, settings, data_root=args.data_root,
                           workers=args.workers, progress=progress, force=args.force)
    finally:
        if progress and progress.drawn:
            print(file=sys.stderr)  # end the progress bar's line
    print(summary(prepared))
    if sum(prepared.manifest["counts"]["windows"].values()) == 0:
        print("midivae prepare: error: no window was made (see the reasons above)",
              file=sys.stderr)
        return 1
    return 0

def _progress_bar(width: int = 30):
    import time
    last = [0.0, time.monotonic()]

    def draw(done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - last[0] < 0.1:
            return  # redraw at most ten times a second
        last[0], draw.drawn = now, True
        filled = width * done // max(total, 1)
        rate = done / max(now - last[1], 1e-9)
        print(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} pieces "
              f"({rate:.1f}/s)", end="", file=sys.stderr, flush=True)
    draw.drawn = False
    return draw


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="midivae", description="Make music with variational autoencoders over MIDI piano rolls.")
    sub = parser.add_subparsers(dest="command", required=True)

    q = sub.add_parser("quantize", help="quantize a MIDI file to a piano roll and render it back")
    q.add_argument("midi", help="input MIDI file")
    q.add_argument("--steps-per-beat", type=int, default=4, help="grid steps per quarter note")
    q.add_argument("--out", help="write the re-rendered MIDI here")
    q.set_defaults(func=_cmd_quantize)

    d = sub.add_parser("demo", help="run the demo on the embedded music21 corpus")
    d.add_argument("--out", default="out", help="folder for the files the demo writes")
    d.add_argument("--chorale", default="bach/bwv66.6", help="music21 corpus work to use")
    d.add_argument("--steps-per-beat", type=int, default=4, help="grid steps per quarter note")
    d.set_defaults(func=_cmd_demo)

    t = sub.add_parser("train", help="train a VAE on a prepared set",
                       description="Train a VAE on a prepared set. Data-parallel on several "
                       "GPUs or CPU processes: torchrun --nproc_per_node=N -m midivae.cli "
                       "train SET --device cuda (--batch-size is then per process).")
    t.add_argument("dataset", help="a folder made by `midivae prepare` (with --meter)")
    t.add_argument("--preset", default="hierarchical-4bar-cpu",
                   help="named settings (see midivae.models.PRESETS)")
    t.add_argument("--out", default="runs/model", help="checkpoint path (.safetensors + .json)")
    t.add_argument("--steps", type=int, help="optimiser steps (default: the preset's)")
    t.add_argument("--batch-size", type=int, help="windows per batch (default: the preset's)")
    t.add_argument("--transpose", type=int, default=0,
                   help="random transposition augmentation, up to this many semitones")
    t.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ...")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--log-every", type=int, default=50, help="steps between printed lines")
    t.add_argument("--valid-every", type=int, default=500, help="steps between validations")
    t.set_defaults(func=_cmd_train)

    s = sub.add_parser("sample", help="draw MIDI clips from a trained model")
    s.add_argument("checkpoint", help="a checkpoint written by `midivae train`")
    s.add_argument("--n", type=int, default=4, help="how many clips")
    s.add_argument("--temperature", type=float, default=1.0, help="0 = most likely cells")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--qpm", type=float, help="tempo to write (default: the data's)")
    s.add_argument("--label", help="for a conditioned model: which label (e.g. essen-folk)")
    s.add_argument("--out", default="out", help="folder for the MIDI files")
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
    pr.add_argument("--bars", type=int, default=4, help="bars per window (default 4)")
    pr.add_argument("--hop", type=int, default=1, help="bars between window starts (default 1)")
    pr.add_argument("--steps-per-beat", type=int, help="grid steps per quarter note "
                    "(default 4; frame-roll sets: their own frame rate)")
    pr.add_argument("--meter", help="keep only windows wholly in this meter, e.g. 4/4")
    pr.add_argument("--min-notes", type=int, default=1,
                    help="drop windows with fewer notes (default 1)")
    pr.add_argument("--pitch-range", metavar="LOW-HIGH",
                    help="MIDI pitches kept, e.g. 21-108 (default: from the data)")
    pr.add_argument("--roles", help="track layout: merge, merge+drums, gm, names:A,B,... or "
                    "order:A,B,... (default: the source's)")
    pr.add_argument("--splits", default="0.8,0.1,0.1",
                    help="train,valid,test shares by piece (default 0.8,0.1,0.1)")
    pr.add_argument("--split-salt", default="", help="any string: a different stable split")
    pr.add_argument("--labels", action="store_true",
                    help="label each file by its top-level subfolder")
    pr.add_argument("--no-velocity", action="store_true", help="do not keep velocities")
    pr.add_argument("--limit", type=int, help="only the first N pieces (a quick look)")
    pr.add_argument("--workers", type=int, default=0, help="processes (default: every CPU)")
    pr.add_argument("--data-root", help="folder holding boulanger/ and pop909/ "
                    "(default: $MIDIVAE_DATA or ../shared/data)")
    pr.add_argument("--force", action="store_true", help="rebuild even if the set is current")
    pr.add_argument("--quiet", action="store_true", help="no progress bar")
    pr.set_defaults(func=_cmd_prepare)

    return parser


def main(argv: list[str] | None = None) -> int:
    from midivae.errors import MidivaeError
    args = _build_parser().parse_args(argv)
    try:
        return args.func(args)
    except MidivaeError as err:
        print(f"midivae: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("midivae: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
