#!/usr/bin/env bash
# Install the Debian packages FSMDE Studio needs (open3d's libusb, Xvfb + Qt xcb libs)
# when running as root and they are missing. Without root, print what is missing.
set -u
PKGS="libusb-1.0-0 xvfb xauth libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0 \
libxcb-render-util0 libxcb-shape0 libxcb-xinerama0 libxcb-xkb1 libxkbcommon-x11-0 libxcb-cursor0 \
libgl1 libegl1 libglib2.0-0 libfontconfig1 libdbus-1-3"
command -v dpkg-query >/dev/null 2>&1 || exit 0
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = "0" ]; then
  echo "Installing system packages:$missing"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing) >/dev/null 2>&1 \
    || { echo "apt-get install failed for:$missing" >&2; exit 1; }
else
  echo "Missing system packages (run as root or install them):$missing" >&2
fi
