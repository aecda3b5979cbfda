"""Benchmarks' own logic and smoke runs: the Boulanger likelihood benchmark scores every
frame of a split once, and its quick mode runs end to end on the real .mat files."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import REPO_ROOT

spec = importlib.util.spec_from_file_location("boulanger_benchmark",
                                              REPO_ROOT / "benchmarks" / "boulanger.py")
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)


def seq(length: int, start: int = 1) -> np.ndarray:
    """A (T, 2) sequence whose frame t holds the number start + t (to see where it went)."""
    return np.stack([np.arange(start, start + length)] * 2, axis=1).astype(np.uint8)


def test_scoring_windows_hold_every_frame_once_and_say_how_many_are_real():
    x, steps = bench.scoring_windows([seq(5), seq(8, 50), seq(3, 90)], window=4)
    # 5 -> 4 + 1, 8 -> 4 + 4, 3 -> 3: five windows
    assert steps.tolist() == [4, 1, 4, 4, 3] and x.shape == (5, 4, 2)
    real = torch.cat([x[i, :n, 0] for i, n in enumerate(steps.tolist())])
    assert real.tolist() == [*range(1, 6), *range(50, 58), *range(90, 93)]
    assert x[1, 1:].sum() == 0 and x[4, 3:].sum() == 0  # the padding is silence


def test_training_windows_cover_each_sequence_and_end_at_its_end():
    x = torch.stack(list(bench.TrainingWindows([seq(10), seq(3, 50)], window=4, hop=4)))
    firsts = x[:, 0, 0].tolist()
    assert firsts == [1, 5, 7, 50]  # starts 0, 4 and 6 (the window ending at frame 10)
    assert x[2, :, 0].tolist() == [7, 8, 9, 10]
    assert x[3, :, 0].tolist() == [50, 51, 52, 0]  # shorter than a window: padded


@pytest.mark.slow
def test_the_quick_benchmark_scores_the_real_test_frames_and_repeats_its_figures(
        shared_data, tmp_path):
    from scipy.io import loadmat

    def run(folder, env):
        done = subprocess.run([sys.executable, str(REPO_ROOT / "benchmarks" / "boulanger.py"),
                               "--quick", "--sets", "jsb", "--seeds", "3", "--data",
                               str(shared_data), "--runs", str(folder / "runs"), "--results",
                               str(folder)], capture_output=True, text=True, timeout=600,
                              env=env)
        assert done.returncode == 0, done.stderr[-2000:]
        return done, json.loads((folder / "boulanger-jsb-seed3-quick.json").read_text())
    done, res = run(tmp_path, {**os.environ, "OMP_NUM_THREADS": "1"})
    # a step budget, not a clock: a second run (another process, its own timing, and every
    # thread the machine has on offer) trains the same steps on one thread and gives the
    # same figures
    _, again = run(tmp_path / "again",
                   {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"})
    assert res["machine"]["torch_threads"] == again["machine"]["torch_threads"] == 1
    assert again["test"] == res["test"] and again["valid"] == res["valid"]
    assert res["training"]["steps"] == res["training"]["steps_budget"] == bench.QUICK_STEPS
    assert res["training"]["seed"] == 3 and res["variant"] is False
    assert res["machine"]["arithmetic"] == "native"
    assert re.fullmatch(r"\S+ \d+/\d+/\d+ (avx512f|avx2|avx|none)", res["machine"]["cpu_kind"])
    test = loadmat(shared_data / "boulanger" / "JSB_Chorales.mat")["testdata"].ravel()[:6]
    lengths = [len(s) for s in test]
    assert res["test"]["frames"] == sum(lengths)
    assert res["test"]["windows"] == sum(math.ceil(n / 64) for n in lengths)
    t = res["test"]
    # the IWAE bound is the tighter of the two bounds on the NLL
    assert 0 < t["nll_iwae"] <= t["nll_elbo"] and math.isfinite(t["nll_elbo"])
    assert res["training"]["best_step"] >= 1 and (tmp_path / "runs").is_dir()
    assert "test NLL" in done.stdout


@pytest.mark.slow
def test_pinned_arithmetic_is_recorded_and_differs_from_the_native_rounding(shared_data,
                                                                            tmp_path):
    def run(folder, *extra):
        done = subprocess.run([sys.executable, str(REPO_ROOT / "benchmarks" / "boulanger.py"),
                               "--quick", "--sets", "jsb", "--seeds", "3", "--data",
                               str(shared_data), "--runs", str(folder / "runs"), "--results",
                               str(folder), *extra], capture_output=True, text=True,
                              timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})
        assert done.returncode == 0, done.stderr[-2000:]
        return json.loads((folder / "boulanger-jsb-seed3-quick.json").read_text())
    pinned, native = run(tmp_path / "pinned", "--pinned"), run(tmp_path / "native")
    assert pinned["machine"]["arithmetic"] == "pinned"
    assert native["machine"]["arithmetic"] == "native"
    # the same steps; the rounding may differ (wider instructions than AVX2, oneDNN), the
    # figures not by much after a few steps
    assert pinned["training"]["steps"] == native["training"]["steps"]
    assert pinned["test"]["nll_iwae"] == pytest.approx(native["test"]["nll_iwae"], rel=0.2)


@pytest.mark.slow
def test_the_quick_quality_benchmark_trains_and_evaluates_on_both_sets(shared_data, tmp_path):
    done = subprocess.run([sys.executable, str(REPO_ROOT / "benchmarks" / "quality.py"), "--quick",
                           "--only", "folk-2bar-flat", "--data", str(shared_data),
                           "--sets", str(tmp_path / "sets"), "--runs", str(tmp_path / "runs"),
                           "--results", str(tmp_path / "res")],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    own = json.loads((tmp_path / "res" / "quality-folk-2bar-flat@0.05min.json").read_text())
    unseen = json.loads((tmp_path / "res"
                         / "quality-folk-2bar-flat-nottingham-2bar@0.05min.json").read_text())
    for res in (own, unseen):
        m = res["metrics"]
        assert 0 <= m["acc_free_running"] <= 1 and 0 <= m["acc_teacher_forced"] <= 1
        assert 1 <= res["windows"] <= 16
    assert own["split"] == "train" and unseen["split"] == "test"


def test_training_windows_transpose_within_the_keys():
    s = np.zeros((4, 2 * 88), np.uint8)
    s[0, 85] = s[0, 88 + 85] = s[1:, 88 + 85] = 1  # a note near the top, key 85 of 0..87
    s[2, 3] = s[2, 88 + 3] = 1  # and one near the bottom
    windows = bench.TrainingWindows([s], window=4, hop=4, transpose=5)
    torch.manual_seed(0)
    shifts = set()
    for _ in range(60):
        w = windows[0].view(4, 2, 88)
        on = w[0, 0].nonzero().flatten().tolist()
        assert len(on) == 1 and w[:, 1].sum() == 5  # the notes move, none is lost
        shifts.add(on[0] - 85)
        assert w[2, 0].nonzero().flatten().tolist() == [3 + on[0] - 85]
    assert shifts == {-3, -2, -1, 0, 1, 2}  # down to key 0, up to key 87


def test_the_likelihood_benchmark_names_missing_data_in_one_line(tmp_path):
    done = subprocess.run([sys.executable, str(REPO_ROOT / "benchmarks" / "boulanger.py"),
                           "--quick", "--sets", "jsb", "--data", str(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and done.stderr == (
        f"boulanger.py: {tmp_path / 'boulanger' / 'JSB_Chorales.mat'} does not exist; "
        "pass --data pointing at the folder that holds boulanger/\n")


def test_the_rewrite_benchmark_prints_each_round_and_writes_its_figures(tmp_path):
    out = tmp_path / "rewrite.json"
    done = subprocess.run([sys.executable, str(REPO_ROOT / "benchmarks" / "rewrite.py"),
                           "--samples", "4", "--rounds", "1", "--json", str(out)],
                          capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "chorale: 4 samples at temperature 0.5" in done.stdout
    rows = json.loads(out.read_text())
    assert {"round 0", "round 1"} <= set(rows)
    assert all(0.0 <= rows[r]["chord_share"] <= 1.0 for r in ("round 0", "round 1"))
