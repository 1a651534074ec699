#!/usr/bin/env bash
# Build the FetalViewer onedir bundle (dist/FetalViewer) from fetalviewer.spec and smoke-test it.
# CPU build (default, smallest): install CPU-only torch first, e.g.
#   pip install torch torchvision --index-url https://download.pytorch.org/whl/cpu
# CUDA build: install the CUDA torch wheels instead (plain 'pip install torch torchvision').
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
"$PYTHON" -m pip install -q -e ".[package]"
start=$(date +%s)
"$PYTHON" -m PyInstaller --noconfirm --clean --log-level WARN fetalviewer.spec
end=$(date +%s)
echo "build time: $((end - start)) s; bundle size: $(du -sh dist/FetalViewer | cut -f1)"
# Smoke test from another working directory, with no source tree on the path.
(cd "$(mktemp -d)" && env -u PYTHONPATH QT_QPA_PLATFORM=offscreen "$OLDPWD/dist/FetalViewer/FetalViewer-debug" --self-test)
