"""`midivae evaluate` on your own music: a folder of MIDI files, or a set of another layout,
fitted to the shipped folk model (one melody track, pitches 48..84, 16 bars of 4/4)."""

from __future__ import annotations

import json
import warnings

import pytest
from conftest import meter, midi_file, name, note, track

from midivae.cli import main
from midivae.data import prepare
from midivae.data.fitted_source import fit_files
from midivae.run.zoo import find_model

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SCALE = (0, 2, 4, 5, 7, 9, 11, 12)


def tune(path, *, bars: int = 16, low: int = 60, title: str | None = None,
         beats: int = 4, extra: int | None = None) -> None:
    """A one-track tune of quarter notes up and down a major scale from ``low``, in
    ``beats``/4, with a track name or none; ``extra``: one more note at that pitch."""
    events = [meter(0, beats, 4)] + ([name(title)] if title else [])
    pitches = [low + SCALE[i % 8] for i in range(bars * beats)]
    if extra is not None:
        pitches[-1] = extra
    events += [e for i, p in enumerate(pitches) for e in note(i * 480, i * 480 + 480, p)]
    midi_file(track(*events)).save(path)


@pytest.fixture
def tunes(tmp_path):
    """Three 4/4 tunes: 16 bars named, 20 bars unnamed (two windows), and 16 bars two
    octaves up with one note that no octave move brings into the model's pitches."""
    folder = tmp_path / "tunes"
    folder.mkdir()
    tune(folder / "a.mid", title="Melody")
    tune(folder / "b.mid", bars=20, low=62)
    tune(folder / "c.mid", low=84, extra=127)
    return folder


def test_a_folder_of_tunes_is_fitted_saying_what_changed(tunes):
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        fitted = fit_files(tunes, *_folk_layout(), model="model 'folk'")
    assert not said  # the notes outside are counted, not warned about file by file
    assert [p.rsplit("/", 1)[-1] for p in fitted.pieces] == ["a.mid", "b.mid", "c.mid"]
    assert len(fitted.windows) == 4 and {w.n_steps for w in fitted.windows} == {256}
    assert (fitted.moved, fitted.notes_left_out, fitted.skipped) == (1, 1, [])
    assert fitted.summary() == ("3 files, 4 windows; 1 file moved by whole octaves; "
                                "1 note outside the model's pitches left out")


@pytest.mark.parametrize("model", [["--model", "folk"], ["folk"]], ids=["--model", "CKPT"])
def test_evaluate_on_a_folder_prints_the_figures(tunes, tmp_path, capsys, model):
    out = tmp_path / "eval.json"
    assert main(["evaluate", *model, str(tunes), "--samples", "8", "--json", str(out)]) == 0
    printed, err = capsys.readouterr()
    assert f"folk on {tunes} (4 windows)" in printed
    assert ("fitted to the model: 3 files, 4 windows; 1 file moved by whole octaves; 1 note "
            "outside the model's pitches left out") in printed
    assert "step accuracy: teacher-forced" in printed and "onset P/R/F1" in printed
    assert ("8 samples at temperature 1.0 (onset biases melody +0.8, the model card's) vs "
            "the data") in printed  # its samples as `sample` draws them
    assert "novelty left out: it compares the samples with the model's training windows" \
        in printed
    assert err == ""
    res = json.loads(out.read_text())
    assert res["fitted"]["pieces"] == 3 and res["windows"] == 4 and "novelty" not in res
    assert "train" not in res  # nor the training windows' statistics
    assert 0 <= res["metrics"]["acc_free_running"] <= res["metrics"]["acc_teacher_forced"] <= 1


def test_files_that_cannot_be_fitted_are_skipped_each_named_in_one_warning(tunes, capsys):
    (tunes / "broken.mid").write_bytes(bytes(range(7, 207)))
    tune(tunes / "waltz.mid", bars=24, beats=3)
    assert main(["evaluate", "--model", "folk", str(tunes), "--samples", "8", "--limit",
                 "2"]) == 0
    printed, err = capsys.readouterr()
    assert "3 files, 4 windows;" in printed and "2 files skipped" in printed
    assert f"{tunes} (2 windows)" in printed  # --limit: windows spread over the folder
    lines = err.splitlines()
    assert len(lines) == 2 and all(line.startswith("midivae evaluate: warning: ") and
                                   line.endswith("; skipped") for line in lines)
    assert f"{tunes / 'broken.mid'}: not a MIDI file" in lines[0]
    assert f"{tunes / 'waltz.mid'} is in 3/4, but model 'folk' makes 4/4" in lines[1]


def test_a_folder_where_nothing_fits_names_each_file_then_fails_in_one_line(tmp_path, capsys):
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "x.mid").write_bytes(b"not midi")
    assert main(["evaluate", "folk", str(tmp_path / "bad")]) == 1
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2 and "x.mid: not a MIDI file" in lines[0]
    assert lines[1] == f"midivae: error: {tmp_path / 'bad'}: none of its 1 file fits model " \
                       "'folk' (see the warnings)"


@pytest.mark.parametrize("argv, status, said", [
    (["--model", "folk", "folk", "{d}"], 2,
     "midivae evaluate: error: give the model once: CKPT 'folk' or --model 'folk'"),
    (["folk", "{d}/empty"], 1, "midivae: error: {d}/empty: no MIDI files (.mid, .midi) in it"),
    (["folk", "{d}/nowhere"], 1, "midivae: error: {d}/nowhere: no such file or folder"),
    (["folk", "{d}/empty", "--strict"], 1,
     "midivae: error: {d}/empty is not a prepared set: strict evaluation takes a prepared set "
     "of the model's layout"),
    (["folk", "{d}/empty", "--split", "valid"], 1,
     "midivae: error: {d}/empty is not a prepared set, so it has no 'valid' split: every "
     "piece of MIDI files is evaluated (prepare them to split them)"),
], ids=["CKPT and --model", "empty folder", "no such folder", "--strict on a folder",
        "--split on a folder"])
def test_refusals_are_one_line(tmp_path, capsys, argv, status, said):
    (tmp_path / "empty").mkdir()
    assert main(["evaluate", *(a.format(d=tmp_path) for a in argv)]) == status
    out, err = capsys.readouterr()
    assert out == "" and err == said.format(d=tmp_path) + "\n"


def test_a_set_of_another_layout_is_fitted_or_with_strict_refused(tunes, tmp_path, capsys):
    merged = prepare(tunes, tmp_path / "set", roles="merge", splits=(0, 0, 1), bars=4)
    assert [t.name for t in merged.layout.tracks] == ["all"]
    assert main(["evaluate", "folk", str(merged.path), "--samples", "8"]) == 0
    printed = capsys.readouterr().out
    assert f"folk on {merged.path} (test, 4 windows)" in printed
    assert "fitted to the model (tracks ['all'] where the model has ['melody']; pitches" in printed
    assert "3 pieces, 4 windows; 1 piece moved by whole octaves" in printed
    assert main(["evaluate", "folk", str(merged.path), "--strict"]) == 1
    assert capsys.readouterr().err.startswith(
        f"midivae: error: {merged.path} does not fit the model: tracks ['all'] where the model "
        "has ['melody']; pitches ")


def _folk_layout():
    """(layout, bars per window, roles) of the shipped folk model."""
    from midivae.api import load

    folk = load(find_model("folk").path)
    return folk.layout, folk.bars, folk.roles


def test_the_report_says_what_the_samples_were_drawn_with():
    from midivae.cli.training import _sampling_said
    assert _sampling_said(None, False) == ""
    assert _sampling_said({"melody": 3.0, "bridge": 1.75}, True) == (
        " (onset biases melody +3, bridge +1.75, the model card's; a window with a silent "
        "track drawn again)")
    assert _sampling_said({}, True) == " (a window with a silent track drawn again)"
