"""`prepare` never loses a user's file: what it replaces, what it cleans, what it reuses.

Each test is one way the command once deleted or silently reused data (issue 7).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO_ROOT
from test_data import write_folder

from midivae import DatasetError
from midivae.cli import main
from midivae.data import PreparedSet, prepare
from midivae.data.store import damage


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``root`` (hidden ones included): (size, mtime)."""
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def songs(tmp_path) -> Path:
    root = tmp_path / "songs"
    write_folder(root, good=4, broken=False, short=False)
    return root


@pytest.mark.parametrize("manifest", ["{}", '{"format": 1}', "not json"])
def test_a_folder_with_someone_elses_manifest_is_never_replaced(songs, tmp_path, manifest):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "manifest.json").write_text(manifest)
    (out / "thesis.tex").write_text("years of work")
    before = snapshot(tmp_path)
    with pytest.raises(DatasetError, match=r"mine exists and is not a prepared set"):
        prepare(songs, out, bars=2)
    assert snapshot(tmp_path) == before
    assert main(["prepare", str(songs), "--out", str(out), "--bars", "2", "--force",
                 "--quiet"]) == 1  # --force does not make it ours
    assert snapshot(tmp_path) == before


def test_the_source_folder_is_never_the_set_nor_inside_it(songs, tmp_path, monkeypatch):
    (songs / "manifest.json").write_text("{}")
    before = snapshot(tmp_path)
    with pytest.raises(DatasetError, match=r"songs is the source .*choose another --out"):
        prepare(songs, songs, bars=2)
    with pytest.raises(DatasetError, match=r"is a folder holding the source"):
        prepare(songs, tmp_path, bars=2)
    # the default --out is datasets/<name>: a source kept there must not become its own set
    monkeypatch.chdir(tmp_path)
    (tmp_path / "datasets").mkdir()
    os.rename(songs, tmp_path / "datasets" / "songs")
    moved = snapshot(tmp_path / "datasets")
    with pytest.raises(DatasetError, match=r"is the source"):
        prepare("datasets/songs", bars=2)
    assert snapshot(tmp_path / "datasets") == moved
    assert set(before) == set(moved)


def test_a_rebuild_refuses_when_a_user_put_files_in_the_set(songs, tmp_path):
    out = tmp_path / "set"
    prepare(songs, out, bars=2)
    (out / "notes-to-self.txt").write_text("keep me")
    assert prepare(songs, out, bars=2).reused  # reusing deletes nothing: allowed
    before = snapshot(tmp_path)
    for kwargs in ({"bars": 4}, {"bars": 2, "force": True}):
        with pytest.raises(DatasetError, match=r"holds files midivae did not write "
                                               r"\(notes-to-self\.txt\)"):
            prepare(songs, out, **kwargs)
        assert snapshot(tmp_path) == before


def test_stale_cleanup_touches_only_folders_a_dead_midivae_build_provably_made(songs, tmp_path):
    out = tmp_path / "set"
    dead = 2 ** 22 + 12345  # above the default pid_max of 4194304: no such process
    look_alikes = [f".set.mine.old-{dead}", f".set.x.tmp-{dead}", f".set.tmp-{dead}",
                   f".set.old-{dead}-abc", f".set.tmp-{dead}-abc"]
    for name in look_alikes:
        (tmp_path / name).mkdir()
        (tmp_path / name / "photo.jpg").write_bytes(b"\xff\xd8")
    # a marker alone does not prove it: the folder also holds a file no build writes
    (tmp_path / f".set.tmp-{dead}-abc" / ".midivae-build").write_text(
        json.dumps({"pid": dead, "set": "set", "role": "tmp"}))
    # what a killed build really leaves: its marker and set files only
    crashed = tmp_path / f".set.tmp-{dead}-zzz"
    crashed.mkdir()
    (crashed / ".midivae-build").write_text(json.dumps({"pid": dead, "set": "set", "role": "tmp"}))
    (crashed / "notes.bin").write_bytes(b"\0" * 11)
    before = snapshot(tmp_path)
    prepare(songs, out, bars=2)
    after = snapshot(tmp_path)
    assert not crashed.exists()
    assert {k: v for k, v in before.items() if not k.startswith(crashed.name)} == \
        {k: v for k, v in after.items() if not k.startswith("set/")}


def test_a_damaged_set_is_detected_and_rebuilt_never_reused(songs, tmp_path):
    out = tmp_path / "set"
    built = prepare(songs, out, bars=2)
    n = len(built)
    notes = out / "notes.bin"
    data = notes.read_bytes()
    notes.write_bytes(data[:-10])  # truncated
    with pytest.raises(DatasetError, match=r"set: the set is damaged \(notes.bin is .* bytes, "
                                           r"the manifest says .*\); rebuild"):
        PreparedSet(out)
    again = prepare(songs, out, bars=2)
    assert not again.reused and len(again) == n
    notes.write_bytes(bytes([data[0] ^ 1]) + data[1:])  # same size, other bytes
    assert damage(out, PreparedSet(out).manifest, checksums=True) == \
        "notes.bin differs from the file the manifest records (checksum)"
    assert not prepare(songs, out, bars=2).reused
    (out / "windows.bin").unlink()  # missing
    with pytest.raises(DatasetError, match=r"windows.bin is missing"):
        PreparedSet(out)
    rebuilt = prepare(songs, out, bars=2)
    assert not rebuilt.reused and damage(out, rebuilt.manifest, checksums=True) is None


def test_concurrent_builds_into_one_folder_each_return_their_own_whole_set(songs, tmp_path):
    out = tmp_path / "set"
    code = ("import sys; from midivae.data import prepare\n"
            "p = prepare(sys.argv[1], sys.argv[2], bars=int(sys.argv[3]), workers=1)\n"
            "print(p.manifest['settings']['bars'], len(p), p.manifest['fingerprint'])\n")
    runs = [subprocess.Popen([sys.executable, "-c", code, str(songs), str(out), str(bars)],
                             cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)
            for bars in (2, 4, 2, 4)]
    results = [r.communicate()[0].split() for r in runs]
    assert [r.returncode for r in runs] == [0] * 4
    assert [int(bars) for bars, _, _ in results] == [2, 4, 2, 4]
    sizes = {int(bars): int(n) for bars, n, _ in results}
    final = PreparedSet(out)
    assert damage(out, final.manifest, checksums=True) is None
    assert len(final) == sizes[final.manifest["settings"]["bars"]]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
