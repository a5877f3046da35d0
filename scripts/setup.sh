#!/usr/bin/env bash
# Installs everything redrive needs on a fresh machine: system packages, then a virtual
# environment in .venv with torch and redrive (editable). Safe to run again: it only does
# the work that is missing, and reinstalls the Python side when pyproject.toml changed.
set -euo pipefail
cd "$(dirname "$0")/.."

# System libraries: open3d loads libusb-1.0 and libgomp; the CPU kernels compile with g++.
missing=()
for pkg in libusb-1.0-0 libgomp1 g++; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing system packages: ${missing[*]}"
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

python=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$python" -m venv .venv
stamp=.venv/.redrive-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "setup: installing Python packages into .venv (torch is large: this takes a few minutes once)"
  .venv/bin/pip install -q --upgrade pip
  # The CUDA 13.0 build of torch: it runs on the CPU and lets the CUDA kernels compile here.
  .venv/bin/pip install -q "torch==2.14.1"
  .venv/bin/pip install -q -e ".[dev,readers,viewer]"
  touch "$stamp"
fi
