#!/usr/bin/env bash
# Build the wheel and the sdist (python -m build), check that both carry resources/ (the bundled
# generator, the demo map, the icon), install each in a fresh venv and smoke-test it from an empty
# folder: resources found inside the installed package, simulate, denoise with the bundled
# generator, export, and the inspector's demo (--screenshot). CI runs it (.ci/run).
#
#   bash packaging/check_dist.sh        (PYTHON: the interpreter that builds, default .venv/bin/python)
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python=${PYTHON:-.venv/bin/python}

"$python" -m pip install --quiet "build>=1"
"$python" -m build --outdir "$work/dist" . >"$work/build.log" 2>&1 || { tail -20 "$work/build.log"; exit 1; }
wheel=$(ls "$work"/dist/gan_viewer-*.whl)
sdist=$(ls "$work"/dist/gan_viewer-*.tar.gz)
"$python" - "$wheel" "$sdist" <<'PY'
import sys, tarfile, zipfile
wheel, sdist = sys.argv[1:]
needed = ["models/default.safetensors", "models/default.json", "demo/betagal_5a1a.mrc", "icons/gan-viewer.png"]
in_wheel = set(zipfile.ZipFile(wheel).namelist())
in_sdist = {n.split("/", 1)[1] for n in tarfile.open(sdist).getnames() if "/" in n}
missing = [f"wheel: gan_viewer/resources/{n}" for n in needed if f"gan_viewer/resources/{n}" not in in_wheel]
missing += [f"sdist: resources/{n}" for n in needed if f"resources/{n}" not in in_sdist]
assert not missing, f"missing from the distributions: {missing}"
assert not any(n.endswith(".train.pt") for n in in_wheel | in_sdist), "a training checkpoint was packaged"
print(f"wheel and sdist carry resources/: {', '.join(needed)}")
PY

for artefact in "$wheel" "$sdist"; do
    kind=$([[ $artefact == *.whl ]] && echo wheel || echo sdist)
    venv="$work/venv-$kind"
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet ${TORCH_INDEX:+--index-url "$TORCH_INDEX"} "${TORCH:-torch==2.13.0}"
    "$venv/bin/python" -m pip install --quiet "$artefact[gui]"
    trial="$work/trial-$kind"
    mkdir "$trial"
    (
        cd "$trial"
        export PATH="$venv/bin:$PATH" QT_QPA_PLATFORM=offscreen GAN_VIEWER_DEMO_DIR="$trial/demo" HOME="$trial"
        unset PYTHONPATH
        gan-viewer --version
        map=$(python -c "from gan_viewer.resources import resource_path as r; print(r('demo/betagal_5a1a.mrc'))")
        case $map in "$venv"/*) ;; *) echo "$kind: resources found outside the installed package: $map" >&2; exit 1;; esac
        gan-viewer simulate --map "$map" --n 8 --snr 0.1 --box 64 --ctf --out sim >/dev/null
        gan-viewer info sim/particles.star | head -3
        gan-viewer denoise sim/particles.star --out recovered.mrcs --device cpu 2>/dev/null | head -1
        gan-viewer export sim/particles.star --keep 1-4 --out kept.star --selection backup_selection.star | head -1
        gan-viewer gui --device cpu --screenshot demo.png 2>/dev/null
        test -s demo.png
    ) || { echo "check_dist.sh: the $kind failed its smoke test" >&2; exit 1; }
    echo "check_dist.sh: $kind $(basename "$artefact") installs and runs outside the checkout"
done
