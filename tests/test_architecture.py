"""The import arrows of STYLE.md, as one table of layers, plus what importing costs and
who may print.

Layers, lowest first; a module may import from its own layer and the layers
below it, never above. Models are a side branch: tensors in, tensors out,
nothing of MIDI. The MIDI layer never loads torch. Function-level imports count
as arrows too; the only upward ones allowed are the `PianoRoll` conveniences
(``to_midi``, ``to_musicxml``, ``plot``, ``to_wav``), listed in ``CONVENIENCES``.
"""

import ast
import pathlib
import subprocess
import sys

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "midivae"

LAYERS = [  # (layer, module name prefixes); a module belongs to the first that matches.
    # A folder is a layer, but for the base modules beside the package's front door and the
    # core of the MIDI side, which the rest of it builds on
    ("base", ("midivae.errors", "midivae.fileio", "midivae.bounds")),
    ("core", ("midivae.midi.smf", "midivae.midi.keys", "midivae.midi.roll")),
    ("midi", ("midivae.midi",)),
    ("models", ("midivae.models",)),
    ("data", ("midivae.data",)),
    ("run", ("midivae.run", "midivae.api")),
    ("front", ("midivae.cli", "midivae.studio")),
]
RANK = {name: i for i, (name, _) in enumerate(LAYERS)}
MIDI_LIBRARIES = ("mido", "pretty_midi", "music21")
CONVENIENCES = {("midivae.midi.roll", f"midivae.midi.{m}")
                for m in ("render", "notation", "plot", "audio")}


def module_name(path: pathlib.Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def layer(module: str) -> str | None:
    for name, prefixes in LAYERS:
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return name
    return None  # the package itself: midivae/__init__.py re-exports, it is not a layer


def imports(module: str, top_level_only: bool = False) -> set[str]:
    """The modules ``module`` imports (``from pkg import submodule`` names the submodule)."""
    tree = ast.parse(MODULES[module].read_text())
    nodes = tree.body if top_level_only else ast.walk(tree)
    names = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            subs = {f"{node.module}.{a.name}" for a in node.names} & set(MODULES)
            names |= subs or {node.module}
    return names


def test_the_tree_names_the_layers():
    """Every folder of the package is a layer of its own, and beside them lie only the front
    door (the package and `api`) and the base modules."""
    folders = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert folders == {"midi", "models", "data", "run", "cli", "studio"}
    for folder in folders:
        assert any(f"midivae.{folder}" in prefixes for _, prefixes in LAYERS), folder
    top = {p.stem for p in PACKAGE.glob("*.py")}
    assert top == {"__init__", "api", "errors", "fileio", "bounds"}


def test_every_module_has_a_layer():
    assert [m for m in MODULES if m != "midivae" and layer(m) is None] == []


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m != "midivae"))
def test_imports_point_down_the_layers(module):
    mine = layer(module)
    for target in imports(module):
        if target.startswith("midivae") and target != "midivae" and (module, target) \
                not in CONVENIENCES:
            assert RANK[layer(target)] <= RANK[mine], f"{module} ({mine}) imports {target}"
        if mine == "models":  # tensors in, tensors out: nothing of MIDI, rolls or data
            assert layer(target) not in ("core", "midi", "data", "run", "front"), \
                f"{module} imports {target}"
            assert not target.startswith(MIDI_LIBRARIES), f"{module} imports {target}"


def test_the_module_import_graph_has_no_circle():
    graph = {m: {t for t in imports(m, top_level_only=True) if t in MODULES and t != "midivae"}
             for m in MODULES}
    state: dict[str, int] = {}

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for t in graph[m]:
            assert state.get(t) != 1, " -> ".join(path + [m, t])
            if t not in state:
                visit(t, path + [m])
        state[m] = 2

    for m in graph:
        if m not in state:
            visit(m, [])


def loaded_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print(' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_importing_midivae_loads_no_torch_pretty_midi_music21_or_matplotlib():
    assert not {"torch", "pretty_midi", "music21", "matplotlib"} & loaded_after("import midivae")


@pytest.mark.parametrize("module", sorted(m for m in MODULES if layer(m) in ("core", "midi")))
def test_the_midi_layer_loads_no_torch(module):
    assert "torch" not in loaded_after(f"import {module}")


def test_only_the_cli_prints():
    for module, path in MODULES.items():
        if module == "midivae.cli" or module.startswith("midivae.cli."):
            continue
        calls = [n for n in ast.walk(ast.parse(path.read_text()))
                 if isinstance(n, ast.Call) and getattr(n.func, "id", None) == "print"]
        assert not calls, f"{module} calls print() at line {calls[0].lineno}"
