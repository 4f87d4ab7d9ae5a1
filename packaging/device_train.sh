#!/usr/bin/env bash
# Train the default generator's recipe (packaging/train_default_model.sh) on a lent GPU machine,
# with the scenes simulated by worker processes (gan-viewer train --workers). Runs there, from
# the repository root, after packaging/device_kit.sh prepared .device-kit/ here; from the device
# tool, as one call:
#   run(command="OUT=$OUT MINUTES=4 bash packaging/device_train.sh", carry=[".device-kit"], timeout_s=590)
# MINUTES counts from the first step: before it, building the recipe's 346 structures and their
# projectors takes minutes (the whole call with 0.3 min of training: 4 min 18 s on this project's
# 2-core CPU, 4.1 GB peak), and the call must end inside the tool's 10 minutes.
# It installs the kit's wheels into /tmp/site (the machine's python3 has torch and the rest),
# puts the kit's data where the recipe looks (../shared/data), trains for MINUTES on CUDA from
# scratch (WHITENING=0.5 from step 0, the kit's corpus when it has one, 150 assemblies; any of the
# recipe's variables can be set before the command), and writes to $OUT what comes back: the
# generator (default.safetensors, float16, about 8 MB) and its card, its curves and examples,
# and the log. The resumable checkpoint stays there (over the 16 MB a returned file may have).
# Then, here: benchmarks/bench_generator.py general --model THAT.safetensors (and --independent),
# and packaging/finish_model_card.py, before it can become the default.
# PY=... OUT=... SKIP_WHEELS=1 run it elsewhere (SKIP_WHEELS: the packages are installed).
set -euo pipefail
cd "$(dirname "$0")/.."
KIT=.device-kit
PY=${PY:-python3}
OUT=${OUT:?OUT is the folder whose files come back}
MINUTES=${MINUTES:-4}
WORK=${WORK:-/tmp/gan-viewer-train}
[ -d "$KIT/data" ] || { echo "device_train.sh: no $KIT/data (run packaging/device_kit.sh here and carry $KIT)" >&2; exit 2; }
if [ -z "${SKIP_WHEELS:-}" ]; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "$KIT"/whl/*.whl
  export PYTHONPATH="/tmp/site:$PWD${PYTHONPATH:+:$PYTHONPATH}"
fi
# the recipe's data where it looks for it, the micrograph unpacked
mkdir -p "$WORK/bin" ../shared
[ -e ../shared/data ] || ln -s "$PWD/$KIT/data" ../shared/data
for f in "$KIT"/data/micrographs/*/*.mrc.gz; do [ -e "${f%.gz}" ] || gunzip -k "$f"; done
# `gan-viewer` and `python` as the recipe calls them
# (scripts, not links: a link to a virtual environment's python runs without its packages)
printf '#!/bin/sh\nexec "%s" -m gan_viewer "$@"\n' "$(command -v "$PY")" > "$WORK/bin/gan-viewer"
printf '#!/bin/sh\nexec "%s" "$@"\n' "$(command -v "$PY")" > "$WORK/bin/python"
chmod +x "$WORK/bin/gan-viewer" "$WORK/bin/python"
export PATH="$WORK/bin:$PATH" PYTHONUNBUFFERED=1
DEVICE=${DEVICE:-cuda}
CORES=$(nproc)
export WORKERS=${WORKERS:-$(( CORES > 2 ? CORES - 2 : 1 ))} WHITENING=${WHITENING:-0.5} ASSEMBLIES=${ASSEMBLIES:-150}
if [ -f "$KIT/corpus.tar.xz" ] && [ -z "${CORPUS:-}" ]; then
  [ -d "$WORK/corpus" ] || tar -C "$WORK" -xJf "$KIT/corpus.tar.xz"
  export CORPUS="$WORK/corpus"
fi
mkdir -p "$OUT"
{ command -v nvidia-smi >/dev/null && nvidia-smi -L; echo "workers $WORKERS of $CORES cores, $MINUTES min on $DEVICE"; } \
  | tee "$OUT/train.log"
set +e
bash packaging/train_default_model.sh "$MINUTES" "$DEVICE" "$WORK/default" 2>&1 | tee -a "$OUT/train.log"
status=${PIPESTATUS[0]}
set -e
for f in "$WORK/default.safetensors" "$WORK/default.json" "$WORK/default_curves.png" "$WORK/default_examples.png"; do
  [ -e "$f" ] && cp "$f" "$OUT/"
done
exit "$status"
