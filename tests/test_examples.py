"""The example scripts run on the public API (a few training steps, so they cannot rot)."""

import pathlib
import subprocess
import sys

import midivae

EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "examples"


def test_chorale_vae_writes_midi_that_reads_back(tmp_path):
    out = subprocess.run([sys.executable, str(EXAMPLES / "chorale_vae.py"), "--steps", "2",
                          "--limit", "12", "--out", str(tmp_path)],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    for name, steps in [("sample_0.mid", 64), ("interpolation.mid", 5 * 64), ("denser.mid", 64)]:
        roll = midivae.quantize(tmp_path / name)
        assert roll.n_steps == steps, name
        assert roll.time_signatures == [(0, 4, 4)]
    assert (tmp_path / "model.safetensors").exists()
