#!/usr/bin/env bash
# The models that ship in midivae/pretrained, from the runs `benchmarks/quality.py` trains:
#
#   .venv/bin/python benchmarks/quality.py --only chorales-4bar-flat folk-16bar-flat pop-8bar-hier
#   bash scripts/ship-models.sh [RUNS]        # RUNS: where those runs are (runs/quality)
#
# Each is exported without its training state, its weights as float16 (`midivae export`);
# models.json names the default model and the temperature the demo samples at.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-runs/quality}
OUT=midivae/pretrained
PY=${PYTHON:-.venv/bin/python}

ship() {  # NAME RUN ABOUT
    "$PY" -m midivae.cli export "$RUNS/$2" "$OUT/$1" --about "$3" --force
}
ship chorale chorales-4bar-flat "four-voice Bach-style chorale phrases, 4 bars of 4/4"
ship folk folk-16bar-flat "folk melodies in the Essen collection's style, 16 bars of 4/4"
ship pop pop-8bar-hier "pop sketches: melody, bridge and piano (POP909), 8 bars of 4/4"
cat > "$OUT/models.json" <<'EOF'
{"models": [
  {"name": "chorale", "default": true, "temperature": 0.5},
  {"name": "folk", "temperature": 0.5},
  {"name": "pop", "temperature": 0.5}
]}
EOF
du -ch "$OUT"/*.safetensors "$OUT"/*.json | tail -1
