#!/usr/bin/env bash
# The recipe of the bundled default generator (resources/models/default.*).
# Diverse training set: every map and atomic model in ../shared/data except GroEL/GroES (1aon),
# which is held out to measure generalisation, plus 96 procedural protein-like phantoms; SNR
# log-uniform in [SNR_MIN, SNR_MAX]; half of the batches with a CTF; 96 px at 3 A/px.
# Usage: [SNR_MIN=..] [SNR_MAX=..] [RESUME=1] packaging/train_default_model.sh [MINUTES] [DEVICE] [OUT]
#
# The shipped version was made on the 2-core CPU in four stages (10,540 steps, ~90 min):
#   SNR_MIN=0.01 SNR_MAX=0.1 packaging/train_default_model.sh 45 cpu   (stopped at step 4,250)
#   RESUME=1 SNR_MIN=0.01 SNR_MAX=0.3 packaging/train_default_model.sh 18 cpu   (-> 6,916: version 1)
#   RESUME=1 SNR_MIN=0.02 SNR_MAX=0.3 packaging/train_default_model.sh 14 cpu   (-> 8,088)
#   RESUME=1 SNR_MIN=0.04 SNR_MAX=0.4 packaging/train_default_model.sh 14 cpu   (-> 10,540: version 2)
# (stages 2-4 show the generator more high-SNR particles: after stage 1 the gain over the oracle
# low-pass at SNR 0.1 without CTF was +0.35 dB, after stage 2 +1.39 dB, after stage 4 +2.07 dB).
# Stages 3 and 4 wrote to benchmarks/work/default3 and default4 (with the previous .train.pt
# copied there), and default4 was copied here once it beat version 1 in every benchmark condition.
# On a GPU, one long stage of the last kind is the better recipe.
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
  --phantoms 96 --snr "${SNR_MIN:-0.01}" "${SNR_MAX:-0.3}" --ctf 0.5 --shift 1.5 --box 96 --apix 3.0 \
  --batch-size 16 --validate-every 250 --minutes "$MINUTES" --device "$DEVICE" --seed 1 \
  --out "$OUT" --force ${RESUME:+--resume}
