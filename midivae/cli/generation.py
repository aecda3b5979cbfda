"""The commands that make music with a model: sample, reconstruct, variations, interpolate,
continue, inpaint, harmonise, and models (the shipped ones).

Each checks its inputs and every file it will write before loading the model, so
a refusal writes nothing; each prints where every file went. The model is a
checkpoint, a shipped model's name (also as ``--model NAME``), or, when neither
is given, the default shipped model. Heavy modules load inside the commands.
"""

from __future__ import annotations

import os
from pathlib import Path

from midivae.cli.checks import (Failure, _input_file, _output_file, _output_folder,
                                _warnings_said, _window_progress, bound, clip_count)
from midivae.errors import listed


def _mapped(model, files: list[str], args):
    """The roles the files' tracks are mapped by (--map, --roles or the model's), each file's
    mapping said in one line: ``song.mid: soprano <- 'Flute', alto <- nothing, ...``."""
    roles = args.map if args.map is not None else args.roles
    for f in files:
        mapping = model.track_mapping(f, roles=roles)
        print(f"{f}: " + ", ".join(f"{track} <- {listed(sources, sep=' + ') or 'nothing'}"
                                   for track, sources in mapping.items()))
    return roles


def _model_and_files(args) -> tuple[str | None, list[str]]:
    """(the model named, the MIDI files) from the positional arguments and --model."""
    given, n = list(args.inputs), args.n_files
    files = "A.mid B.mid" if n == 2 else "MIDI"
    if args.model is not None:
        if len(given) != n:
            raise Failure(f"with --model, give {files} ({n} file{'s' * (n > 1)}), got "
                          f"{len(given)} argument(s)", 2)
        return args.model, given
    if len(given) == n:
        return None, given
    if len(given) == n + 1:
        if Path(given[0]).suffix.lower() in MIDI_SUFFIXES and not os.path.isdir(given[0]):
            raise Failure(f"{given[0]} is a MIDI file, not a model: {args.command} takes "
                          f"{'two MIDI files' if n == 2 else 'one MIDI file'}, after the model "
                          "(a checkpoint or a shipped model's name) or with --model", 2)
        return given[0], given[1:]
    raise Failure(f"expected [CKPT] {files}, got {len(given)} arguments", 2)


MIDI_SUFFIXES = (".mid", ".midi", ".kar", ".rmi")  # a name that is a MIDI file's, not a model's


def _stems(args, stems: list[str]) -> list[str]:
    """Check every file the command will write (OUT/<stem>.mid, and .png / .musicxml when
    asked): its folder can be made, it exists only with --force, and it is none of the
    files the command reads."""
    _output_folder(args.out)
    inputs = _read_files(args)
    for stem in stems:
        for path in _paths(args, stem):
            _output_file(path, force=args.force, create=True, inputs=inputs)
    return stems


def _read_files(args) -> list:
    """Every file the command reads: its MIDI files, and the model's checkpoint files (a
    path's, or a shipped model's)."""
    from midivae.errors import ModelError
    from midivae.run.checkpoint import checkpoint_paths
    from midivae.run.zoo import find_model

    if hasattr(args, "inputs"):
        name, files = _model_and_files(args)
    else:
        name, files = args.checkpoint or args.model, []
    model = [] if name is None else list(checkpoint_paths(name))
    if not model or not model[0].exists():
        try:
            shipped = find_model(name).path
            model += [shipped, shipped.with_suffix(".json")]
        except ModelError:  # said when the model is loaded
            pass
    return [*files, *model]


def _paths(args, stem: str) -> list[str]:
    suffixes = ([".mid"] + [".png"] * args.png + [".wav"] * getattr(args, "wav", False)
                + [".musicxml"] * args.musicxml)
    return [os.path.join(args.out, stem + s) for s in suffixes]


def _load(name: str | None, args):
    """The model, and the label to give it (checked: exit status 2 for a wrong one)."""
    from midivae.api import load
    from midivae.errors import ModelError

    model = load(name)
    if model.labels and args.label is None:
        raise Failure(f"this model is conditioned; pass --label, one of "
                      f"{', '.join(model.labels)}", 2)
    try:
        model.label_index(args.label)
    except ModelError as err:
        raise Failure(str(err), 2) from None
    return model


def _check_bars(model, bars: int | None) -> None:
    if bars is not None and bars % model.bars:
        raise Failure(f"argument --bars: model {model.name!r} makes windows of {model.bars} "
                      f"bars; ask for a multiple of {model.bars}, got {bars}", 2)


def _check_windows(model, n: int, bars: int | None) -> None:
    """-n clips of --bars bars are at most `MAX_CLIPS` windows in all."""
    windows = n * ((bars or model.bars) // model.bars)
    most = bound(clip_count)
    if windows > most:
        raise Failure(f"argument --bars: {n} clips of {bars} bars are {windows} windows of "
                      f"model {model.name!r} ({model.bars} bars each); at most {most} at once "
                      f"(set {clip_count.env} to raise the bound)", 2)


def _write(args, stem: str, roll, what: str = "") -> None:
    """Write ``roll`` as OUT/<stem>.mid (and .png / .musicxml when asked); say where. MIDI
    and audio sound each note for ``--gate`` of its last step (the demo: `DETACHED_GATE`)."""
    from midivae.midi.render import DETACHED_GATE

    if args.qpm:
        roll = roll.replace(tempos=[(0, args.qpm)])
    os.makedirs(args.out, exist_ok=True)
    for path in _paths(args, stem):
        detached = path.endswith((".mid", ".wav"))  # notation and pictures keep the grid
        roll.save(path, **({"gate": getattr(args, "gate", DETACHED_GATE)} if detached else {}))
        if path.endswith(".mid"):
            print(f"wrote {path}: {roll.n_notes} notes, {len(roll.bar_starts())} bars"
                  + (f" ({what})" if what else ""))
        else:
            print(f"wrote {path}")


def _cmd_sample(args) -> int:
    from midivae.midi.roll import concatenate

    if args.checkpoint is not None and args.model is not None:
        raise Failure(f"give the model once: CKPT {args.checkpoint!r} or --model "
                      f"{args.model!r}", 2)
    stems = _stems(args, ["samples"] if args.one_file else
                   [f"sample_{i:03d}" for i in range(args.n)])
    model = _load(args.checkpoint or args.model, args)
    _check_bars(model, args.bars)
    _check_windows(model, args.n, args.bars)
    if args.temperature is None:
        from midivae.run.zoo import recommended_temperature
        args.temperature = recommended_temperature(args.checkpoint or args.model)
    with _window_progress() as progress, _warnings_said("sample"):
        rolls = model.sample(args.n, temperature=args.temperature, bars=args.bars,
                             seed=args.seed, label=args.label, rounds=args.rounds,
                             rules=args.rules, onset_bias=args.onset_bias,
                             every_track=args.every_track, progress=progress)
    if args.one_file:
        _write(args, stems[0], concatenate(rolls), f"{args.n} clips")
    else:
        for stem, roll in zip(stems, rolls):
            _write(args, stem, roll)
    return 0


def _song_inputs(args) -> tuple[str | None, list[str]]:
    name, files = _model_and_files(args)
    for f in files:
        _input_file(f)
    return name, files


def _cmd_reconstruct(args) -> int:
    name, (song,) = _song_inputs(args)
    (stem,) = _stems(args, [f"{Path(song).stem}_reconstructed"])
    model = _load(name, args)
    with _window_progress() as progress, _warnings_said("reconstruct"):
        roll = model.reconstruct(song, temperature=args.temperature, seed=args.seed,
                                 label=args.label, roles=_mapped(model, [song], args),
                                 progress=progress)
    _write(args, stem, roll, f"{song} through {model.name}")
    return 0


def _cmd_variations(args) -> int:
    name, (song,) = _song_inputs(args)
    stems = _stems(args, [f"{Path(song).stem}_variation_{i + 1}" for i in range(args.n)])
    model = _load(name, args)
    with _window_progress() as progress, _warnings_said("variations"):
        rolls = model.variations(song, args.n, amount=args.amount, temperature=args.temperature,
                                 seed=args.seed, label=args.label,
                                 roles=_mapped(model, [song], args), progress=progress)
    for stem, roll in zip(stems, rolls):
        _write(args, stem, roll)
    return 0


def _cmd_interpolate(args) -> int:
    from midivae.midi.roll import concatenate

    name, (a, b) = _song_inputs(args)
    path = f"{Path(a).stem}_to_{Path(b).stem}"
    stems = _stems(args, [path] + [f"{path}_{i + 1:02d}" for i in range(args.steps)])
    model = _load(name, args)
    with _warnings_said("interpolate"):
        rolls = model.interpolate(a, b, args.steps, temperature=args.temperature,
                                  seed=args.seed, label=args.label,
                                  roles=_mapped(model, [a, b], args))
    _write(args, stems[0], concatenate(rolls), f"the whole path, {args.steps} points")
    for stem, roll in zip(stems[1:], rolls):
        _write(args, stem, roll)
    return 0


def _cmd_continue(args) -> int:
    name, (song,) = _song_inputs(args)
    (stem,) = _stems(args, [f"{Path(song).stem}_continued"])
    model = _load(name, args)
    with _window_progress() as progress, _warnings_said("continue"):
        whole = model.continuation(song, args.bars, whole=True, temperature=args.temperature,
                                   seed=args.seed, particles=args.particles, label=args.label,
                                   roles=_mapped(model, [song], args), rules=args.rules,
                                   progress=progress)
    added = args.bars or model.bars
    _write(args, stem, whole, f"the song, then {added} new bar{'s' * (added > 1)}")
    return 0


def _cmd_inpaint(args) -> int:
    from midivae.errors import ModelError

    name, (song,) = _song_inputs(args)
    (stem,) = _stems(args, [f"{Path(song).stem}_inpainted"])
    first, last = args.bars
    model = _load(name, args)
    with _window_progress() as progress, _warnings_said("inpaint"):
        try:
            roll = model.inpaint(song, (first - 1, last), temperature=args.temperature,
                                 seed=args.seed, particles=args.particles, label=args.label,
                                 roles=_mapped(model, [song], args), rules=args.rules,
                                 progress=progress)
        except ModelError as err:  # bars past the song's end
            raise Failure(f"argument --bars {first}-{last}: {err}", 2) from None
    _write(args, stem, roll, f"bars {first}-{last} written by {model.name}")
    return 0


def _cmd_harmonise(args) -> int:
    name, (song,) = _song_inputs(args)
    (stem,) = _stems(args, [f"{Path(song).stem}_harmonised"])
    model = _load(name, args)
    names = [t.name for t in model.tracks]
    keep = args.keep or [names[0]]
    unknown = [k for k in keep if k not in names]
    if unknown:
        raise Failure(f"argument --keep: model {model.name!r} has no track "
                      f"{', '.join(map(repr, unknown))}; its tracks are {', '.join(names)}", 2)
    if set(keep) == set(names):
        raise Failure(f"argument --keep: {', '.join(keep)} is every track of model "
                      f"{model.name!r}: nothing is left to write", 2)
    with _window_progress() as progress, _warnings_said("harmonise"):
        roll = model.harmonise(song, keep, temperature=args.temperature, seed=args.seed,
                               particles=args.particles, label=args.label,
                               roles=_mapped(model, [song], args), rules=args.rules,
                               progress=progress)
    written = [n for n in names if n not in keep]
    _write(args, stem, roll, f"{', '.join(keep)} kept, {', '.join(written)} written by "
           f"{model.name}")
    return 0


def _cmd_models(args) -> int:
    from midivae.run.zoo import model_folders, shipped_models

    with _warnings_said("models"):
        models = shipped_models()
    if not models:
        print("no shipped models are installed (looked in "
              f"{', '.join(str(f) for f in model_folders())})")
        return 0
    for m in models:
        print(f"{m.name}{' (default)' if m.default else ''}: {m.about or 'no description'}")
        print(f"    {m.size / 1e6:.1f} MB; {len(m.tracks)} track(s) ({', '.join(m.tracks)}); "
              f"{m.bars} bars of {m.meter[0]}/{m.meter[1]}"
              + (f"; labels {', '.join(m.labels)}" if m.labels else ""))
    return 0


def _cmd_export(args) -> int:
    from midivae.run.checkpoint import checkpoint_paths, export_checkpoint

    inputs = list(checkpoint_paths(args.checkpoint))
    if args.velocities_from:
        from midivae.data.store import SET_FILES
        inputs += [Path(args.velocities_from) / name for name in sorted(SET_FILES)]
    weights, settings = checkpoint_paths(args.out)
    run = _run_holding(weights)
    if run is not None:
        raise Failure(f"{weights} is the checkpoint of the run {run}; export never writes over "
                      "a run's checkpoint, even with --force (choose another OUT)")
    for path in (weights, settings):
        _output_file(path, force=args.force, create=True, inputs=inputs)
    velocities = accents = None
    if args.velocities_from:
        from midivae.data import PreparedSet
        prepared = PreparedSet(args.velocities_from)
        velocities, accents = prepared.typical_velocities(), prepared.typical_accents()
    weights = export_checkpoint(args.checkpoint, args.out, half=not args.float32,
                                about=args.about, velocities=velocities, accents=accents)
    print(f"wrote {weights} ({weights.stat().st_size / 1e6:.1f} MB) and "
          f"{weights.with_suffix('.json')}")
    return 0


def _run_holding(weights: Path) -> Path | None:
    """The run folder whose checkpoint ``weights`` names (its latest, best or a snapshot:
    ``RUN/model.safetensors``, ``RUN/best/model.safetensors``), or None."""
    from midivae.run.runs import CHECKPOINT, is_run_folder

    if weights.name != f"{CHECKPOINT}.safetensors":
        return None
    for folder in (weights.parent, weights.parent.parent):
        if (folder / "log.csv").is_file() and is_run_folder(folder):
            return folder
    return None


DEMO_CLIPS = 2  # clips sampled from each shipped model
DEMO_PATH = 5  # points on the demo's interpolation


def _cmd_demo(args) -> int:
    """Compose with every shipped model: clips, their piano-roll pictures and audio, and a
    path in latent space between two clips of the default model. The demo's own files (demo_*)
    are rewritten on each run; nothing else in OUT is touched."""
    import time

    from midivae.api import load
    from midivae.midi.roll import concatenate
    from midivae.run.zoo import find_model, shipped_models

    started = time.monotonic()
    _output_folder(args.out)
    with _warnings_said("demo"):
        models = shipped_models()
    if not models:
        find_model()  # the one-line error: no shipped model is installed (looked in ...)
    default = next(m for m in models if m.default)
    args.png, args.wav, args.musicxml, args.qpm = True, True, False, None
    plan = [(m, [f"demo_{m.name}_{i + 1}" for i in range(DEMO_CLIPS)]) for m in models]
    path_stems = [f"demo_{default.name}_path"]
    inputs = [p for m in models for p in (m.path, m.path.with_suffix(".json"))]
    for stem in [s for _, stems in plan for s in stems] + path_stems:
        for path in _paths(args, stem):  # the demo's own names only, never a model's file
            _output_file(path, force=True, create=True, inputs=inputs)
    for m, stems in plan:
        model = load(m.name)
        print(f"{m.name}: {m.about or 'a shipped model'}")
        temperature = m.temperature
        with _warnings_said("demo"):
            clips = model.sample(len(stems), temperature=temperature, seed=args.seed,
                                 label=model.labels[0] if model.labels else None)
        for stem, clip in zip(stems, clips):
            _write(args, stem, clip, f"temperature {temperature:g}")
        if m.name == default.name:
            with _warnings_said("demo"):
                points = model.interpolate(clips[0], clips[1], DEMO_PATH,
                                           label=model.labels[0] if model.labels else None)
            args.png = False
            _write(args, path_stems[0], concatenate(points),
                   f"from {stems[0]} to {stems[1]} in {DEMO_PATH} points")
            args.png = True
    print(f"composed in {time.monotonic() - started:.1f} s; open the .mid files in a DAW, "
          "or `midivae play FILE.mid` to hear one")
    return 0
