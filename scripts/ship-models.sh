#!/usr/bin/env bash
# The models that ship in midivae/pretrained, from the runs `benchmarks/quality.py` trains:
#
#   .venv/bin/python benchmarks/quality.py --only chorales-4bar-voices-infill folk-16bar-melody \
#       folk-16bar-triple pop-8bar-step
#   bash scripts/ship-models.sh [RUNS [SETS]]  # where those runs and their sets are
#
# Each is exported without its training state, its weights as float16 (`midivae export`),
# with the sampling prior quality.py fitted (one Gaussian per key, and the forms of the
# training windows: which bars repeat);
# models.json names the default model and the temperature the demo samples at.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-runs/quality}
SETS=${2:-datasets/quality}  # the sets they were trained on: their typical velocities
OUT=midivae/pretrained
PY=${PYTHON:-.venv/bin/python}

ship() {  # NAME RUN ABOUT SET
    "$PY" -m midivae.cli export "$RUNS/$2" "$OUT/$1" --about "$3" --force --velocities-from "$SETS/$4"
}
ship chorale chorales-4bar-voices-infill "four-voice Bach-style chorale phrases, 4 bars of 4/4" \
    chorales-4bar
ship folk folk-16bar-melody "folk melodies in the Essen collection's style, 16 bars of 4/4" \
    folk-16bar
# its prior by key with rank 64, not the 32 `fit-prior --rank auto` chose by the samples'
# distance to the validation windows' statistics: with 32 a sample's nearest training window
# was closer than the validation windows' (median overlap 0.210 against 0.194), with 64 it is
# not (0.192), and notes a bar (3.54 against 3.65) and in-scale share (0.971 against 0.981)
# stay within issue 21's bounds there (chosen on the validation split, 256 samples at 1)
"$PY" -m midivae.cli fit-prior "$OUT/folk" "$SETS/folk-16bar" --rank 64 --by-key
ship folk-triple folk-16bar-triple \
    "folk melodies in three (3/4 and 6/8) in the Essen collection's style, 16 bars" \
    folk-16bar-triple
ship pop pop-8bar-step "pop sketches: melody over bridge and piano (POP909), 8 bars of 4/4" \
    pop-8bar
# its run's prior is full rank (12 keys x 768 x 768 numbers: 14 MB in float16, which the
# package's 40 MB cap has no room for); rank 64 is the validation windows' second choice
# (the samples' distance to their statistics 0.094, full rank 0.081, 128 0.098)
"$PY" -m midivae.cli fit-prior "$OUT/pop" "$SETS/pop-8bar" --rank 64 --by-key
# pop's card: its rank-64 prior draws codes that decode sparser than the songs, so its samples
# raise the logit of a note's start by track (melody 3, bridge 1.75, piano 0.5), draw at 1 and
# draw again a window in which a track is silent (every_track; 0.19 of windows had one):
# chosen on the validation split by `benchmarks/onset_bias.py --every-track` (256 samples:
# notes a bar 4.19 / 3.08 / 13.18 against the songs' 4.16 / 2.98 / 13.07, bridge 2 gave 3.20
# and 1.5 2.79; in the scale 0.994, melody on the chord 0.685 against 0.679; without
# every_track bridge 2 gave 2.87; the same biases at 0.5 stay 12-26% sparse). folk's melody
# +0.8, chosen so too (the 173 validation windows: notes a bar 3.63 at 0.5 and 3.64 at 1
# against 3.63; without, 3.52 and 3.54; in the scale 0.973 and 0.971 either way)
cat > "$OUT/models.json" <<'EOF'
{"models": [
  {"name": "chorale", "default": true, "temperature": 0.5, "rules": ["no-parallels", "stepwise-melody"]},
  {"name": "folk", "temperature": 0.5, "onset_bias": {"melody": 0.8}},
  {"name": "folk-triple", "temperature": 0.5},
  {"name": "pop", "temperature": 1.0, "onset_bias": {"melody": 3.0, "bridge": 1.75, "piano": 0.5}, "every_track": true}
]}
EOF
du -ch "$OUT"/*.safetensors "$OUT"/*.json | tail -1
