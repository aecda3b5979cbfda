"""The import arrows of STYLE.md: the MIDI layer never loads torch, models never
load the MIDI layer, importing midivae is light, and only the CLI prints."""

import ast
import pathlib
import subprocess
import sys

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "midivae"


def loaded_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print(' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_importing_midivae_loads_no_torch_pretty_midi_or_music21():
    mods = loaded_after("import midivae")
    assert not {"torch", "pretty_midi", "music21"} & mods


@pytest.mark.parametrize("module", ["midivae.quantize", "midivae.render", "midivae.smf",
                                    "midivae.roll", "midivae.layout", "midivae.score"])
def test_midi_layer_is_free_of_torch(module):
    assert "torch" not in loaded_after(f"import {module}")


def _package_modules(folder: str) -> list[pathlib.Path]:
    return sorted((PACKAGE / folder).glob("*.py")) if (PACKAGE / folder).is_dir() else []


def _imports(path: pathlib.Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_models_know_nothing_of_midi():
    files = _package_modules("models")
    if not files:
        pytest.skip("midivae/models is not there yet")
    midi = ("mido", "pretty_midi", "music21", "midivae.quantize", "midivae.render",
            "midivae.smf", "midivae.layout", "midivae.data")
    for path in files:
        bad = {n for n in _imports(path) if n.startswith(midi)}
        assert not bad, f"{path.name} imports {bad}"


def test_nothing_imports_the_cli():
    for path in PACKAGE.rglob("*.py"):
        if path.name != "cli.py":
            assert "midivae.cli" not in _imports(path), path


def test_only_the_cli_prints():
    for path in PACKAGE.rglob("*.py"):
        if path.name == "cli.py":
            continue
        calls = [n for n in ast.walk(ast.parse(path.read_text()))
                 if isinstance(n, ast.Call) and getattr(n.func, "id", None) == "print"]
        assert not calls, f"{path.relative_to(PACKAGE)} calls print() at line {calls[0].lineno}"
