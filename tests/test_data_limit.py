"""``limit``: a stable pseudo-random choice of pieces, not the source's first N.

Folder sources are built from empty ``.mid`` files where only the listing matters
(`resolve_source` stats files, it never reads them).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections import Counter

from conftest import REPO_ROOT, midi_file, note, track

from midivae.data import assign_split, prepare, resolve_source
from midivae.data.source import Source


def empty_files(folder, n: int, stem: str = "piece") -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    names = [f"{stem}-{i:03d}.mid" for i in range(n)]
    for name in names:
        (folder / name).touch()
    return names


def ids(items) -> list[str]:
    return [it.id for it in items]


def test_the_choice_is_the_n_smallest_sha256_ranks_of_the_ids_in_source_order(tmp_path):
    names = empty_files(tmp_path / "midi", 100)
    src = resolve_source(tmp_path / "midi")
    assert ids(src.items) == names  # source order: sorted file names
    by_hash = sorted(names, key=lambda n: hashlib.sha256(f"limit:{n}".encode()).digest())
    chosen = ids(src.choose(5))
    assert set(chosen) == set(by_hash[:5])
    assert chosen == sorted(chosen)  # kept in source order
    assert chosen != names[:5]
    assert ids(src.choose(None)) == ids(src.choose(100)) == ids(src.choose(1000)) == names


def test_a_larger_limit_keeps_every_piece_of_a_smaller_one(tmp_path):
    empty_files(tmp_path / "midi", 40)
    src = resolve_source(tmp_path / "midi")
    for n in range(1, 40):
        smaller, larger = ids(src.choose(n)), ids(src.choose(n + 1))
        assert len(smaller) == n and set(smaller) < set(larger)


def test_a_piece_keeps_its_rank_when_others_join_the_source(tmp_path):
    def ranked() -> list[str]:
        src = resolve_source(tmp_path / "midi")
        return [src.items[i].id for i in src.limit_order()]
    empty_files(tmp_path / "midi", 30)
    before = ranked()
    empty_files(tmp_path / "midi", 10, stem="new")
    assert [x for x in ranked() if not x.startswith("new")] == before


def test_the_choice_is_the_same_in_every_process_whatever_the_hash_seed(tmp_path):
    empty_files(tmp_path / "midi", 60)
    code = ("import json, sys; from midivae.data import resolve_source\n"
            "print(json.dumps([it.id for it in resolve_source(sys.argv[1]).choose(7)]))\n")
    here = ids(resolve_source(tmp_path / "midi").choose(7))
    assert here == ids(resolve_source(tmp_path / "midi").choose(7))
    for seed in ("0", "1", "12345"):
        out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "midi")], check=True,
                             capture_output=True, text=True, cwd=REPO_ROOT,
                             env={**os.environ, "PYTHONHASHSEED": seed})
        assert json.loads(out.stdout) == here, seed


def test_the_chosen_pieces_fall_into_every_split_by_its_share():
    """The rank's hash is not the split's: a limit does not take mostly train pieces."""
    class Item:
        def __init__(self, id):
            self.id = id
    src = Source("x", "test", "x", [Item(f"piece {i}") for i in range(2000)], roles="merge")
    for salt in ("", "limit"):
        splits = Counter(assign_split(it.id, (0.8, 0.1, 0.1), salt) for it in src.choose(500))
        assert 350 <= splits["train"] <= 450 and min(splits.values()) >= 30, (salt, splits)


def test_essen_folk_is_chosen_across_its_collections_not_from_the_first_file():
    src = resolve_source("essen-folk")
    first = ids(src.items[:12])
    assert {i.split("/")[0] for i in first} == {"altdeu10"}  # corpus order: file by file
    chosen = src.choose(12)
    assert len({i.split("/")[0] for i in ids(chosen)}) > 3
    position = {it.id: n for n, it in enumerate(src.items)}
    assert [position[i] for i in ids(chosen)] == sorted(position[i] for i in ids(chosen))


def test_joined_sources_take_from_each_in_turn_what_each_would_take_alone(tmp_path):
    empty_files(tmp_path / "a", 30, stem="a")
    empty_files(tmp_path / "b", 5, stem="b")
    a, b = (resolve_source(tmp_path / x) for x in "ab")
    joined = resolve_source(f"{tmp_path / 'a'}+{tmp_path / 'b'}")

    def per_source(items) -> dict[str, list[str]]:
        out = {}
        for it in items:  # a LabelledItem: label = the source's spec, item = its own item
            out.setdefault(it.label, []).append(it.item.id)
        return out
    assert per_source(joined.choose(10)) == {a.spec: ids(a.choose(5)), b.spec: ids(b.choose(5))}
    assert per_source(joined.choose(9)) == {a.spec: ids(a.choose(5)), b.spec: ids(b.choose(4))}
    # b runs out: the rest comes from a
    assert per_source(joined.choose(20)) == {a.spec: ids(a.choose(15)), b.spec: ids(b.items)}
    position = {it.id: n for n, it in enumerate(joined.items)}
    chosen = [position[i] for i in ids(joined.choose(20))]
    assert chosen == sorted(chosen)  # the joined source's order (alternating)


def test_a_set_built_from_other_pieces_is_rebuilt_not_reused(tmp_path, monkeypatch):
    """A set made when limit took the first N pieces is not taken for today's choice."""
    (tmp_path / "midi").mkdir()
    for i in range(8):  # one whole note per bar, 2 bars of 4/4, pitch 60 + i
        midi_file(track(note(0, 1920, 60 + i), note(1920, 3840, 60 + i))).save(
            tmp_path / "midi" / f"tune-{i}.mid")
    src = resolve_source(tmp_path / "midi")
    chosen = ids(src.choose(3))
    assert chosen != ids(src.items[:3])
    monkeypatch.setattr(Source, "choose", lambda self, n: self.items[:n] if n else self.items)
    old = prepare(tmp_path / "midi", tmp_path / "set", limit=3, bars=1)
    assert list(old.piece_ids) == ids(src.items[:3])
    monkeypatch.undo()
    new = prepare(tmp_path / "midi", tmp_path / "set", limit=3, bars=1)
    assert not new.reused and list(new.piece_ids) == chosen
    assert prepare(tmp_path / "midi", tmp_path / "set", limit=3, bars=1).reused
