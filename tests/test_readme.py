"""The README's Python snippets run as written, so the documentation cannot rot."""

from __future__ import annotations

import re

import pytest
from conftest import REPO_ROOT, meter, midi_file, note, track

pytestmark = pytest.mark.usefixtures("one_torch_thread")

BLOCKS = re.findall(r"```python\n(.*?)```", (REPO_ROOT / "README.md").read_text(), re.S)


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A folder holding what the snippets name: song.mid and a checkpoint runs/bach."""
    from midivae.run.checkpoint import save_checkpoint
    from midivae.data import prepare
    from midivae.run.start import model_for_set

    events = [meter(0, 4, 4)] + [e for b in range(8) for beat in range(4)
                                 for e in note((4 * b + beat) * 480, (4 * b + beat) * 480 + 400,
                                               60 + (b + beat) % 5)]
    midi_file(track(*events)).save(tmp_path / "song.mid")
    (tmp_path / "midi").mkdir()
    midi_file(track(*events)).save(tmp_path / "midi" / "song.mid")
    prepared = prepare(tmp_path / "midi", tmp_path / "set", bars=2, meter="4/4", workers=1)
    model, _ = model_for_set(prepared, "flat-2bar-cpu")
    save_checkpoint(model, tmp_path / "runs" / "bach")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_readme_has_python_snippets():
    assert len(BLOCKS) >= 2


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_each_readme_snippet_runs(workdir, index):
    exec(compile(BLOCKS[index], f"README.md snippet {index + 1}", "exec"), {})
