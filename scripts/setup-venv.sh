#!/usr/bin/env bash
# Create (or reuse) .venv in the repository root and install midivae into it.
# Reuses a torch that is already importable: first the venv's own, then the
# system Python's (through --system-site-packages); otherwise installs the CPU
# build, never the multi-gigabyte CUDA wheels.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
py="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  if "$py" -c "import torch" 2>/dev/null; then
    "$py" -m venv --system-site-packages .venv
  else
    "$py" -m venv .venv
  fi
fi
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  .venv/bin/pip install -q "torch==2.13.0" \
    || .venv/bin/pip install -q "torch>=2.2" --index-url https://download.pytorch.org/whl/cpu
fi
spec="."
[ -n "$extras" ] && spec=".[$extras]"
.venv/bin/pip install -q -e "$spec"
# SoundFont audio previews (PianoRoll.to_wav): tinysoundfont declares PyAudio, which
# midivae never uses and which needs the PortAudio headers to build, so take it alone.
.venv/bin/pip install -q --no-deps "tinysoundfont>=0.3.7" \
  || echo "setup-venv: tinysoundfont not installed; audio previews fall back to sine synthesis" >&2
