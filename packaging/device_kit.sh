#!/usr/bin/env bash
# Prepare, on this machine, what packaging/device_train.sh needs on a lent GPU machine, which
# reaches nothing outside it and gets the working tree and the folders a call carries (64 MiB in
# all): .device-kit/ (ignored by git), holding
#   whl/   wheels (CPython 3.12, x86-64) of the project's dependencies that the GPU machine's
#          image lacks (its python3 has torch, numpy, pandas, pyarrow, scipy, matplotlib, numba,
#          safetensors, tqdm, einops), at the versions installed in .venv;
#   data/  the training recipe's maps and atomic models from ../shared/data, and its Falcon
#          micrograph's top half (4096 x 2048 px, gzipped: the whole one would leave no room
#          for the corpus; the recipe takes only noise patches from it);
#   corpus.tar.xz  when packaging/fetch_training_models.py has fetched it into
#          benchmarks/work/corpus (90 MB), that corpus (14 MB; gzipped files would take 23 MB
#          and the whole would not fit).
# It says how much would travel, the tracked tree with it, against the 64 MiB a call carries.
# Never in it: TRPV1, apoferritin/ferritin, fei-extended.mrc, or GroEL/GroES (1aon), which the
# benchmarks keep for testing.
# Usage: packaging/device_kit.sh   (then the device tool's run with carry [".device-kit"] and the
# command `bash packaging/device_train.sh`; see that script)
set -euo pipefail
cd "$(dirname "$0")/.."
KIT=.device-kit
DATA=../shared/data
PY=${PY:-.venv/bin/python}
PACKAGES="mrcfile starfile gemmi torch-ctf torch-grid-utils psygnal platformdirs"
rm -rf "$KIT"
mkdir -p "$KIT/whl" "$KIT/data/maps" "$KIT/data/structures" "$KIT/data/micrographs/fei_epu"
pins=$("$PY" - $PACKAGES <<'PYEOF'
import sys
from importlib.metadata import version
print(" ".join(f"{name}=={version(name)}" for name in sys.argv[1:]))
PYEOF
)
# shellcheck disable=SC2086 # one word per requirement
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 --platform manylinux1_x86_64 --platform any -d "$KIT/whl" $pins
cp "$DATA"/maps/betagal_relion_tutorial.mrc "$DATA"/maps/rnapolII_emd1883.mrc "$DATA"/maps/ribosome70S_65px.mrc \
  "$KIT/data/maps/"
cp "$DATA"/structures/5a1a.cif.gz "$DATA"/structures/1WCM.pdb "$KIT/data/structures/"
"$PY" - "$DATA/micrographs/fei_epu/epu2.9_example.mrc" "$KIT/data/micrographs/fei_epu/epu2.9_example.mrc" <<'PYEOF'
import sys
import mrcfile
with mrcfile.open(sys.argv[1], permissive=True) as source:
    data, voxel = source.data[: source.data.shape[0] // 2].copy(), source.voxel_size.copy()
with mrcfile.new(sys.argv[2], overwrite=True) as target:
    target.set_data(data)
    target.voxel_size = voxel
PYEOF
gzip "$KIT/data/micrographs/fei_epu/epu2.9_example.mrc"
if [ -d benchmarks/work/corpus ]; then
  tar -C benchmarks/work -cJf "$KIT/corpus.tar.xz" corpus
fi
du -sh "$KIT"
du -sh "$KIT"/*
tracked=$(git ls-files -z | du -cb --files0-from=- | tail -1 | cut -f1)
kit=$(du -sb "$KIT" | cut -f1)
total=$(( (tracked + kit) / 1048576 ))
echo "the tracked tree and the kit: $total MiB of the 64 MiB a call carries"
[ "$total" -lt 64 ] || { echo "device_kit.sh: too much to carry" >&2; exit 1; }
