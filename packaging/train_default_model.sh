#!/usr/bin/env bash
# The recipe of the bundled default generator (resources/models/default.*).
# Diverse training set: every map and atomic model in ../shared/data except GroEL/GroES (1aon),
# which is held out to measure generalisation, plus 96 procedural protein-like phantoms; SNR
# log-uniform in [0.01, 0.1]; half of the batches with a CTF; 96 px at 3 A/px.
# Usage: packaging/train_default_model.sh [MINUTES] [DEVICE] [OUT]
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=../shared/data
MINUTES=${1:-45}
DEVICE=${2:-auto}
OUT=${3:-resources/models/default}
exec gan-viewer train \
  --model "$DATA/structures/5a1a.cif.gz" --model "$DATA/structures/1WCM.pdb" \
  --map "$DATA/maps/betagal_relion_tutorial.mrc" --map "$DATA/maps/rnapolII_emd1883.mrc" \
  --map "$DATA/maps/ribosome70S_65px.mrc" \
  --phantoms 96 --snr 0.01 0.1 --ctf 0.5 --shift 1.5 --box 96 --apix 3.0 \
  --batch-size 16 --validate-every 250 --minutes "$MINUTES" --device "$DEVICE" --seed 1 \
  --out "$OUT" --force
