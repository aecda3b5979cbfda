"""The arguments of the commands that make music with a model (`midivae.cli.generation`)."""

from __future__ import annotations

import argparse

from midivae.cli import generation as g
from midivae.cli import serve
from midivae.cli.checks import (MAX_QPM, MIN_QPM, bar_count, bar_range, clip_count, limits,
                                non_negative_float, note_gate, onset_biases, particle_count,
                                path_points, port_number, role_spec, round_count, rule_names,
                                seed, tempo_qpm, track_map, unit_interval)
from midivae.midi.render import DETACHED_GATE

_INPUTS = ("the model (a checkpoint file or run folder, or a shipped model's name; left out: "
           "--model, else the default shipped model), then the MIDI file(s)")


def _model_options(p: argparse.ArgumentParser, *, temperature: float | None) -> None:
    """What every command that runs a model takes: the model, sampling, and its files."""
    p.add_argument("--model", metavar="NAME", help="a shipped model (see `midivae models`) or "
                   "a checkpoint, instead of CKPT (default: the default shipped model)")
    p.add_argument("--temperature", type=non_negative_float, default=temperature,
                   help="0 = the most likely notes (default " + (
                       f"{temperature:g})" if temperature is not None else
                       "a shipped model's recommended one, else 1)"))
    p.add_argument("--seed", type=seed, default=0, help=f"default 0; {limits(seed)}")
    p.add_argument("--label", help="for a conditioned model: which label (e.g. essen-folk)")
    p.add_argument("--qpm", type=tempo_qpm, help="tempo to write, quarter notes a minute from "
                   f"{MIN_QPM} to {MAX_QPM} (default: the song's, or the model's data's)")
    p.add_argument("--gate", type=note_gate, default=DETACHED_GATE,
                   help="the share of its last step each note sounds in the MIDI and audio "
                   f"written, above 0.5 and up to 1 (default {DETACHED_GATE:g}: detached a "
                   "little, as a player lifts a key; 1 = legato, every note held to the next)")
    p.add_argument("--out", default="out", help="folder for the files (default out)")
    p.add_argument("--png", action="store_true", help="also draw each file as a PNG")
    p.add_argument("--wav", action="store_true",
                   help="also render each file to audio through a General MIDI SoundFont")
    p.add_argument("--musicxml", action="store_true",
                   help="also write each file as MusicXML, for notation programs")
    p.add_argument("--force", action="store_true", help="overwrite files that exist")


def _track_options(p: argparse.ArgumentParser, whose: str = "file's") -> None:
    """--roles or --map: how a file's tracks map onto the model's."""
    how = p.add_mutually_exclusive_group()
    how.add_argument("--roles", type=role_spec, help=f"how the {whose} tracks map onto the "
                     "model's: a spec as for `prepare --roles` (default: the model's own)")
    how.add_argument("--map", type=track_map, metavar="TRACK=FILE_TRACK,...",
                     help=f"choose which of the {whose} tracks each model track reads, by "
                     "name (a part of it) or number from 1, e.g. soprano=Flute,bass=3; model "
                     "tracks left out read nothing")


RULES_HELP = ("what the parts written keep, comma-separated, or none: no-parallels (no "
              "parallel fifths or octaves between tracks), stepwise-melody (few leaps in the "
              "first voice). Default: the model card's (the chorale's: both), none for a "
              "checkpoint")


def _completion_options(p: argparse.ArgumentParser) -> None:
    """What continue, inpaint and harmonise take beside the model's options."""
    p.add_argument("--particles", type=particle_count, default=16,
                   help="draws of each window weighed against the music given (default 16; "
                   f"{limits(particle_count)})")
    p.add_argument("--rules", type=rule_names, metavar="RULES", help=RULES_HELP)
    _track_options(p, "file's")
    _model_options(p, temperature=0.5)


def add_generation_commands(sub) -> None:
    s = sub.add_parser("sample", help="draw MIDI clips from a model",
                       usage="midivae sample [-h] [--model NAME | CKPT] [options]",
                       description="Draw clips from a model's prior: a shipped model by name, "
                       "a checkpoint, or (with neither) the default shipped model.")
    s.add_argument("checkpoint", nargs="?", metavar="CKPT",
                   help="a checkpoint file or run folder, or a shipped model's name")
    s.add_argument("-n", "--n", type=clip_count, default=4,
                   help=f"how many clips (default 4; {limits(clip_count)}, counting each "
                   "window of a clip longer than one)")
    s.add_argument("--bars", type=bar_count,
                   help="bars per clip: a multiple of the model's window (default: one window; "
                   f"{limits(bar_count)})")
    s.add_argument("--one-file", action="store_true",
                   help="write the clips one after another into one file, samples.mid")
    s.add_argument("--rounds", type=round_count,
                   help="times each track is redrawn given the others, for a model trained "
                   f"to infill with several tracks (default 3 for those, 0 for none; "
                   f"{limits(round_count)})")
    s.add_argument("--rules", type=rule_names, metavar="RULES",
                   help=RULES_HELP.replace("parts written", "tracks redrawn"))
    s.add_argument("--onset-bias", type=onset_biases, metavar="TRACK=B,...",
                   help="added to the logit of every note's start of those tracks: above 0 "
                   "a track plays more notes, below 0 fewer (default: a shipped model's "
                   "card's, e.g. the pop model's; none for a checkpoint)")
    s.add_argument("--every-track", action=argparse.BooleanOptionalAction,
                   help="draw again (a few times at most) a window in which a track plays no note "
                   "(default: a shipped model's card's, on for the pop model; off for a "
                   "checkpoint)")
    _model_options(s, temperature=None)
    s.set_defaults(func=g._cmd_sample)

    r = sub.add_parser("reconstruct", help="a MIDI file as a model hears it",
                       usage="midivae reconstruct [-h] [--model NAME | CKPT] MIDI [options]",
                       description="Encode a MIDI file window by window and decode it: what "
                       "the model keeps of it. Writes OUT/<song>_reconstructed.mid.")
    r.add_argument("inputs", nargs="+", metavar="[CKPT] MIDI", help=_INPUTS)
    _track_options(r, "file's")
    _model_options(r, temperature=0.0)
    r.set_defaults(func=g._cmd_reconstruct, n_files=1)

    v = sub.add_parser("variations", help="versions of a MIDI file",
                       usage="midivae variations [-h] [--model NAME | CKPT] MIDI [options]",
                       description="Encode a MIDI file, move each window's latent by --amount "
                       "and decode: OUT/<song>_variation_1.mid, ...")
    v.add_argument("inputs", nargs="+", metavar="[CKPT] MIDI", help=_INPUTS)
    v.add_argument("-n", "--n", type=clip_count, default=4,
                   help=f"how many (default 4; {limits(clip_count)})")
    v.add_argument("--amount", type=unit_interval, default=0.3,
                   help="how far from the song: 0 = its reconstruction, 1 = unrelated "
                   "(default 0.3)")
    _track_options(v, "file's")
    _model_options(v, temperature=0.0)
    v.set_defaults(func=g._cmd_variations, n_files=1)

    i = sub.add_parser("interpolate", help="a path in latent space between two MIDI files",
                       usage="midivae interpolate [-h] [--model NAME | CKPT] A.mid B.mid "
                       "[options]",
                       description="Decode points on the latent path from the first window of "
                       "A to that of B: OUT/<a>_to_<b>.mid plays the whole path, "
                       "OUT/<a>_to_<b>_01.mid ... each point.")
    i.add_argument("inputs", nargs="+", metavar="[CKPT] A B", help=_INPUTS)
    i.add_argument("--steps", type=path_points, default=8,
                   help=f"points on the path, both ends included (default 8; "
                   f"{limits(path_points)})")
    _track_options(i, "files'")
    _model_options(i, temperature=0.0)
    i.set_defaults(func=g._cmd_interpolate, n_files=2)

    c = sub.add_parser("continue", help="more bars after a MIDI file",
                       usage="midivae continue [-h] [--model NAME | CKPT] MIDI [options]",
                       description="Write new bars that follow on from the song's notes, in "
                       "windows that each read the half window before them. Writes "
                       "OUT/<song>_continued.mid: the song exactly as given, then the new bars.")
    c.add_argument("inputs", nargs="+", metavar="[CKPT] MIDI", help=_INPUTS)
    c.add_argument("--bars", type=bar_count,
                   help=f"bars to add (default: one window of the model; {limits(bar_count)})")
    _completion_options(c)
    c.set_defaults(func=g._cmd_continue, n_files=1)

    f = sub.add_parser("inpaint", help="write some bars of a MIDI file anew",
                       usage="midivae inpaint [-h] [--model NAME | CKPT] MIDI --bars A-B "
                       "[options]",
                       description="Write bars A to B of the song anew, to join the bars "
                       "around them; the other bars stay exactly as given. Writes "
                       "OUT/<song>_inpainted.mid.")
    f.add_argument("inputs", nargs="+", metavar="[CKPT] MIDI", help=_INPUTS)
    f.add_argument("--bars", type=bar_range, required=True, metavar="A-B",
                   help="the bars to write, counted from 1 as a score counts them (a pickup "
                   "bar is bar 1): 5-8, or 5 for one bar")
    _completion_options(f)
    f.set_defaults(func=g._cmd_inpaint, n_files=1)

    h = sub.add_parser("harmonise", aliases=["harmonize"],
                       help="write the other parts to go with a melody",
                       usage="midivae harmonise [-h] [--model NAME | CKPT] MIDI [--keep TRACK "
                       "...] [options]",
                       description="Keep the song's --keep tracks exactly as given and write "
                       "the model's other tracks to go with them: alto, tenor and bass under "
                       "a soprano, or an accompaniment under a melody. A one-track file is "
                       "taken as the model's first track. Writes OUT/<song>_harmonised.mid.")
    h.add_argument("inputs", nargs="+", metavar="[CKPT] MIDI", help=_INPUTS)
    h.add_argument("--keep", nargs="+", metavar="TRACK",
                   help="the model's tracks to keep, by name (default: its first, the "
                   "soprano or the melody)")
    _completion_options(h)
    h.set_defaults(func=g._cmd_harmonise, n_files=1)

    st = sub.add_parser("studio", help="compose in the browser: sample, interpolate, steer, "
                        "fill in, harmonise, hear it and download MIDI",
                        description="Serve the midivae studio, a page that composes with the "
                        "shipped models (and --model), on this machine only by default. Print "
                        "its address; Ctrl-C stops it.")
    st.add_argument("--model", metavar="NAME", help="a shipped model or a checkpoint to offer "
                    "first (default: the shipped models)")
    st.add_argument("--port", type=port_number, default=8765, help="default 8765")
    st.add_argument("--host", default="127.0.0.1", help="the address to listen on (default "
                    "127.0.0.1: this machine only)")
    st.set_defaults(func=serve._cmd_studio)

    m = sub.add_parser("models", help="list the shipped models",
                       description="The models installed with midivae (or found in "
                       "$MIDIVAE_MODELS), with what each makes.")
    m.set_defaults(func=g._cmd_models)

    x = sub.add_parser("export", help="a trained model without its training state, to share",
                       description="Write the model of CKPT (a run folder or checkpoint) to "
                       "OUT.safetensors + OUT.json without the optimiser's state, its weights "
                       "as float16: a quarter of the size. The models shipped in "
                       "midivae/pretrained are made this way (scripts/ship-models.sh).")
    x.add_argument("checkpoint", help="a checkpoint written by `midivae train`")
    x.add_argument("out", help="the new checkpoint, e.g. my-model (my-model.safetensors)")
    x.add_argument("--about", default="", help="one line: what the model makes")
    x.add_argument("--float32", action="store_true", help="keep the weights as float32")
    x.add_argument("--velocities-from", metavar="SET",
                   help="a prepared set whose tracks' typical velocities, and their accents "
                   "by the step of the bar a note starts on, the model's clips are played at "
                   "(for runs trained before runs kept them)")
    x.add_argument("--force", action="store_true", help="replace OUT if it exists")
    x.set_defaults(func=g._cmd_export)
