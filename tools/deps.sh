#!/bin/sh
# Make sure the Debian packages lunet builds and runs with are installed.
# As root: install what is missing.  Otherwise: print the exact command
# and fail, so nothing half-builds.
#   sh tools/deps.sh         what make, make test and make demo need
#   sh tools/deps.sh fuzz    and clang with libFuzzer's runtime (make fuzz)
#   sh tools/deps.sh bench   what make bench compares against (PyTorch)
set -e
PKGS="pkg-config liblua5.4-dev lua5.4 lua-unit libopenblas-dev libreadline-dev gnuplot-nox"
PKGS="$PKGS lua-argparse"      # lunet.cli: the examples' command lines
if [ "$1" = fuzz ]; then PKGS="$PKGS clang libclang-rt-dev"; fi
# Open MPI: mpicc builds build/lunet/mpi.so, mpirun runs lunet.distributed.
# Installed like the rest as root; otherwise only named, since everything
# else builds and passes without it.
OPTIONAL="libopenmpi-dev openmpi-bin"
WHY="for lunet.distributed across processes (optional)"
if [ "$1" = bench ]; then      # optional the same way: the bench runs without it
  PKGS=""
  OPTIONAL="python3-torch"
  WHY="for make bench to compare against PyTorch (optional)"
fi
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
missing=""
for p in $PKGS; do
  if ! installed "$p"; then
    missing="$missing $p"
  fi
done
optional=""
for p in $OPTIONAL; do installed "$p" || optional="$optional $p"; done
[ -z "$missing$optional" ] && exit 0
if [ "$(id -u)" = 0 ]; then
  echo "lunet: installing missing packages:$missing$optional"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null || apt-get update
  apt-get install -y -q $missing $optional
else
  if [ -n "$optional" ]; then
    echo "lunet: $WHY:" >&2
    echo "  sudo apt-get install -y$optional" >&2
  fi
  [ -z "$missing" ] && exit 0
  echo "lunet: missing Debian packages. Install them with:" >&2
  echo "  sudo apt-get install -y$missing" >&2
  exit 1
fi
