#!/usr/bin/env bash
# Build gan-viewer as a one-folder Linux app with PyInstaller (CPU torch), then start it from the
# built folder (--screenshot of the demo) to prove it runs. Not part of CI (it takes minutes).
#
#   bash packaging/build_app.sh            -> dist/gan-viewer/ (run dist/gan-viewer/gan-viewer)
#
# Install: copy dist/gan-viewer to /opt/gan-viewer, then
#   install -Dm644 /opt/gan-viewer/gan-viewer.desktop ~/.local/share/applications/gan-viewer.desktop
#   install -Dm644 /opt/gan-viewer/gan-viewer.png ~/.local/share/icons/hicolor/256x256/apps/gan-viewer.png
# TORCH / TORCH_INDEX as in the Makefile: off this project's machines, PyPI's Linux torch is the
# CUDA build, so give TORCH_INDEX=https://download.pytorch.org/whl/cpu for the CPU one.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build/app}
dist=${DIST_DIR:-dist}
start=$(date +%s)

sh packaging/system-packages.sh run  # Qt's X libraries, so that the xcb plugin's dependencies are found
python3 -m venv "$build/venv"
pip=("$build/venv/bin/python" -m pip install --quiet)
"${pip[@]}" ${TORCH_INDEX:+--index-url "$TORCH_INDEX"} "${TORCH:-torch==2.13.0}"
if ! "$build/venv/bin/python" -c "import sys, torch; sys.exit(torch.version.cuda is not None)"; then
    echo "build_app.sh: error: $build/venv has a CUDA build of torch; the app bundles the CPU build" \
         "(set TORCH_INDEX to PyTorch's CPU index)" >&2
    exit 2
fi
"${pip[@]}" ".[gui]" "pyinstaller>=6"
# offscreen: PyInstaller imports the GUI's modules to analyse them, and there may be no display
QT_QPA_PLATFORM=offscreen "$build/venv/bin/pyinstaller" --noconfirm --clean --log-level WARN --distpath "$dist" --workpath "$build/work" \
    packaging/gan-viewer.spec
app="$dist/gan-viewer"
install -m644 packaging/gan-viewer.desktop resources/icons/gan-viewer.png "$app/"
if command -v desktop-file-validate >/dev/null; then desktop-file-validate "$app/gan-viewer.desktop"; fi
built=$(date +%s)

# from the built folder, with nothing of the checkout on the path: the demo (bundled map) and the generator
demo=$(mktemp -d)
exe="$(cd "$app" && pwd)/gan-viewer"
(cd "$demo" && env -i HOME="$demo" PATH=/usr/bin:/bin QT_QPA_PLATFORM=offscreen GAN_VIEWER_DEMO_DIR="$demo/demo" \
    "$exe" gui --device cpu --screenshot "$demo/screenshot.png")
cp "$demo/screenshot.png" "$build/screenshot.png"
"$app/gan-viewer" --version
echo "app: $app, $(du -sh "$app" | cut -f1) ($(du -sm "$app" | cut -f1) MB), built in $((built - start)) s" \
     "(venv, PyInstaller and all); screenshot from the built folder: $build/screenshot.png"
