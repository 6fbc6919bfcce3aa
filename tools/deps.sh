#!/bin/sh
# Make sure the Debian packages lunet builds and runs with are installed.
# As root: install what is missing.  Otherwise: print the exact command
# and fail, so nothing half-builds.
#   sh tools/deps.sh         what make, make test and make demo need
#   sh tools/deps.sh fuzz    and clang with libFuzzer's runtime (make fuzz)
set -e
PKGS="pkg-config liblua5.4-dev lua5.4 lua-unit libopenblas-dev libreadline-dev gnuplot-nox"
PKGS="$PKGS lua-argparse"      # lunet.cli: the examples' command lines
if [ "$1" = fuzz ]; then PKGS="$PKGS clang libclang-rt-dev"; fi
missing=""
for p in $PKGS; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing="$missing $p"
  fi
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ]; then
  echo "lunet: installing missing packages:$missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null || apt-get update
  apt-get install -y -q $missing
else
  echo "lunet: missing Debian packages. Install them with:" >&2
  echo "  sudo apt-get install -y$missing" >&2
  exit 1
fi
