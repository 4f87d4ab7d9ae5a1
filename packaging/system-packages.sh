#!/bin/sh
# The Debian/Ubuntu packages gan-viewer needs outside Python; the Makefile runs this first.
#
#   sh packaging/system-packages.sh run    Qt's xcb platform (the window): PyQt6's wheel bundles Qt,
#                                          not these X libraries (libxcb-icccm4, -keysyms1, -cursor0...)
#   sh packaging/system-packages.sh test   Qt offscreen, and RELION (the tests use it as the client)
#
# Only missing packages are touched. As root they are installed (apt-get); as a user one line names
# them: `make run` stops there (no window without them), `make test` goes on (RELION's tests skip).
# Without dpkg-query (not Debian/Ubuntu) nothing is checked. Ubuntu 24.04's "t64" names count too.
set -eu

mode=${1:-}
base="libegl1 libgl1 libfontconfig1 libxkbcommon0 libdbus-1-3 libglib2.0-0"
xcb="libxcb-icccm4 libxcb-keysyms1 libxcb-cursor0 libxcb-image0 libxcb-randr0 libxcb-render-util0
     libxcb-shape0 libxcb-xkb1 libxkbcommon-x11-0"
case $mode in
    run) wanted="$base $xcb" ;;
    test) wanted="$base relion" ;;
    *) echo "usage: sh packaging/system-packages.sh run|test" >&2; exit 2 ;;
esac
python3 -c "import ensurepip" 2>/dev/null || wanted="python3-venv $wanted"  # Debian splits venv off

command -v dpkg-query >/dev/null 2>&1 || exit 0

installed() {
    dpkg-query -W -f='${Status}\n' "$1" "$1t64" 2>/dev/null | grep -q "install ok installed"
}

missing=""
for package in $wanted; do
    installed "$package" || missing="$missing $package"
done
[ -n "$missing" ] || exit 0

if [ "$(id -u)" = 0 ]; then
    echo "installing system packages:$missing" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086 # one word per package
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
    exit 0
fi

echo "gan-viewer needs these system packages, missing here ($mode):$missing - install them with: sudo apt-get install -y$missing" >&2
[ "$mode" = test ] || exit 1
