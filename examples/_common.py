"""What every example does the same way: common options, refuse to overwrite, save and say
where, run.

Each example imports these (``from _common import ...``: Python puts the script's
own folder first on its path).
"""

import sys

import midivae


def model_and_output_options(parser, model, out, temperature=False):
    """The options every composing example takes: --model, --out and --force, and
    --temperature when it samples."""
    parser.add_argument("--model", default=model,
                        help="a shipped model's name, or a checkpoint file or training run folder")
    if temperature:
        parser.add_argument("--temperature", type=float,
                            help="0: the model's safest guess at every note; 1: as adventurous "
                                 "as it was trained to be (default: the model's recommended value)")
    parser.add_argument("--out", default=out, help="folder for the files")
    parser.add_argument("--force", action="store_true", help="overwrite files already there")


def refuse_to_overwrite(paths, force):
    """Stop (with one line, exit status 1) if any of ``paths`` exists, unless ``force``."""
    taken = [p for p in paths if p.exists()]
    if taken and not force:
        sys.exit(f"{taken[0]} already exists; pass --force to overwrite it")


def save(roll, path):
    """Write the roll as MIDI, PNG, MusicXML or WAV (by the file's suffix); say where it went,
    with each track's notes for a MIDI file."""
    roll.save(path)
    if path.suffix == ".mid":
        counts = [int(roll.onset[k].sum()) for k in range(roll.n_tracks)]
        parts = ", ".join(f"{t.name or k} {n}" for k, (t, n) in enumerate(zip(roll.tracks, counts)))
        print(f"wrote {path} ({len(roll.bar_starts())} bars; notes: {parts})")
    else:
        print(f"wrote {path}")


def run(main):
    """Run ``main``; a midivae error (no model of that name, a file that does not fit the
    model) is one line and exit status 1, not a traceback."""
    try:
        main()
    except midivae.MidivaeError as err:
        sys.exit(f"error: {err}")
